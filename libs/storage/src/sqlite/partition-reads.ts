/**
 * The read side of the partitioned hot store (event-partitions.ts): which partition tables a read
 * must consult, and the prepared statements reads reuse.
 *
 * - A read with a bound on occurred time (`from`/`to`, a page cursor) or on position (a tail after a
 *   position) names only the partitions whose rows can meet it: a UNION ALL over those tables in
 *   place of the `events` view (SQLite pushes the WHERE into each arm and merges the arms' index
 *   orders exactly as it does over the view). Without a bound, or when every partition may hold
 *   matches, the read keeps the view.
 * - The open partition is always read (appends land in it while we read). A closed partition is read
 *   when its occurred-time range meets the read's and it holds a position past the read's. Those
 *   ranges come from the partition's own indexes (three seeks), once per connection: a closed
 *   partition takes no more rows (retention only removes some, which narrows the range, so the kept
 *   one still covers it). The catalog's min/max columns hold the same ranges since migration 7
 *   (recorded from the indexes at close, event-partitions.ts recordPartitionExtents), but the
 *   indexes are what the rows are: a range read from them cannot disagree with the table, costs
 *   three seeks a partition once per connection, and needs no trust in a catalog row. Events arrive
 *   late, so no order between partitions and occurred time is assumed: each range is the
 *   partition's own.
 * - A long read of a chain's seq range (readChain: verification, exports) reads each closed
 *   partition's first and last seq of the chain on its (chain, seq) index at the start of the call
 *   (chainExtents; again if the live partitions change between two pages), and each page reads the
 *   open partition and the closed ones holding its range: one arm or two instead of every
 *   partition's. A short read (a page or less) takes the ranges from the catalog instead
 *   (catalogChainExtents), cached per chain until the live partitions change. countChain sums one
 *   COUNT a partition; lastPosition reads partitions newest first and skips a closed one whose last
 *   position is not past the best found.
 * - The caller reads the catalog (which partitions are live, which is open) and the rows in ONE read
 *   transaction (`inRead`), so a rollover or a drop between the two cannot make a read miss rows or
 *   name a table that is gone.
 * - A page of the access log alone reads each partition by its access-log index (INDEXED BY).
 * - Statements are cached by SQL text, least recently used first out, at most `maxStatements`; the
 *   cache is emptied when the set of live partitions changes (pruned SQL names tables).
 */
import type Database from 'better-sqlite3';
import type { SqliteDb } from './sqlite-database';
import { EVENT_COLUMNS, isPartitioned, partitionIndexName } from './event-partitions';

/** What a read is bounded by (all optional). */
export interface ReadBounds {
  /** occurred_ms >= fromMs */
  fromMs?: number;
  /** occurred_ms < toMs */
  toMs?: number;
  /** occurred_ms <= atMostMs (a newest-first page cursor) */
  atMostMs?: number;
  /** occurred_ms >= atLeastMs (an oldest-first page cursor) */
  atLeastMs?: number;
  /** pos > afterPos */
  afterPos?: number;
}

interface LivePartition {
  n: number;
  table_name: string;
  state: 'open' | 'closed';
}

/** A closed partition's extent, from its own indexes (null: it holds no row). */
interface Extent {
  minOccurred: number | null;
  maxOccurred: number | null;
  maxPos: number | null;
}

/** Per live partition, a chain's seq range in it (null: none), as one long chain read found them (chainExtents). */
export interface ChainExtents {
  partitionSet: string;
  parts: { table: string; open: boolean; first: number | null; last: number | null }[];
}

export const DEFAULT_CACHED_STATEMENTS = 128;

export class PartitionReads {
  private readonly selectLive: Database.Statement | null;
  private readonly selectSchemaVersion: Database.Statement;
  private schemaVersion = -1;
  private live: LivePartition[] = [];
  private readonly extents = new Map<number, Extent>();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly indexes = new Map<string, boolean>();
  private partitionSet = '';
  private readonly catalogExtents = new Map<string, ChainExtents>();
  private catalogExtentsSet = '';
  private readonly read: <T>(fn: () => T) => T;

  constructor(
    private readonly db: SqliteDb,
    private readonly maxStatements = DEFAULT_CACHED_STATEMENTS,
  ) {
    this.selectLive = isPartitioned(db) ? db.prepare("SELECT n, table_name, state FROM event_partitions WHERE state <> 'dropped' ORDER BY n") : null;
    this.selectSchemaVersion = db.prepare('PRAGMA schema_version').pluck();
    const tx = db.transaction((fn: () => unknown) => fn());
    this.read = <T>(fn: () => T): T => tx(fn) as T;
  }

  /** Runs `fn` in one read transaction (the catalog and the rows it reads come from one snapshot). */
  inRead<T>(fn: () => T): T {
    return this.read(fn);
  }

