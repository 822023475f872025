/**
 * The writer thread of the embedded store (WRITER_THREAD=true): runs the append transaction on a
 * worker thread with its own SQLite connection (sqlite-append-worker.ts), so sealing, inserts and
 * the fsync'd commit no longer hold the event loop. `append` resolves only after the worker's
 * commit returned; a failed or lost worker rejects with StoreUnavailableError (503 upstream; nothing
 * is acknowledged that is not known to be on disk) and a new worker is started for the next append.
 * Other writers on the main connection contend for SQLite's one write lock through busy timeouts.
 */
import * as fs from 'node:fs';
import { compiledWorkerFile } from '../compiled-worker';
import { Worker } from 'node:worker_threads';
import type { AccessEvent } from '@app/core';
import { AppendResult, ChainedRecord, DuplicateIdError, SequenceConflictError, StoreUnavailableError } from '../event-store.port';
import type { FieldProtectionSource } from '../field-protection.port';
import type { AppendFailure } from './sqlite-append';

export interface AppendThreadOptions {
  dataDir: string;
  /** How the thread builds the field protection the main thread's store uses (the same keys). */
  protection: FieldProtectionSource;
  /** A background checkpointer runs (WAL_CHECKPOINT_INTERVAL_MS): the worker's commits only checkpoint as a backstop. */
  backgroundCheckpoints?: boolean;
  /** Rows a hot partition takes before the next one opens (HOT_PARTITION_MAX_ROWS; sqlite-append.ts). */
  maxPartitionRows?: number;
  /**
   * Fault-injection hook of the test suite only (test/faults): while this file exists, the worker
   * holds each group before its transaction, like a stuck fsync. Taken from AUDIT_TEST_WRITER_HOLD_FILE
   * when NODE_ENV=test, never otherwise.
   */
  testHoldFile?: string;
}

/**
 * One record as sent to the worker: chain, seq, receivedAt, eventJson (its hashes go in `hashes`),
 * then the event fields the append transaction reads (sealing, derived columns; null when absent),
 * so the worker does not parse the JSON again: id, occurredAt, category, action, outcome, actor.id,
 * actor.ip, patient.id, query.text, resource.type, resource.id.
 */
export type WireRow = [
  chain: string,
  seq: number,
  receivedAt: string,
  eventJson: string,
  id: string,
  occurredAt: string,
  category: string,
  action: string,
  outcome: string,
  actorId: string,
  actorIp: string | null,
  patientId: string | null,
  queryText: string | null,
  resourceType: string | null,
  resourceId: string | null,
];

function wireRow(r: ChainedRecord): WireRow {
  const e = r.event;
  return [
    r.chain,
    r.seq,
    r.receivedAt,
    r.eventJson,
    e.id,
    e.occurredAt,
    e.category,
    e.action,
    e.outcome,
    e.actor.id,
    e.actor.ip ?? null,
    e.patient?.id ?? null,
    e.query?.text ?? null,
    e.resource?.type ?? null,
    e.resource?.id ?? null,
  ];
}

/**
 * The event as the append transaction reads it (sealing and derived columns) from a wire row: only
 * those fields; the stored record is the row's eventJson, which the sealing checks them against.
 */
export function appendEventOf(w: WireRow): AccessEvent {
  const event = { id: w[4], occurredAt: w[5], category: w[6], action: w[7], outcome: w[8], actor: { id: w[9] } } as AccessEvent;
  if (w[10] !== null) event.actor.ip = w[10];
  if (w[11] !== null) event.patient = { id: w[11] };
  if (w[12] !== null) event.query = { text: w[12] } as AccessEvent['query'];
  if (w[13] !== null) event.resource = w[14] === null ? { type: w[13] } : { type: w[13], id: w[14] };
  return event;
}

/** `hashes`: prevHash then hash of each row, 32 bytes each, in row order (one transferred buffer). */
export type AppendThreadRequest = { type: 'append'; id: number; rows: WireRow[]; hashes: ArrayBuffer } | { type: 'close' };

export const HASH_BYTES = 32;

/** The writer thread's name as `top -H`, `ps -L` and /proc/<pid>/task/<tid>/comm show it (Linux). */
export const WRITER_THREAD_NAME = 'audit-writer';

export type AppendThreadReply =
  | { type: 'ready' }
  | { type: 'failed'; reason: string }
  | { type: 'done'; id: number; failure?: AppendFailure; firstPosition?: number }
  | { type: 'closed' };

