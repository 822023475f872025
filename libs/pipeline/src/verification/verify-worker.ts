/**
 * Worker-thread entry of parallel verification (compiled to verify-worker.js and started by
 * VerificationRunner): runs the tasks it is posted one at a time, keeping its chain reader (opened
 * from the task's worker source) across tasks, and posts progress and each task's verdict back.
 */
import { parentPort } from 'node:worker_threads';
import { RowSourceCache, VerifyTask, runVerifyTask } from './verify-task';

export type WorkerRequest = { type: 'task'; id: number; task: VerifyTask } | { type: 'close' };
export type WorkerReply =
  | { type: 'progress'; id: number; rowsRead: number }
  | { type: 'result'; id: number; result: import('./verify-task').VerifyTaskResult }
  | { type: 'error'; id: number; message: string; indexMismatch: boolean };

if (parentPort) {
  const port = parentPort;
  const cache = new RowSourceCache();
  port.on('message', (msg: WorkerRequest) => {
    if (msg.type === 'close') {
      void cache.close().finally(() => port.close());
      return;
    }
    const { id, task } = msg;
    runVerifyTask(task, cache, (rowsRead) => port.postMessage({ type: 'progress', id, rowsRead } satisfies WorkerReply))
      .then((result) => port.postMessage({ type: 'result', id, result } satisfies WorkerReply))
      .catch((err: unknown) =>
        port.postMessage({
          type: 'error',
          id,
          message: err instanceof Error ? err.message : String(err),
          indexMismatch: err instanceof Error && err.name === 'ExportIndexMismatchError',
        } satisfies WorkerReply),
      );
  });
}
