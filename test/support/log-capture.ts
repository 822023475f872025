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

/** Appends to a service log file (synchronously: a worker may be stopped right after a test). */
export function appendServiceLog(file: string | undefined, text: string): void {
  if (file) fs.appendFileSync(file, text);
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
