/**
 * Durable context store (port): every accepted version, in the order received. The embedded adapter
 * keeps them in the service's SQLite database (sqlite-context-store.ts), STORE=elasticsearch in an
 * index of the cluster (es-context-store.ts). Records are sealed whole with the data keys, so no
 * patient id, user id or token is readable on disk; names and addresses were tokens before sealing.
 */
import type { RecordSealer } from '@app/storage';
import { ContextVersion } from './context-records';

export interface ContextStore {
  /** Creates what the store needs (tables, index); idempotent. */
  init(): Promise<void>;
  /** Stores the versions in one transaction (all or none), in order; resolves once durable. */
  append(versions: readonly ContextVersion[]): Promise<void>;
  /** Every stored version in the order received, in batches (start-up load of the index). */
  scan(onBatch: (versions: ContextVersion[]) => void, batchSize?: number): Promise<void>;
  /**
   * The versions OTHER instances stored since `scan` or the previous call, each once, in the order
   * received. The embedded store has one writer (the service holding the data dir), so none.
   */
  othersSince(): Promise<ContextVersion[]>;
}

export const CONTEXT_STORE = Symbol('CONTEXT_STORE');

/** Seals and opens whole values with the data keys: storage's RecordSealer port (SealedText). */
export type ContextSealer = RecordSealer;
