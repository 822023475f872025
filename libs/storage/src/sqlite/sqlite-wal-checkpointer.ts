/**
 * Background WAL checkpoints for the embedded store (WAL_CHECKPOINT_INTERVAL_MS > 0; off by default).
 *
 * In WAL mode every commit appends the pages it dirtied to the WAL; a checkpoint copies them back
 * into the database file and fsyncs it. Left to SQLite, the commit that crosses the threshold runs
 * the checkpoint itself, so one group commit in every few dozen stalls for the whole copy (tens to
 * hundreds of milliseconds with random index keys) and every request in it waits. Here a worker
 * thread with its own connection runs a PASSIVE checkpoint on a timer instead: it never blocks a
 * writer or a reader, it copies what no reader still needs, and the next commit restarts the WAL
 * from its beginning once everything was copied. Committing connections keep SQLite's own
 * checkpoint only as a backstop (WAL_BACKSTOP_PAGES), for when this thread cannot keep up or died.
 *
 * Durability does not change: a commit still returns only after its WAL frames are fsync'd.
 */
import * as fs from 'node:fs';
import { compiledWorkerFile } from '../compiled-worker';
import { Worker } from 'node:worker_threads';

export interface WalCheckpointerOptions {
  dataDir: string;
  /** Time between two checkpoints (ms). */
  intervalMs: number;
}

/** What the worker reports after each checkpoint that had something to copy. */
export interface WalCheckpointReport {
  /** Frames in the WAL when the checkpoint ran, and how many of them are now in the database file. */
  walFrames: number;
  checkpointedFrames: number;
  seconds: number;
}

export type WalCheckpointerRequest = { type: 'stop' };
export type WalCheckpointerReply = { type: 'ready' } | { type: 'checkpoint'; report: WalCheckpointReport } | { type: 'error'; code: string } | { type: 'stopped' };

/** The compiled worker entry (compiled-worker.ts). */
export function walCheckpointWorkerFile(): string {
  return compiledWorkerFile(__dirname, 'sqlite-wal-checkpoint-worker.js');
}

export class SqliteWalCheckpointer {
  private worker: Worker | null = null;
  private stopped = false;

  constructor(
    private readonly options: WalCheckpointerOptions,
    private readonly observe: {
      checkpoint?: (report: WalCheckpointReport) => void;
      /** A checkpoint failed (the code only, e.g. SQLITE_IOERR); the next tick tries again. */
      error?: (code: string) => void;
    } = {},
  ) {}

  /** Whether the compiled worker is there (the service runs from dist; tests need `npm run build` first). */
  static available(): boolean {
    return fs.existsSync(walCheckpointWorkerFile());
  }

  /** Starts the worker thread; it does not keep the process alive. */
  start(): void {
    if (this.worker || this.stopped) return;
    const worker = new Worker(walCheckpointWorkerFile(), { workerData: this.options });
    worker.unref();
    worker.on('message', (msg: WalCheckpointerReply) => {
      if (msg.type === 'checkpoint') this.observe.checkpoint?.(msg.report);
      else if (msg.type === 'error') this.observe.error?.(msg.code);
    });
    // A worker that fails leaves SQLite's backstop checkpoints in charge; nothing is lost.
    worker.on('error', (err) => this.observe.error?.(err.name));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
    });
    this.worker = worker;
  }

  /** Stops the timer and closes the worker's connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve());
      worker.postMessage({ type: 'stop' } satisfies WalCheckpointerRequest);
    });
  }
}
