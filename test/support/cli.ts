/** Runs the compiled `auditctl` CLI and the compiled service as child processes (as a user would). */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { appendServiceLog, serviceLogFile, trackServiceProcess } from './log-capture';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
/** The build under test: ./dist, or AUDIT_DIST_DIR (a private build, e.g. while others rebuild ./dist). */
const DIST = process.env.AUDIT_DIST_DIR ? path.resolve(process.env.AUDIT_DIST_DIR) : path.join(REPO_ROOT, 'dist');
export const CLI_MAIN = path.join(DIST, 'apps', 'auditctl', 'src', 'main.js');
export const API_MAIN = path.join(DIST, 'apps', 'api', 'src', 'main.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** runCli without blocking the event loop: for commands that talk to a service running in this process. */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    }),
  );
}

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  output: string[];
}

/**
 * Starts `node dist/apps/api/main.js` and resolves once it logs that it listens. Everything it writes
 * also goes to a file of the run, for the whole-suite PHI scan (test/support/phi-log-scan.ts).
 */
export function startService(env: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [API_MAIN], { cwd: REPO_ROOT, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  trackServiceProcess(child.pid, API_MAIN, (cb) => child.once('exit', cb));
  const logFile = serviceLogFile('service-process');
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (d: Buffer) => appendServiceLog(logFile, d.toString()));
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`service did not start:\n${output.join('\n')}`));
    }, 30_000);
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        output.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; listenUrl?: string };
          if (entry.msg === 'listening' && entry.listenUrl) {
            clearTimeout(timer);
            resolve({ child, url: entry.listenUrl, output });
          }
        } catch {
          /* not JSON */
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited with ${code}:\n${output.join('\n')}`));
    });
  });
}

export function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
