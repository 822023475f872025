/**
 * The ChainReader port: what verification reads a store's chains through (IntegrityService, its
 * worker threads, `auditctl verify` and `restore`), so the verifier never opens a database itself.
 * Bound once per infrastructure (CHAIN_READERS): the embedded store's reader of the data dir
 * (SqliteVerificationReader, opened again in each worker thread), or any EventStore read through
 * its own `readChain` (eventStoreChainReaders: the Elasticsearch store, in-process).
 */
import type { ChainHead, ChainRow, CheckedRun } from '@app/ledger';

/** Reads records of chains in seq order, over one connection or client of its own. */
export interface ChainReader {
  /**
   * Runs `read` over one consistent view of the store when the reader has one (`snapshots`: the
   * embedded store's read transaction), so a head and the rows read with it agree while appends
   * go on; otherwise simply runs it.
   */
  snapshot<T>(read: () => Promise<T>): Promise<T>;
  /** The recorded head of a chain, or null. */
  head(chain: string): Promise<ChainHead | null>;
  /**
   * The chain's rows with seq in [fromSeq, toSeq] in seq order, page by page (the reader picks the
   * page size). A CheckedRun stands for consecutive rows the reader already re-hashed, linked and
   * column-checked (the verifier accepts it in one step); every other row comes as a ChainRow with
   * its column check done (`columnMismatch`), as EventStore.readChain gives it.
   */
  readChainRuns(chain: string, fromSeq: number, toSeq?: number): AsyncIterable<(ChainRow | CheckedRun)[]>;
  close(): Promise<void>;
}

/**
 * How a worker thread opens its own reader of the same store: functions cannot be posted to a
 * thread, so the infrastructure names a compiled module exporting ChainReaderModule and plain
 * options for it.
 */
export interface ChainReaderWorkerSource {
  /** Absolute path of a compiled module exporting ChainReaderModule. */
  module: string;
  options: Record<string, string | undefined>;
}

/** What the module a ChainReaderWorkerSource names exports. */
export interface ChainReaderModule {
  openChainReader(options: Record<string, string | undefined>): ChainReader;
}

/** Where verification gets its readers (bound by each infrastructure as CHAIN_READERS). */
export interface ChainReaderSource {
  /** A reader in this thread; the caller closes it. */
  open(): ChainReader;
  /**
   * How worker threads open readers of their own (ranges verified on all cores), or null when the
   * store is only read in this thread (a cluster reached through this process's client).
   */
  readonly worker: ChainReaderWorkerSource | null;
  /** Whether `snapshot` gives one consistent view: a range at a chain's tail then reads the head inside it. */
  readonly snapshots: boolean;
  /**
   * How its readers check records, for an operator (`auditctl verify`, the integrity log line): the
   * embedded store's native extension or its JavaScript fast path (and why), or the store's own readChain.
   */
  path(): string;
}

/** The reader a worker source describes (in the thread that needs it). */
export function loadChainReader(source: ChainReaderWorkerSource): ChainReader {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(source.module) as Partial<ChainReaderModule>;
  if (typeof loaded.openChainReader !== 'function') throw new Error(`${source.module} does not export openChainReader(options)`);
  return loaded.openChainReader(source.options);
}

/** Nest token of the ChainReaderSource the infrastructure binds. */
export const CHAIN_READERS = Symbol('CHAIN_READERS');