  /**
   * What a read FROM: `events` (the view over every live partition) or a parenthesized UNION ALL of
   * the partitions the bounds can meet. Call inside `inRead`, with the rows' statement.
   */
  source(bounds: ReadBounds, index?: 'access_log'): string {
    if (!this.selectLive) return 'events';
    const parts = this.livePartitions();
    if (!bounded(bounds) && index === undefined) return 'events';
    const keep = bounded(bounds) ? parts.filter((p) => p.state === 'open' || meets(this.extentOf(p), bounds)) : parts;
    if (parts.length === 0 || (keep.length === parts.length && index === undefined)) return 'events';
    const cols = EVENT_COLUMNS.join(', ');
    // No partition can hold a match (no open one either: a store being dropped): an empty source.
    if (keep.length === 0) return `(SELECT ${cols} FROM ${parts[0].table_name} WHERE 0)`;
    return `(${keep.map((p) => `SELECT ${cols} FROM ${p.table_name}${this.indexedBy(p, index)}`).join(' UNION ALL ')})`;
  }

  /**
   * ` INDEXED BY` the partition's access-log index, where it has one. Without it SQLite picks the
   * (chain, seq) index for `chain = 'access_log'` (it has no statistics saying the chain holds many
   * rows) and sorts every access-log row of each partition for a page of the newest.
   */
  private indexedBy(p: LivePartition, index: 'access_log' | undefined): string {
    if (index === undefined) return '';
    const name = partitionIndexName(p.n, index);
    let exists = this.indexes.get(name);
    if (exists === undefined) {
      exists = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = ?").get(name, p.table_name) !== undefined;
      this.indexes.set(name, exists);
    }
    return exists ? ` INDEXED BY ${name}` : '';
  }

  /**
   * The live partitions of this read's snapshot. Which partitions are live and which is open changes
   * only with a rollover or a drop, and both create or drop a table in the same transaction: the
   * catalog is re-read when the schema version (read in the same snapshot) moved.
   */
  private livePartitions(): LivePartition[] {
    const version = this.selectSchemaVersion.get() as number;
    if (version !== this.schemaVersion) {
      const parts = this.selectLive!.all() as LivePartition[];
      this.schemaVersion = version;
      this.live = parts;
      this.indexes.clear();
      const set = parts.map((p) => `${p.n}${p.state === 'open' ? 'o' : 'c'}`).join(',');
      if (set !== this.partitionSet) {
        this.statements.clear();
        this.partitionSet = set;
        const live = new Set(parts.map((p) => p.n));
        for (const n of this.extents.keys()) if (!live.has(n)) this.extents.delete(n);
      }
    }
    return this.live;
  }

  /**
   * For one read of a long seq range of a chain (readChain): each closed partition's first and last
   * seq of the chain, read now from its (chain, seq) index (two seeks a partition), so the pages
   * name only the partitions holding their range. Read at the call, not cached across calls: a
   * verification reads what the indexes hold then. `previous` is kept while the live partitions
   * are the same ones (a rollover or a drop between two pages: read again). Call inside `inRead`.
   */
  chainExtents(chain: string, previous: ChainExtents | null): ChainExtents | null {
    if (!this.selectLive) return null;
    const parts = this.livePartitions();
    if (previous && previous.partitionSet === this.partitionSet) return previous;
    const list = parts.map((p) => {
      if (p.state === 'open') return { table: p.table_name, open: true, first: null, last: null };
      const t = p.table_name;
      const row = this.statement(
        `SELECT (SELECT seq FROM ${t} WHERE chain = @chain ORDER BY seq LIMIT 1) AS first, (SELECT seq FROM ${t} WHERE chain = @chain ORDER BY seq DESC LIMIT 1) AS last`,
      ).get({ chain }) as { first: number | null; last: number | null };
      return { table: t, open: false, first: row.first, last: row.last };
    });
    return { partitionSet: this.partitionSet, parts: list };
  }

  /**
   * For a short read of a chain (a page or less: one record's hash or receive time): each closed
   * partition's seq range of the chain from the catalog (`event_partition_chains`, recorded from
   * the partition's indexes when it closed, migration 7 for older ones; retention only narrows what
   * a partition holds, so the range still covers it), kept per chain until the live partitions
   * change. One catalog query per chain and partition set instead of two seeks a partition per
   * call. Call inside `inRead`.
   */
  catalogChainExtents(chain: string): ChainExtents | null {
    if (!this.selectLive) return null;
    const parts = this.livePartitions();
    if (this.catalogExtentsSet !== this.partitionSet) {
      this.catalogExtents.clear();
      this.catalogExtentsSet = this.partitionSet;
    }
    let e = this.catalogExtents.get(chain);
    if (!e) {
      const ranges = new Map(
        (this.statement('SELECT n, first_seq AS first, last_seq AS last FROM event_partition_chains WHERE chain = ?').all(chain) as { n: number; first: number; last: number }[]).map((r) => [r.n, r]),
      );
      e = {
        partitionSet: this.partitionSet,
        parts: parts.map((p) => ({ table: p.table_name, open: p.state === 'open', first: ranges.get(p.n)?.first ?? null, last: ranges.get(p.n)?.last ?? null })),
      };
      this.catalogExtents.set(chain, e);
    }
    return e;
  }

