/** Shared helpers of the benchmark scripts: starting the compiled service, chaining records, percentiles, formatting. */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent, chainForEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import type { ChainedRecord } from '@app/storage';
import type { ApiClient } from '../apps/auditctl/src/api-client';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export function benchDataDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `audit-bench-${name}-`));
  return dir;
}

/**
 * Starts the compiled service in a child process. BENCH_SERVICE_NODE_ARGS (space-separated) is passed
 * to its node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the service under the bench's load;
 * BENCH_SERVICE_LOG=<file> keeps its log lines.
 */
export function startServiceProcess(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const child = spawn(process.execPath, [...nodeArgs, path.join(REPO_ROOT, 'dist', 'apps', 'api', 'src', 'main.js')], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // BENCH_SERVICE_LOG=<file>: the service's log lines (JSON, no PHI) are appended there too.
  const logFile = process.env.BENCH_SERVICE_LOG;
  if (logFile) child.stdout!.on('data', (d: Buffer) => fs.appendFileSync(logFile, d));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"listenUrl":"([^"]+)"/.exec(buf);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
}

/** Each chain's last record as a bench chains them (seq, hash), by chain name. */
export type ChainHeads = Map<string, { seq: number; hash: Buffer }>;

/**
 * The next record of the event's chain, as the chain writer makes it (canonical JSON, chain of the
 * event among `shards`, seq and hash after the chain's head in `heads`, which it moves).
 */
export function chainRecord(heads: ChainHeads, event: AccessEvent, receivedAt: string, shards = 1): ChainedRecord {
  const json = canonicalize(event);
  const chain = chainForEvent(event, shards);
  const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
  const seq = head.seq + 1;
  const hash = recordHash(head.hash, chain, seq, receivedAt, json);
  heads.set(chain, { seq, hash });
  return { chain, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function machine(): string {
  return `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}`;
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux); NaN elsewhere. The
 * benches divide it by the events ingested: on a shared machine CPU per event is the figure that
 * does not move with the other load, where events/s does.
 */
export function processCpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100;

/**
 * CPU time (user + system, ms) of a process's main thread (the event loop: HTTP, validation,
 * chaining) so far; the rest of processCpuMs is its other threads (the writer thread, the garbage
 * collector's helpers, libuv's pool). NaN where /proc is not there.
 */
export function mainThreadCpuMs(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * CPU time (user + system, ms) so far of a process's threads named `name` (/proc/<pid>/task/<tid>/comm;
 * the embedded writer thread names itself `audit-writer`), summed; NaN when none is found or /proc
 * is not there. Sample it before and after a run: a thread that started or stopped in between is
 * counted from its start or up to its end only.
 */
export function namedThreadsCpuMs(pid: number | undefined, name: string): number {
  try {
    let total = 0;
    let found = false;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== name) continue;
        const fields = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
        total += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
        found = true;
      } catch {
        /* the thread ended meanwhile */
      }
    }
    return found ? total : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Closed loop: `concurrency` clients each post the next body as soon as their previous one is
 * answered. A request that fails on the connection (not on an HTTP status) is sent again, at most
 * 3 times (ingestion is idempotent on event id); `retries` counts them.
 */
export async function closedLoop(client: Pick<ApiClient, 'request'>, bodies: string[], concurrency: number) {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  let retries = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const t0 = performance.now();
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await client.request('POST', '/v1/events', body);
            if (res.status !== 202) failures++;
            break;
          } catch (error) {
            if (attempt >= 3) throw error;
            retries++;
          }
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b), failures, retries };
}
