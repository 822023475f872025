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

/** What EventStore.append tells of the group it stored (see there). */
export interface AppendResult {
  firstPosition: number;
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

/** A committed event with its global position, as the detection worker tails them. */
export interface PositionedEvent {
  position: number;
  receivedAt: string;
  event: AccessEvent;
}

/** Optional event-time bounds for readSince (epoch ms; from inclusive, to exclusive). */
export interface EventTimeRange {
  fromMs?: number;
  toMs?: number;
}

export interface EventQuery {
  /** A patient id (the embedded store looks up its token: the index never holds ids). */
  patient?: string;
  /** A patient token (`ptk_…`); only stores with `patientTokenLookups` support it. */
  patientToken?: string;
  /** Only records of this chain (the access log is read this way). */
  chain?: string;
  /** Leave out records of this chain (event queries leave out the access log). */
  excludeChain?: string;
  actor?: string;
  /** Matched in any case. */
  action?: string;
  outcome?: string;
  category?: string;
  /**
   * `source.integration`: a store may use it to narrow what it returns (a prefilter); callers check
   * the decoded records themselves (QueryService's residual filter), so a store may also ignore it.
   */
  integration?: string;
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

/**
 * A filtered read of every matching record, oldest first (event time, then position), for
 * streamed reports: the store yields one page at a time and pages by cursor, so a reader never
 * holds more than a page. Filters are ANDed; `actions` / `outcomes` match any of the listed values.
 */
export interface EventStreamQuery {
  /** A patient id, or with `patientToken` a token, as in EventQuery. */
  patient?: string;
  patientToken?: string;
  actor?: string;
  category?: string;
  actions?: readonly string[];
  outcomes?: readonly string[];
  /** Only break-glass records: action `break_glass`, or `details.breakGlass` true (FHIR/ATNA emergency overrides). */
  breakGlass?: boolean;
  /** Leave out this chain (e.g. the access log). */
  excludeChain?: string;
  /** Inclusive lower bound on event time (epoch ms). */
  fromMs?: number;
  /** Exclusive upper bound on event time (epoch ms). */
  toMs?: number;
  /** Records per page (default 1000). */
  pageSize?: number;
}

export interface EventStore {
  /**
   * True when `patientToken` filters work (the store indexes patient tokens, not ids): the embedded
   * store always; Elasticsearch when it has field protection.
   */
  readonly patientTokenLookups: boolean;
  /** Current head (last seq and hash) of every chain. */
  chainHeads(): Promise<Map<string, ChainHead>>;
  /** Already-stored receipts among these ids. */
  findReceipts(ids: readonly string[]): Promise<Map<string, StoredReceipt>>;
  /**
   * Appends chained records atomically and durably (all or none; fsync'd before resolving).
   * Sequence numbers are unique per chain in the store itself: a second writer that raced this
   * one fails with `SequenceConflictError` instead of forking the chain.
   */
  /**
   * Stores a group durably, all or nothing. Resolves with the global position of records[0] when the
   * store gives positions it can tell (records[i] is at firstPosition + i: the embedded store), else
   * with nothing; followers of the CommitFeed then need not read positions back.
   */
  append(records: readonly ChainedRecord[]): Promise<AppendResult | void>;
  /**
   * True when `append` itself refuses a group holding an id the store already has (it throws
   * DuplicateIdError and appends nothing), so the chain writer may append without looking the ids
   * up first and look them up only after such a refusal. Asked before every group; false (the
   * Elasticsearch store): the writer looks the ids up first (findReceipts).
   */
  refusesStoredIds(): boolean;
  getById(id: string): Promise<StoredRecord | null>;
  query(q: EventQuery): Promise<EventPage>;
  /** Names of all chains that hold records. */
  chains(): Promise<string[]>;
  /** Records of one chain in sequence order, in pages, for verification. */
  readChain(chain: string, fromSeq: number, toSeq?: number, pageSize?: number): AsyncIterable<ChainRow[]>;
  /** Number of records in a chain (for progress reporting). */
  countChain(chain: string): Promise<number>;
  /**
   * Every record matching `q`, oldest first, in pages (see EventStreamQuery). The read is a
   * snapshot: records committed after the stream started are not included.
   */
  stream(q: EventStreamQuery): AsyncIterable<StoredRecord[]>;
  /**
   * Committed events after a global position, in position (commit) order, at most `limit`,
   * optionally only those whose event time is in `range`: the embedded store's global insertion
   * position, Elasticsearch's commit position up to its committed watermark. Detection tails the
   * store with it.
   * The access log's own records (ACCESS_LOG_CHAIN) are not returned, nor counted by lastPosition.
   */
  readSince(afterPosition: number, limit: number, range?: EventTimeRange): Promise<PositionedEvent[]>;
  /** Highest committed global position (-1 when empty); pairs with readSince. */
  lastPosition(): Promise<number>;
  /**
   * readSince without the events: positions and ids only, nothing decoded (cheap). The detection
   * worker pairs them with the events the chain writer just committed, and reads the full records
   * only for what it did not see committed.
   */
  readIdsSince(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]>;
  /**
   * Connects and declares what the engine needs (indices, templates, policies). Server-backed stores
   * throw an error naming the setting at fault; the embedded store is ready at once (resolves).
   */
  init(): Promise<void>;
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

/** `append` refused a group because one of its ids is already stored (see refusesStoredIds); nothing was appended. */
export class DuplicateIdError extends Error {
  constructor() {
    super('an event id of the group is already stored');
  }
}

/** The store cannot make records durable right now (disk full, locked, I/O error). */
export class StoreUnavailableError extends Error {}