  /** What a page of a chain's seq range [fromSeq, toSeq] reads FROM: the open partition and the closed ones holding seqs in it. */
  chainSource(extents: ChainExtents | null, fromSeq: number, toSeq: number): string {
    if (!extents) return 'events';
    const keep = extents.parts.filter((p) => p.open || (p.first !== null && p.last !== null && p.last >= fromSeq && p.first <= toSeq));
    if (keep.length === extents.parts.length) return 'events';
    const cols = EVENT_COLUMNS.join(', ');
    if (keep.length === 0) return `(SELECT ${cols} FROM ${extents.parts[0].table} WHERE 0)`;
    return `(${keep.map((p) => `SELECT ${cols} FROM ${p.table}`).join(' UNION ALL ')})`;
  }

  /**
   * The newest position of a row meeting `where` (SQL on the event columns, no parameters), -1 when
   * none: partitions newest first, each read backwards on its rowid; a closed partition whose last
   * position (its extent: only retention removes rows from it) is not past the best one found is
   * not read. Call inside `inRead`. Null on a store without partitions (the caller reads the view).
   */
  newestPosition(where: string): number | null {
    if (!this.selectLive) return null;
    const parts = this.livePartitions();
    let best = -1;
    for (let i = parts.length - 1; i >= 0; i--) {
      const p = parts[i];
      if (p.state === 'closed') {
        const e = this.extentOf(p);
        if (e.maxPos === null || e.maxPos <= best) continue;
      }
      const pos = this.statement(`SELECT pos FROM ${p.table_name} WHERE ${where} ORDER BY pos DESC LIMIT 1`).pluck().get() as number | undefined;
      if (pos !== undefined && pos > best) best = pos;
    }
    return best;
  }

  /**
   * How many rows of a chain the hot store holds: one COUNT a partition (each counts its (chain,
   * seq) index range where it is), summed, instead of COUNT(*) over the view (every row handed
   * through the view's UNION ALL). Call inside `inRead`. Null on a store without partitions.
   */
  countChain(chain: string): number | null {
    if (!this.selectLive) return null;
    const parts = this.livePartitions();
    if (parts.length === 0) return 0;
    const sql = `SELECT ${parts.map((p) => `(SELECT COUNT(*) FROM ${p.table_name} WHERE chain = @chain)`).join(' + ')}`;
    return this.statement(sql).pluck().get({ chain }) as number;
  }

  /** The prepared statement for `sql`, from the cache (least recently used out past the bound). */
  statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt) {
      this.statements.delete(sql);
      this.statements.set(sql, stmt);
      return stmt;
    }
    stmt = this.db.prepare(sql);
    this.statements.set(sql, stmt);
    if (this.statements.size > this.maxStatements) this.statements.delete(this.statements.keys().next().value as string);
    return stmt;
  }

  /** Statements cached now (tests and benches). */
  cachedStatements(): number {
    return this.statements.size;
  }

  private extentOf(p: LivePartition): Extent {
    let e = this.extents.get(p.n);
    if (!e) {
      const t = p.table_name;
      const row = this.db
        .prepare(
          `SELECT (SELECT occurred_ms FROM ${t} ORDER BY occurred_ms LIMIT 1) AS lo, (SELECT occurred_ms FROM ${t} ORDER BY occurred_ms DESC LIMIT 1) AS hi, (SELECT pos FROM ${t} ORDER BY pos DESC LIMIT 1) AS last`,
        )
        .get() as { lo: number | null; hi: number | null; last: number | null };
      e = { minOccurred: row.lo, maxOccurred: row.hi, maxPos: row.last };
      this.extents.set(p.n, e);
    }
    return e;
  }
}

function bounded(b: ReadBounds): boolean {
  return b.fromMs !== undefined || b.toMs !== undefined || b.atMostMs !== undefined || b.atLeastMs !== undefined || b.afterPos !== undefined;
}

/** Whether a closed partition of this extent may hold a row within the bounds. */
function meets(e: Extent, b: ReadBounds): boolean {
  if (e.minOccurred === null || e.maxOccurred === null || e.maxPos === null) return false;
  if (b.fromMs !== undefined && e.maxOccurred < b.fromMs) return false;
  if (b.atLeastMs !== undefined && e.maxOccurred < b.atLeastMs) return false;
  if (b.toMs !== undefined && e.minOccurred >= b.toMs) return false;
  if (b.atMostMs !== undefined && e.minOccurred > b.atMostMs) return false;
  if (b.afterPos !== undefined && e.maxPos <= b.afterPos) return false;
  return true;
}
