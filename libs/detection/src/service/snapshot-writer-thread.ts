/**
 * Writes the detection engine's snapshot off the event loop. The snapshot is tens of MB at high
 * rates; sealing it and committing it (taking SQLite's write lock behind the writer thread, writing
 * and fsyncing the WAL) used to hold the event loop for hundreds of milliseconds, stalling every
 * request and alert in the meantime. Here a worker thread with its own connection and the same data
 * keys seals the JSON (handed over as text pieces, which copy fast) and upserts it into
 * `detection_state`. Writes are done one at a time, in the order they were asked for.
 *
 * Exactly once is unchanged: the worker snapshot is only asked to write a snapshot after the alerts
 * it covers were committed, so a crash before the write leaves an older snapshot, and the replay
 * from it regenerates alerts that the idempotent insert drops.
 */
import * as fs from 'node:fs';
import { compiledWorkerFile } from '@app/storage';
import { Worker } from 'node:worker_threads';

export interface SnapshotWriterOptions {
  dataDir: string;
  dataKeysDir?: string;
  /** A background thread checkpoints the WAL (WAL_CHECKPOINT_INTERVAL_MS): this connection's commits do not. */
  backgroundCheckpoints?: boolean;
}

/**
 * A write comes as zero or more `part` messages (the text pieces in order) and then the `write`
 * message with the last pieces: posting tens of MB in one message copies them on the event loop in
 * one go (~20 ms), in pieces of about a MB the copies take turns with requests.
 */
export type SnapshotWriterRequest =
  | { type: 'part'; id: number; parts: string[] }
  | { type: 'write'; id: number; name: string; position: number; savedAt: string; parts: string[] }
  | { type: 'close' };
export type SnapshotWriterReply = { type: 'ready' } | { type: 'failed'; reason: string } | { type: 'done'; id: number; error?: string } | { type: 'closed' };

/** The compiled worker entry (compiled-worker.ts). */
export function snapshotWriterWorkerFile(): string {
  return compiledWorkerFile(__dirname, 'snapshot-writer-worker.js');
}

/** About how much snapshot text (UTF-16 code units) one message carries to the thread. */
const HANDOVER_CHARS = 1 << 20;

export class SnapshotWriteError extends Error {
  constructor(readonly code: string) {
    super(`writing the detection snapshot failed (${code})`);
  }
}

export class SnapshotWriterThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 0;
  /** Writes whose pieces are still being posted (close() lets them finish first). */
  private readonly handingOver = new Set<Promise<void>>();

  constructor(private readonly options: SnapshotWriterOptions) {}

  static available(): boolean {
    return fs.existsSync(snapshotWriterWorkerFile());
  }

  /**
   * Seals and stores `parts.join('')` as the snapshot `name` at `position`; resolves once durable.
   * The pieces are handed over about HANDOVER_CHARS at a time, one message per turn of the event loop.
   */
  write(name: string, position: number, savedAt: string, parts: string[]): Promise<void> {
    const worker = this.worker ?? this.startWorker();
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
    });
    const handOver = this.handOver(worker, id, name, position, savedAt, parts).finally(() => this.handingOver.delete(handOver));
    this.handingOver.add(handOver);
    return done;
  }

  private async handOver(worker: Worker, id: number, name: string, position: number, savedAt: string, parts: string[]): Promise<void> {
    let start = 0;
    let chars = 0;
    for (let i = 0; i < parts.length; i++) {
      chars += parts[i].length;
      if (chars < HANDOVER_CHARS || i === parts.length - 1) continue;
      worker.postMessage({ type: 'part', id, parts: parts.slice(start, i + 1) } satisfies SnapshotWriterRequest);
      start = i + 1;
      chars = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
      // The thread stopped meanwhile (its pending writes failed): nothing more to send.
      if (this.worker !== worker || !this.pending.has(id)) return;
    }
    worker.postMessage({ type: 'write', id, name, position, savedAt, parts: parts.slice(start) } satisfies SnapshotWriterRequest);
  }

  /** Lets the worker finish the writes it was given, then closes its connection. */
  async close(): Promise<void> {
    await Promise.all([...this.handingOver]);
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.ref();
      worker.once('exit', () => resolve());
      worker.postMessage({ type: 'close' } satisfies SnapshotWriterRequest);
    });
  }

  private startWorker(): Worker {
    const worker = new Worker(snapshotWriterWorkerFile(), { workerData: this.options });
    worker.unref(); // referenced only while a write is pending
    worker.on('message', (msg: SnapshotWriterReply) => {
      if (msg.type === 'done') this.settle(msg.id, msg.error);
      else if (msg.type === 'failed') this.failAll(new SnapshotWriteError(msg.reason));
    });
    worker.on('error', (err) => this.failAll(new SnapshotWriteError(err.name)));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = null;
      this.failAll(new SnapshotWriteError('writer thread stopped'));
    });
    this.worker = worker;
    return worker;
  }

  private settle(id: number, error: string | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    if (error) p.reject(new SnapshotWriteError(error));
    else p.resolve();
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
