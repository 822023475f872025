/**
 * The embedded store's ChainReader (chain-reader.port.ts): one read-only connection to the data
 * dir's database, opened by the infrastructure in the verifying thread and again in each worker
 * thread. Hot-tier ranges go through the fast path (SqliteChainReader: records re-hashed and
 * column-checked in bytes, handed on as CheckedRuns); a range with records in the warm tier is read
 * through the tiered store on the same connection. `snapshot` is one read transaction, so a chain's
 * head and the rows read with it are one state of a store that may be growing.
 */
import type { ChainHead, ChainRow, CheckedRun } from '@app/ledger';
import type { ChainReader } from '../chain-reader.port';
import type { FieldProtection } from '../field-protection.port';
import { SqliteChainReader, openVerificationConnection } from './sqlite-chain-reader';
import type { VerificationPath } from './native-chain-check';
import type { SqliteDb } from './sqlite-database';
import type { TieredSqliteEventStore } from './sqlite-tiered-event-store';

/**
 * Rows per page of the fast path: small pages keep a page's rows short-lived, so the young
 * generation's scavenges find little alive (5,000-row pages spent about a sixth of the CPU in GC).
 */
const FAST_PAGE_ROWS = 500;
/** Rows per page of the native path: the page is one blob of 88 bytes a row, no object per row. */
const NATIVE_PAGE_ROWS = 2000;
/** Rows per page of the tiered store (warm ranges). */
const STORE_PAGE_ROWS = 5000;

export class SqliteVerificationReader implements ChainReader {
  private readonly fast: SqliteChainReader;
  private tiered: TieredSqliteEventStore | null = null;

  constructor(
    private readonly db: SqliteDb,
    private readonly protection: FieldProtection,
  ) {
    this.fast = new SqliteChainReader(db, protection);
  }

  /** A reader over its own read-only connection to the database of a data dir (memory-mapped: openVerificationConnection). */
  static open(dataDir: string, protection: FieldProtection): SqliteVerificationReader {
    return new SqliteVerificationReader(openVerificationConnection(dataDir), protection);
  }

  async snapshot<T>(read: () => Promise<T>): Promise<T> {
    if (this.db.inTransaction) return read();
    this.db.exec('BEGIN');
    try {
      return await read();
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  /** Which path verification takes (native extension or JavaScript, and why). */
  get path(): VerificationPath {
    return this.fast.path;
  }

  async head(chain: string): Promise<ChainHead | null> {
    return this.fast.head(chain);
  }

  async *readChainRuns(chain: string, fromSeq: number, toSeq?: number): AsyncIterable<(ChainRow | CheckedRun)[]> {
    if (!this.fast.hasWarmRecords(chain, fromSeq, toSeq ?? Number.MAX_SAFE_INTEGER)) {
      yield* this.fast.readChainRuns(chain, fromSeq, toSeq, this.fast.path.native ? NATIVE_PAGE_ROWS : FAST_PAGE_ROWS);
      return;
    }
    // Loaded on the first warm range only: the event store's module graph (the core library with its
    // Nest modules, rxjs, ajv, zod: about 500 modules, a quarter of a CPU-second) is what a verification
    // worker thread would otherwise load at start for nothing.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { TieredSqliteEventStore: Tiered } = require('./sqlite-tiered-event-store') as typeof import('./sqlite-tiered-event-store');
    this.tiered ??= new Tiered(this.db, this.protection);
    yield* this.tiered.readChain(chain, fromSeq, toSeq, STORE_PAGE_ROWS);
  }

  async close(): Promise<void> {
    this.fast.close();
  }
}
