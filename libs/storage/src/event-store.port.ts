/**
 * The EventStore port: what the chain writer, the query service and the verifier need from any
 * storage engine. One adapter per engine (embedded SQLite now, Elasticsearch later); business
 * logic never talks to a driver directly.
 */
import { AccessEvent } from '@app/core';
import { ChainHead, ChainRow } from '@app/ledger';

/** A record ready to be stored: chained, hashed, with the canonical event text. */
export interface ChainedRecord {
  chain: string;
  seq: number;
  receivedAt: string;
  event: AccessEvent;
  /** RFC 8785 canonical form of `event`; exactly the bytes the hash covers. */
  eventJson: string;
  prevHash: Buffer;
  hash: Buffer;
}

/** What is already stored for an event id (for idempotent retries). */
export interface StoredReceipt {
  id: string;
  chain: string;
  seq: number;
  hash: Buffer;
  eventJson: string;
}

export interface StoredRecord extends ChainedRecord {
  /** Global insertion position (monotonic across chains). */
  position: number;
}

export interface EventQuery {
  patient?: string;
  actor?: string;
  action?: string;
  outcome?: string;
  category?: string;
  /** Inclusive lower bound on event time (epoch ms). */
  fromMs?: number;
  /** Exclusive upper bound on event time (epoch ms). */
  toMs?: number;
  limit: number;
  /** Opaque position returned by the previous page. */
  after?: { occurredMs: number; position: number };
}

export interface EventPage {
  records: StoredRecord[];
  /** Where the next page starts, or null when this was the last one. */
  next: { occurredMs: number; position: number } | null;
}

export interface EventStore {
  /** Current head (last seq and hash) of every chain. */
  chainHeads(): Promise<Map<string, ChainHead>>;
  /** Already-stored receipts among these ids. */
  findReceipts(ids: readonly string[]): Promise<Map<string, StoredReceipt>>;
  /**
   * Appends chained records atomically and durably (all or none; fsync'd before resolving).
   * Sequence numbers are unique per chain in the store itself: a second writer that raced this
   * one fails with `SequenceConflictError` instead of forking the chain.
   */
  append(records: readonly ChainedRecord[]): Promise<void>;
  getById(id: string): Promise<StoredRecord | null>;
  query(q: EventQuery): Promise<EventPage>;
  /** Names of all chains that hold records. */
  chains(): Promise<string[]>;
  /** Records of one chain in sequence order, in pages, for verification. */
  readChain(chain: string, fromSeq: number, toSeq?: number, pageSize?: number): AsyncIterable<ChainRow[]>;
  /** Number of records in a chain (for progress reporting). */
  countChain(chain: string): Promise<number>;
  /** Whether the store can take writes right now. */
  isReady(): boolean;
  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EVENT_STORE');

/** Another writer already wrote this chain position: the loser must re-read the head. */
export class SequenceConflictError extends Error {
  constructor(readonly chain: string, readonly seq: number) {
    super(`chain ${chain} already has a record at seq ${seq}`);
  }
}

/** The store cannot make records durable right now (disk full, locked, I/O error). */
export class StoreUnavailableError extends Error {}
