/**
 * Runs verification tasks on all cores: a small pool of worker threads (verify-worker.js), each
 * taking the next range as soon as it is free and reading it through a ChainReader of its own
 * (the task's worker source). Falls back to running the same code in-process when one worker is
 * asked for, when the work is small, when the store is only read in this thread, or when there is
 * no compiled worker script (TypeScript test runs). Tasks that cannot change the answer any more (they start after
 * a break already found in their chain) are skipped.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ChainReaderSource } from '@app/storage/chain-reader.port';
import { ExportIndexMismatchError, RowSourceCache, VerifyTask, VerifyTaskResult, runVerifyTask } from './verify-task';
import type { WorkerReply, WorkerRequest } from './verify-worker';

export interface RunnerOptions {
  /** Worker threads; 1 or less runs in-process. */
  workers: number;
  /** Readers of the store in this thread (tasks whose source is `chains`, run in-process). */
  chains?: ChainReaderSource;
  onProgress?: (taskIndex: number, rowsRead: number) => void;
}

const WORKER_SCRIPT = path.join(__dirname, 'verify-worker.js');

/**
 * A larger young generation for verification workers: a range allocates a few short-lived buffers
 * and strings per record, and fewer scavenges cost less CPU per record.
 */
const WORKER_YOUNG_GENERATION_MB = 64;

/** Cores to use by default: all of them. */
export function defaultWorkerCount(): number {
  const available = (os as { availableParallelism?: () => number }).availableParallelism;
  return Math.max(1, available ? available() : os.cpus().length);
}

/** True when worker threads can run the compiled worker script (not under ts-jest). */
export function workersAvailable(): boolean {
  return fs.existsSync(WORKER_SCRIPT);
}

class BreakTracker {
  private readonly lowest = new Map<string, number>();

  note(task: VerifyTask, result: VerifyTaskResult): void {
    if (!result.break) return;
    const c = task.spec.chain;
    const known = this.lowest.get(c);
    if (known === undefined || result.break.seq < known) this.lowest.set(c, result.break.seq);
  }

  /** A task starting after a known break can only find later breaks. */
  pointless(task: VerifyTask): boolean {
    const known = this.lowest.get(task.spec.chain);
    return known !== undefined && task.spec.start.seq > known;
  }
}

/** Results in task order; null for a task skipped because an earlier break made it pointless. */
export async function runVerifyTasks(tasks: readonly VerifyTask[], options: RunnerOptions): Promise<(VerifyTaskResult | null)[]> {
  const canPool = options.workers > 1 && tasks.length > 1 && workersAvailable() && tasks.every((t) => t.source.kind === 'ndjson' || t.source.worker !== null);
  return canPool ? runPooled(tasks, options) : runInProcess(tasks, options);
}

async function runInProcess(tasks: readonly VerifyTask[], options: RunnerOptions): Promise<(VerifyTaskResult | null)[]> {
  const cache = new RowSourceCache(options.chains);
  const breaks = new BreakTracker();
  const results: (VerifyTaskResult | null)[] = [];
  try {
    for (let i = 0; i < tasks.length; i++) {
      if (breaks.pointless(tasks[i])) {
        results.push(null);
        continue;
      }
      const r = await runVerifyTask(tasks[i], cache, (n) => options.onProgress?.(i, n), { yieldBetweenPages: true });
      breaks.note(tasks[i], r);
      results.push(r);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    await cache.close();
  }
  return results;
}

function runPooled(tasks: readonly VerifyTask[], options: RunnerOptions): Promise<(VerifyTaskResult | null)[]> {
  const results: (VerifyTaskResult | null)[] = new Array(tasks.length).fill(null);
  const breaks = new BreakTracker();
  const size = Math.min(options.workers, tasks.length);
  const workers: Worker[] = [];
  let next = 0;
  let running = 0;
  let failed = false;
  return new Promise((resolve, reject) => {
    const finish = (err?: Error) => {
      if (failed) return;
      if (err) failed = true;
      for (const w of workers) {
        w.removeAllListeners();
        void w.terminate();
      }
      if (err) reject(err);
      else resolve(results);
    };
    const dispatch = (w: Worker) => {
      while (next < tasks.length && breaks.pointless(tasks[next])) next++;
      if (next >= tasks.length) {
        if (running === 0) finish();
        return;
      }
      const id = next++;
      running++;
      w.postMessage({ type: 'task', id, task: tasks[id] } satisfies WorkerRequest);
    };
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SCRIPT, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
      workers.push(w);
      w.on('message', (m: WorkerReply) => {
        if (m.type === 'progress') options.onProgress?.(m.id, m.rowsRead);
        else if (m.type === 'result') {
          running--;
          results[m.id] = m.result;
          breaks.note(tasks[m.id], m.result);
          dispatch(w);
        } else {
          finish(m.indexMismatch ? new ExportIndexMismatchError() : new Error(`verification worker failed: ${m.message}`));
        }
      });
      w.on('error', (err) => finish(err instanceof Error ? err : new Error(String(err))));
      w.on('exit', (code) => {
        if (code !== 0) finish(new Error(`verification worker exited with code ${code}`));
      });
    }
    for (const w of workers) dispatch(w);
  });
}