interface Pending {
  records: readonly ChainedRecord[];
  resolve: (result: AppendResult | void) => void;
  reject: (err: Error) => void;
}

/** The compiled worker entry (compiled-worker.ts). */
export function appendWorkerFile(): string {
  return compiledWorkerFile(__dirname, 'sqlite-append-worker.js');
}

export class SqliteAppendThread {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closing = false;

  constructor(private readonly options: AppendThreadOptions) {
    if (!fs.existsSync(appendWorkerFile())) throw new Error(`WRITER_THREAD needs the compiled worker ${appendWorkerFile()} (npm run build)`);
  }

  /** Starts the worker now (otherwise on the first append); resolves once it has opened the database. */
  start(): Promise<void> {
    if (this.ready) return this.ready;
    const testHoldFile = process.env.NODE_ENV === 'test' ? process.env.AUDIT_TEST_WRITER_HOLD_FILE : undefined;
    const worker = new Worker(appendWorkerFile(), { workerData: { ...this.options, testHoldFile } satisfies AppendThreadOptions });
    worker.unref(); // kept referenced only while a group is in flight (see append / settle)
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (msg: AppendThreadReply) => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'failed') {
          reject(new StoreUnavailableError(`writer thread could not start: ${msg.reason}`));
          this.forget(worker);
          void worker.terminate();
        } else if (msg.type === 'done') this.settle(msg.id, msg.failure, msg.firstPosition);
      });
      worker.on('error', (err) => reject(new StoreUnavailableError(`writer thread failed: ${err.name}`)));
      worker.on('exit', () => {
        reject(new StoreUnavailableError('writer thread stopped'));
        if (!this.forget(worker)) return;
        // Whether these groups committed is unknown: fail them (503); the writer re-reads its heads
        // and a retried id is answered from the store (idempotency).
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(new StoreUnavailableError('writer thread stopped before answering'));
        }
      });
    });
    this.ready.catch(() => undefined);
    return this.ready;
  }

  /** Resolves once the group is durable, with the position of its first record when the store gave positions. */
  async append(records: readonly ChainedRecord[]): Promise<AppendResult | void> {
    if (this.closing) throw new StoreUnavailableError('store is closed');
    await this.start();
    const worker = this.worker;
    if (!worker) throw new StoreUnavailableError('writer thread stopped');
    // Filled by push, not `new Array(n)`: a holey array goes through the structured clone element by
    // element with its index (V8's sparse form, on both threads); a packed one as one dense run.
    const rows: WireRow[] = [];
    const hashes = new Uint8Array(new ArrayBuffer(records.length * 2 * HASH_BYTES));
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.prevHash.length !== HASH_BYTES || r.hash.length !== HASH_BYTES) throw new StoreUnavailableError('append failed: record hash is not 32 bytes');
      rows.push(wireRow(r));
      hashes.set(r.prevHash, i * 2 * HASH_BYTES);
      hashes.set(r.hash, (i * 2 + 1) * HASH_BYTES);
    }
    const id = this.nextId++;
    return new Promise<AppendResult | void>((resolve, reject) => {
      this.pending.set(id, { records, resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ type: 'append', id, rows, hashes: hashes.buffer } satisfies AppendThreadRequest, [hashes.buffer]);
    });
  }

  /** Lets the worker finish what it was sent, then closes its connection and stops it. */
  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    if (!worker || !this.ready) return;
    try {
      await this.ready;
    } catch {
      return;
    }
    await new Promise<void>((resolve) => {
      worker.ref();
      worker.once('exit', () => resolve());
      worker.postMessage({ type: 'close' } satisfies AppendThreadRequest);
    });
  }

  /** Drops a worker that failed or stopped, so the next append starts a new one. */
  private forget(worker: Worker): boolean {
    if (this.worker !== worker) return false;
    this.worker = null;
    this.ready = null;
    return true;
  }

  private settle(id: number, failure: AppendFailure | undefined, firstPosition: number | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    if (!failure) p.resolve(firstPosition === undefined ? undefined : { firstPosition });
    else if (failure.kind === 'sequence') p.reject(new SequenceConflictError(failure.chain, failure.seq));
    else if (failure.kind === 'duplicate') p.reject(new DuplicateIdError());
    else p.reject(new StoreUnavailableError(`append failed: ${failure.code}`));
  }
}
