/**
 * Durable context store (port): every accepted version, in the order received. The embedded adapter
 * keeps them in the service's SQLite database (sqlite-context-store.ts), STORE=elasticsearch in an
 * index of the cluster (es-context-store.ts). Records are sealed whole with the data keys, so no
 * patient id, user id or token is readable on disk; names and addresses were tokens before sealing.
 */
import { ContextVersion } from './context-records';

export interface ContextStore {
  /** Creates what the store needs (tables, index); idempotent. */
  init(): Promise<void>;
  /** Stores the versions in one transaction (all or none), in order; resolves once durable. */
  append(versions: readonly ContextVersion[]): Promise<void>;
  /** Every stored version in the order received, in batches (start-up load of the index). */
  scan(onBatch: (versions: ContextVersion[]) => void, batchSize?: number): Promise<void>;
  /**
   * Scale-out stores only (absent on the embedded one, which has one writer): the versions OTHER
   * instances stored since `scan` or the previous call, each once, in the order received.
   */
  othersSince?(): Promise<ContextVersion[]>;
}

export const CONTEXT_STORE = Symbol('CONTEXT_STORE');

/** Seals and opens whole values with the data keys (SealedText). */
export interface ContextSealer {
  seal(text: string): Buffer;
  open(stored: Buffer | string): string;
}
