/**
 * Where test helpers put what the service logs, and the identifiers tests post: files under the
 * jest run directory (globalSetup), scanned together by globalTeardown (phi-log-scan.ts). Without a
 * run directory (jest started without the global setup) both are no-ops.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MarkerKind, isScannable, logsDir, markersDir, runDir } from './phi-log-scan';

let logCounter = 0;

/** A new, empty log file for one service instance (`label` names it), or undefined without a run directory. */
export function serviceLogFile(label: string): string | undefined {
  const dir = runDir();
  if (!dir) return undefined;
  fs.mkdirSync(logsDir(dir), { recursive: true });
  const file = path.join(logsDir(dir), `${label.replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}-${++logCounter}.log`);
  fs.writeFileSync(file, '');
  return file;
}

/**
 * Appends to a service log file (synchronously: a worker may be stopped right after a test). A
 * child still writing after globalTeardown removed the run directory (it should have been stopped:
 * see trackServiceProcess) must not crash jest with ENOENT: its late output is dropped.
 */
export function appendServiceLog(file: string | undefined, text: string): void {
  if (!file) return;
  try {
    fs.appendFileSync(file, text);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Where spawned service processes are listed while they run (globalTeardown stops what is left). */
export function serviceProcessesDir(dir: string): string {
  return path.join(dir, 'service-processes');
}

/**
 * Lists a spawned service process in the run directory until it exits, so globalTeardown can stop
 * one a test left running (e.g. a service that never became ready), instead of it outliving the run.
 */
export function trackServiceProcess(pid: number | undefined, command: string, onExit: (cb: () => void) => void): void {
  const dir = runDir();
  if (!dir || pid === undefined) return;
  fs.mkdirSync(serviceProcessesDir(dir), { recursive: true });
  const file = path.join(serviceProcessesDir(dir), String(pid));
  fs.writeFileSync(file, command);
  onExit(() => fs.rmSync(file, { force: true }));
}

const registered = new Set<string>();

function currentTestFile(): string | undefined {
  const state = (globalThis as { expect?: { getState?: () => { testPath?: string } } }).expect?.getState?.();
  return state?.testPath ? path.relative(path.resolve(__dirname, '..', '..'), state.testPath) : undefined;
}

/** Registers identifiers a test posts (patient ids, user ids, IPs): no service log may contain them. */
export function registerPhiMarkers(kind: MarkerKind, values: ReadonlyArray<string | undefined>): void {
  const dir = runDir();
  if (!dir) return;
  const fresh = values.filter((v): v is string => typeof v === 'string' && isScannable(kind, v) && !registered.has(v));
  if (fresh.length === 0) return;
  const plantedBy = currentTestFile();
  for (const v of fresh) registered.add(v);
  fs.mkdirSync(markersDir(dir), { recursive: true });
  fs.appendFileSync(path.join(markersDir(dir), `${process.pid}.jsonl`), fresh.map((value) => JSON.stringify({ kind, value, plantedBy }) + '\n').join(''));
}
