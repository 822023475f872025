/**
 * The partitioned layout of the embedded hot store (docs/hot-store-partitioning.md): events live in
 * partition tables `events_p<N>` of the same database file (same columns, indexes and immutability
 * triggers as the single table had), one open partition takes every append, and `events` is a VIEW
 * over the partitions (UNION ALL, oldest first) that every reader keeps using. A partition is closed
 * at the week boundary of receive time (Monday 00:00 UTC) or when it reaches its row cap, so the
 * random-key indexes (event id, patient token) appends write into stay the size of one partition,
 * whatever the store holds; retention drops a partition wholly past its window with one DROP TABLE.
 *
 * - `event_partitions` is the catalog: number, table, state (open, closed, dropped), receive week,
 *   positions, row count, received and occurred time ranges. `event_partition_chains` records each
 *   partition's seq range per chain (what retention needs to know a partition is wholly purged).
 *   Appends keep both for the groups they write; at close the partition's extents are recorded
 *   again from its own indexes (recordPartitionExtents: rows that came another way included), so a
 *   closed partition's catalog row is right (migration 7 repaired those closed before).
 * - Positions stay global: the first row of a new partition takes the previous maximum + 1.
 * - Idempotency stays exact: the open partition's unique id index (`UNIQUE (id)` in partition 0, the
 *   compact key's unique index in partitions opened by roll-over: idKeySql), then for each closed partition a Bloom
 *   filter of its ids (`event_partition_filters`, partition-id-filter.ts: blocked, held interleaved
 *   in one PartitionFilterSet per connection), probing the partition's id index only where the
 *   filter says "maybe". A closed partition without a filter yet (just
 *   closed, or a crash before it was written) is probed directly until the filter is built.
 * - The view carries INSTEAD OF triggers that forward an UPDATE, DELETE or INSERT on `events` to the
 *   partition holding the row (or the open one): such a statement then meets the partition's own
 *   immutability triggers exactly as it met the single table's. Partition 0 keeps the single
 *   table's object names (its triggers `events_are_immutable` / `events_are_never_deleted`, its
 *   indexes `events_by_*`): a store of the previous layout becomes partition 0 by a rename.
 * - SQLite limits a compound SELECT to 500 arms (SQLITE_MAX_COMPOUND_SELECT): the view, hence the
 *   hot store, holds at most 500 live partitions (ten years of weeks); creating one more fails.
 */
import type Database from 'better-sqlite3';
import type { SqliteDb } from './sqlite-database';
import { PartitionFilterSet, PartitionIdFilter, hashId } from './partition-id-filter';

/** Rows a partition takes before the next append opens a new one (HOT_PARTITION_MAX_ROWS). */
export const DEFAULT_HOT_PARTITION_MAX_ROWS = 2_000_000;
/** SQLite's compound-select limit: the view has one arm per live partition. */
export const MAX_LIVE_PARTITIONS = 500;

const DAY_MS = 86_400_000;
const WEEK_MS = 7 * DAY_MS;

/** The receive week of an ISO time: weeks start on Monday 00:00 UTC (1970-01-05 was one). */
export function receiveWeek(iso: string): number {
  return Math.floor((Date.parse(iso) - 4 * DAY_MS) / WEEK_MS);
}

/** Columns of an event row, in the order of the table and the view. */
export const EVENT_COLUMNS = [
  'pos',
  'chain',
  'seq',
  'id',
  'received_at',
  'occurred_ms',
  'category',
  'action',
  'outcome',
  'actor_id',
  'patient_id',
  'event',
  'sealed',
  'prev_hash',
  'hash',
] as const;

export const PARTITION_CATALOG_SQL = `
CREATE TABLE IF NOT EXISTS event_partitions (
  n               INTEGER PRIMARY KEY,
  table_name      TEXT    NOT NULL UNIQUE,
  state           TEXT    NOT NULL CHECK (state IN ('open', 'closed', 'dropped')),
  week            INTEGER,
  first_pos       INTEGER NOT NULL,
  last_pos        INTEGER,
  row_count       INTEGER NOT NULL DEFAULT 0,
  min_received    TEXT,
  max_received    TEXT,
  min_occurred_ms INTEGER,
  max_occurred_ms INTEGER,
  created_at      TEXT    NOT NULL,
  closed_at       TEXT,
  dropped_at      TEXT
);
CREATE TABLE IF NOT EXISTS event_partition_chains (
  n         INTEGER NOT NULL,
  chain     TEXT    NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq  INTEGER NOT NULL,
  PRIMARY KEY (n, chain)
);
CREATE TABLE IF NOT EXISTS event_partition_filters (
  n      INTEGER PRIMARY KEY,
  ids    INTEGER NOT NULL,
  filter BLOB    NOT NULL
);
`;

export function partitionTable(n: number): string {
  return `events_p${n}`;
}

/** Partition 0 keeps the single table's names (a store of the previous layout is renamed into it). */
function objectName(n: number, suffix: string): string {
  return n === 0 ? `events_${suffix}` : `events_p${n}_${suffix}`;
}

/** The name of partition n's index `suffix` (`by_actor`, `by_patient`, `by_time`, `access_log`). */
export function partitionIndexName(n: number, suffix: 'by_actor' | 'by_patient' | 'by_time' | 'access_log'): string {
  return objectName(n, suffix);
}

export function partitionTriggerNames(n: number): { immutable: string; neverDeleted: string } {
  return { immutable: objectName(n, 'are_immutable'), neverDeleted: objectName(n, 'are_never_deleted') };
}

const HEX = '[0-9a-f]';
/** A canonical event id (lower-case uuid, as ingest stores it: canonicalEventId) as a GLOB pattern. */
const CANONICAL_UUID_GLOB = `${HEX.repeat(8)}-${HEX.repeat(4)}-${HEX.repeat(4)}-${HEX.repeat(4)}-${HEX.repeat(12)}`;

/**
 * The compact id key of partitions created by roll-over (stop 29): a canonical uuid as its 16 bytes
 * (`unhex`), any other text as itself. One-to-one (a blob never equals a text), so the unique index
 * on it refuses exactly what `UNIQUE (id)` refused, with entries less than half as wide: each append
 * dirties fewer index leaves (WAL pages a row 1.57 -> 1.38 at 100,000 rows, docs/benchmarks.md).
 * `x` is a column or a bound parameter: a query finds an id through this index only by naming the
 * same expression (idMatchSql).
 */
export function idKeySql(x: string): string {
  return `(CASE WHEN ${x} GLOB '${CANONICAL_UUID_GLOB}' THEN unhex(replace(${x}, '-', '')) ELSE ${x} END)`;
}

/**
 * The WHERE term that finds id `param` (a named parameter such as `@id`) in any partition: by
 * `UNIQUE (id)` in partitions made before the compact key, by the key's index in the others (over
 * the `events` view each arm plans on its own index).
 */
export function idMatchSql(param: string): string {
  return `id = ${param} AND ${idKeySql('id')} = ${idKeySql(param)}`;
}

/**
 * The table, indexes of partition n (the single table's, with the partition's names). `compactIdKey`:
 * the id is unique through the compact key's index (idKeySql) instead of `UNIQUE (id)`; roll-over
 * creates partitions so, partition 0 (the migrated single table, or a new store's first) keeps the
 * text index.
 */
export function partitionTableSql(n: number, compactIdKey = false): string {
  const t = partitionTable(n);
  return `
CREATE TABLE IF NOT EXISTS ${t} (
  pos          INTEGER PRIMARY KEY,
  chain        TEXT    NOT NULL,
  seq          INTEGER NOT NULL,
  id           TEXT    NOT NULL,
  received_at  TEXT    NOT NULL,
  occurred_ms  INTEGER NOT NULL,
  category     TEXT    NOT NULL,
  action       TEXT    NOT NULL,
  outcome      TEXT    NOT NULL,
  actor_id     TEXT    NOT NULL,
  patient_id   TEXT,
  event        TEXT    NOT NULL,
  sealed       BLOB,
  prev_hash    BLOB    NOT NULL,
  hash         BLOB    NOT NULL,
  UNIQUE (chain, seq)${compactIdKey ? '' : ',\n  UNIQUE (id)'}
);${compactIdKey ? `\nCREATE UNIQUE INDEX IF NOT EXISTS ${objectName(n, 'by_id')} ON ${t} (${idKeySql('id')});` : ''}
CREATE INDEX IF NOT EXISTS ${objectName(n, 'by_actor')}   ON ${t} (actor_id, occurred_ms);
CREATE INDEX IF NOT EXISTS ${objectName(n, 'by_patient')} ON ${t} (patient_id, occurred_ms) WHERE patient_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ${objectName(n, 'by_time')}    ON ${t} (occurred_ms);
CREATE INDEX IF NOT EXISTS ${objectName(n, 'access_log')} ON ${t} (occurred_ms) WHERE chain = 'access_log';
`;
}

/**
 * The retention runner's exceptions to the delete trigger (libs/retention): an authorized purge of
 * a recorded prefix, and a record leaving hot for warm (warm holds the same chain, seq and hash).
 * Used once the retention tables exist (applyRetentionSchema installs them).
 */
const PURGE_AWARE_WHEN = `
WHEN NOT EXISTS (
  SELECT 1 FROM retention_purge_authorizations a JOIN purged_prefixes p ON p.chain = a.chain
  WHERE a.chain = OLD.chain AND OLD.seq < a.below_seq AND OLD.seq < p.size
) AND NOT EXISTS (
  SELECT 1 FROM warm_events w WHERE w.chain = OLD.chain AND w.seq = OLD.seq AND w.hash = OLD.hash AND w.restored = 0
)`;

function tableExists(db: SqliteDb, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** Whether the retention tables the purge-aware delete trigger reads exist. */
function retentionInstalled(db: SqliteDb): boolean {
  return tableExists(db, 'retention_purge_authorizations') && tableExists(db, 'purged_prefixes') && tableExists(db, 'warm_events');
}

function partitionTriggersSql(n: number, purgeAware: boolean): string {
  const t = partitionTable(n);
  const names = partitionTriggerNames(n);
  return `
CREATE TRIGGER IF NOT EXISTS ${names.immutable} BEFORE UPDATE ON ${t}
BEGIN SELECT RAISE(ABORT, 'audit events are immutable'); END;
CREATE TRIGGER IF NOT EXISTS ${names.neverDeleted} BEFORE DELETE ON ${t}${purgeAware ? PURGE_AWARE_WHEN : ''}
BEGIN SELECT RAISE(ABORT, 'audit events cannot be deleted'); END;
`;
}

const CHAIN_HEAD_TRIGGERS_SQL = `
CREATE TRIGGER IF NOT EXISTS chain_heads_only_advance BEFORE UPDATE ON chain_heads
WHEN NEW.seq <= OLD.seq OR NEW.chain <> OLD.chain
BEGIN SELECT RAISE(ABORT, 'a chain head can only move forward'); END;

CREATE TRIGGER IF NOT EXISTS chain_heads_never_deleted BEFORE DELETE ON chain_heads
BEGIN SELECT RAISE(ABORT, 'chain heads cannot be deleted'); END;
`;

export interface PartitionInfo {
  n: number;
  table: string;
  state: 'open' | 'closed' | 'dropped';
  week: number | null;
  firstPos: number;
  lastPos: number | null;
  rowCount: number;
}

interface PartitionRow {
  n: number;
  table_name: string;
  state: 'open' | 'closed' | 'dropped';
  week: number | null;
  first_pos: number;
  last_pos: number | null;
  row_count: number;
}

function toInfo(r: PartitionRow): PartitionInfo {
  return { n: r.n, table: r.table_name, state: r.state, week: r.week, firstPos: r.first_pos, lastPos: r.last_pos, rowCount: r.row_count };
}

/** Whether the database has the partitioned layout (the catalog exists). */
export function isPartitioned(db: SqliteDb): boolean {
  return tableExists(db, 'event_partitions');
}

/** Live partitions (open and closed), oldest first. */
export function livePartitions(db: SqliteDb): PartitionInfo[] {
  return (db.prepare("SELECT n, table_name, state, week, first_pos, last_pos, row_count FROM event_partitions WHERE state <> 'dropped' ORDER BY n").all() as PartitionRow[]).map(toInfo);
}

/**
 * Re-creates the view `events` over the live partitions and its forwarding triggers. Runs inside
 * the transaction that creates or drops a partition (DDL is transactional in SQLite).
 */
export function rebuildEventsView(db: SqliteDb): void {
  const parts = livePartitions(db);
  if (parts.length > MAX_LIVE_PARTITIONS) throw new Error(`the hot store would have ${parts.length} partitions, more than SQLite's ${MAX_LIVE_PARTITIONS}-arm compound select`);
  const cols = EVENT_COLUMNS.join(', ');
  const open = parts.find((p) => p.state === 'open') ?? parts[parts.length - 1];
  db.exec('DROP VIEW IF EXISTS events');
  db.exec(`CREATE VIEW events AS ${parts.map((p) => `SELECT ${cols} FROM ${p.table}`).join(' UNION ALL ')}`);
  createViewTriggers(db, parts, open);
}

function createViewTriggers(db: SqliteDb, parts: readonly PartitionInfo[], open: PartitionInfo): void {
  const set = EVENT_COLUMNS.map((c) => `${c} = NEW.${c}`).join(', ');
  const cols = EVENT_COLUMNS.join(', ');
  const values = EVENT_COLUMNS.map((c) => `NEW.${c}`).join(', ');
  db.exec(`
CREATE TRIGGER IF NOT EXISTS events_view_update INSTEAD OF UPDATE ON events
BEGIN ${parts.map((p) => `UPDATE ${p.table} SET ${set} WHERE pos = OLD.pos;`).join(' ')} END;
CREATE TRIGGER IF NOT EXISTS events_view_delete INSTEAD OF DELETE ON events
BEGIN ${parts.map((p) => `DELETE FROM ${p.table} WHERE pos = OLD.pos;`).join(' ')} END;
CREATE TRIGGER IF NOT EXISTS events_view_insert INSTEAD OF INSERT ON events
BEGIN INSERT INTO ${open.table} (${cols}) VALUES (${values}); END;
`);
}

/**
 * Every partition's immutability triggers, the chain heads' and the view's forwarding triggers,
 * created where missing: runs at every read-write open, so a dropped trigger comes back.
 */
export function ensureEventTriggers(db: SqliteDb): void {
  if (!isPartitioned(db)) return;
  const purgeAware = retentionInstalled(db);
  const parts = livePartitions(db);
  db.transaction(() => {
    for (const p of parts) db.exec(partitionTriggersSql(p.n, purgeAware));
    db.exec(CHAIN_HEAD_TRIGGERS_SQL);
    if (parts.length > 0) createViewTriggers(db, parts, parts.find((p) => p.state === 'open') ?? parts[parts.length - 1]);
  })();
}

/** Replaces each partition's plain delete trigger by the retention-aware one (applyRetentionSchema). */
export function installPurgeAwareDeleteTriggers(db: SqliteDb): void {
  if (!retentionInstalled(db)) throw new Error('the retention tables must exist before the purge-aware delete trigger');
  const stale = livePartitions(db).filter((p) => {
    const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?").get(partitionTriggerNames(p.n).neverDeleted) as { sql: string } | undefined;
    return !row || !row.sql.includes('warm_events');
  });
  if (stale.length === 0) return;
  db.transaction(() => {
    for (const p of stale) {
      db.exec(`DROP TRIGGER IF EXISTS ${partitionTriggerNames(p.n).neverDeleted}`);
      db.exec(partitionTriggersSql(p.n, true));
    }
  })();
}

/**
 * The partitioned layout on a database that has the single `events` table (migration 6): the table
 * becomes partition 0 by a rename (no row copied; its triggers and indexes keep their names), the
 * catalog records it as the open partition, and `events` becomes the view.
 */
export function partitionEventsTable(db: SqliteDb, now: Date = new Date()): void {
  db.exec(PARTITION_CATALOG_SQL);
  if (isPartitionedAlready(db)) return;
  const isTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get() !== undefined;
  if (isTable) db.exec(`ALTER TABLE events RENAME TO ${partitionTable(0)}`);
  else db.exec(partitionTableSql(0));
  const t = partitionTable(0);
  const bounds = db.prepare(`SELECT (SELECT pos FROM ${t} ORDER BY pos LIMIT 1) AS lo, (SELECT pos FROM ${t} ORDER BY pos DESC LIMIT 1) AS hi`).get() as { lo: number | null; hi: number | null };
  const last = db.prepare(`SELECT received_at FROM ${t} ORDER BY pos DESC LIMIT 1`).get() as { received_at: string } | undefined;
  db.prepare(
    `INSERT INTO event_partitions (n, table_name, state, week, first_pos, last_pos, row_count, max_received, created_at)
     VALUES (0, ?, 'open', ?, ?, ?, ?, ?, ?)`,
  ).run(t, last ? receiveWeek(last.received_at) : null, bounds.lo ?? 1, bounds.hi, bounds.hi === null ? 0 : bounds.hi - (bounds.lo ?? 1) + 1, last?.received_at ?? null, now.toISOString());
  // Each chain's seq range in partition 0 (two index seeks a chain).
  const chains = tableExists(db, 'chain_heads') ? (db.prepare('SELECT chain FROM chain_heads').all() as { chain: string }[]) : [];
  const first = db.prepare(`SELECT seq FROM ${t} WHERE chain = ? ORDER BY seq LIMIT 1`).pluck();
  const lastSeq = db.prepare(`SELECT seq FROM ${t} WHERE chain = ? ORDER BY seq DESC LIMIT 1`).pluck();
  const insertChain = db.prepare('INSERT INTO event_partition_chains (n, chain, first_seq, last_seq) VALUES (0, ?, ?, ?)');
  for (const { chain } of chains) {
    const lo = first.get(chain) as number | undefined;
    if (lo !== undefined) insertChain.run(chain, lo, lastSeq.get(chain) as number);
  }
  rebuildEventsView(db);
}

function isPartitionedAlready(db: SqliteDb): boolean {
  return db.prepare('SELECT 1 FROM event_partitions LIMIT 1').get() !== undefined;
}

/**
 * Closes the open partition and creates partition n+1 as the open one (inside the caller's append
 * transaction). Its first position follows every position ever given (dropped partitions included).
 */
export function rollOver(db: SqliteDb, open: PartitionInfo, week: number, now: Date = new Date()): PartitionInfo {
  const n = open.n + 1;
  const table = partitionTable(n);
  const actualLast = db.prepare(`SELECT pos FROM ${open.table} ORDER BY pos DESC LIMIT 1`).pluck().get() as number | undefined;
  const recorded = db.prepare('SELECT MAX(COALESCE(last_pos, first_pos - 1)) FROM event_partitions').pluck().get() as number | null;
  const firstPos = Math.max(actualLast ?? 0, recorded ?? 0) + 1;
  db.prepare("UPDATE event_partitions SET state = 'closed', closed_at = ?, last_pos = COALESCE(?, last_pos) WHERE n = ?").run(now.toISOString(), actualLast ?? null, open.n);
  // The closed partition's catalog extents from its indexes (rows written another way included).
  recordPartitionExtents(db, open.n);
  db.exec(partitionTableSql(n, true));
  db.exec(partitionTriggersSql(n, retentionInstalled(db)));
  db.prepare("INSERT INTO event_partitions (n, table_name, state, week, first_pos, row_count, created_at) VALUES (?, ?, 'open', ?, ?, 0, ?)").run(n, table, week, firstPos, now.toISOString());
  // The view's forwarding triggers name the partitions: re-created with the view.
  db.exec('DROP TRIGGER IF EXISTS events_view_update; DROP TRIGGER IF EXISTS events_view_delete; DROP TRIGGER IF EXISTS events_view_insert;');
  rebuildEventsView(db);
  return { n, table, state: 'open', week, firstPos, lastPos: null, rowCount: 0 };
}

/**
 * Drops a closed partition whole (retention, inside its transaction): the table with its indexes
 * and triggers, its filter and chain ranges; the catalog keeps the row as `dropped` (positions stay
 * unique) and the view is rebuilt without it.
 */
export function dropPartition(db: SqliteDb, n: number, now: Date = new Date()): void {
  const p = db.prepare('SELECT state FROM event_partitions WHERE n = ?').get(n) as { state: string } | undefined;
  if (!p || p.state !== 'closed') throw new Error(`partition ${n} is not a closed partition`);
  db.exec(`DROP TABLE ${partitionTable(n)}`);
  db.prepare("UPDATE event_partitions SET state = 'dropped', dropped_at = ?, row_count = 0 WHERE n = ?").run(now.toISOString(), n);
  db.prepare('DELETE FROM event_partition_filters WHERE n = ?').run(n);
  db.prepare('DELETE FROM event_partition_chains WHERE n = ?').run(n);
  db.exec('DROP TRIGGER IF EXISTS events_view_update; DROP TRIGGER IF EXISTS events_view_delete; DROP TRIGGER IF EXISTS events_view_insert;');
  rebuildEventsView(db);
}

/** A chain's rows in one partition table, read from the table's own (chain, seq) index. */
export interface ChainExtent {
  chain: string;
  firstSeq: number;
  lastSeq: number;
}

/**
 * Each chain's first and last seq in a partition table, from its (chain, seq) index alone: the
 * chains by a skip scan (one seek a chain, a recursive query: SQLite has no skip scan without
 * statistics), then two seeks a chain. Exact whatever way the rows got in (appends, the view's
 * INSERT trigger), unlike the catalog's `event_partition_chains`, which only appends maintain.
 */
export function chainExtentsOf(db: SqliteDb, table: string): ChainExtent[] {
  return db
    .prepare(
      `WITH RECURSIVE c(chain) AS (
         SELECT (SELECT chain FROM ${table} ORDER BY chain LIMIT 1)
         UNION ALL
         SELECT (SELECT chain FROM ${table} WHERE chain > c.chain ORDER BY chain LIMIT 1) FROM c WHERE c.chain IS NOT NULL
       )
       SELECT chain,
         (SELECT seq FROM ${table} t WHERE t.chain = c.chain ORDER BY seq LIMIT 1) AS firstSeq,
         (SELECT seq FROM ${table} t WHERE t.chain = c.chain ORDER BY seq DESC LIMIT 1) AS lastSeq
       FROM c WHERE chain IS NOT NULL`,
    )
    .all() as ChainExtent[];
}

/**
 * Records a closed partition's extents in the catalog from the partition's own indexes: occurred
 * range (two seeks on its time index), last position (its rowid end), each chain's seq range
 * (chainExtentsOf) and the received range (each chain's first and last row: receive times grow
 * along a chain, as retention assumes). Appends keep these columns for the groups they write, but
 * rows that came another way (partition 0 of an upgraded store, rows written through the view's
 * INSERT trigger) pass no catalog update: rollOver records them at close, migration 7 repaired
 * the partitions closed before. Row counts are left as appends counted them.
 */
export function recordPartitionExtents(db: SqliteDb, n: number): void {
  const t = partitionTable(n);
  const occ = db
    .prepare(`SELECT (SELECT occurred_ms FROM ${t} ORDER BY occurred_ms LIMIT 1) AS lo, (SELECT occurred_ms FROM ${t} ORDER BY occurred_ms DESC LIMIT 1) AS hi, (SELECT pos FROM ${t} ORDER BY pos DESC LIMIT 1) AS last`)
    .get() as { lo: number | null; hi: number | null; last: number | null };
  const chains = chainExtentsOf(db, t);
  const receivedAt = db.prepare(`SELECT received_at FROM ${t} WHERE chain = ? AND seq = ?`).pluck();
  let minReceived: string | null = null;
  let maxReceived: string | null = null;
  for (const c of chains) {
    const first = receivedAt.get(c.chain, c.firstSeq) as string;
    const last = receivedAt.get(c.chain, c.lastSeq) as string;
    if (minReceived === null || Date.parse(first) < Date.parse(minReceived)) minReceived = first;
    if (maxReceived === null || Date.parse(last) > Date.parse(maxReceived)) maxReceived = last;
  }
  db.prepare('UPDATE event_partitions SET min_occurred_ms = ?, max_occurred_ms = ?, min_received = ?, max_received = ?, last_pos = COALESCE(?, last_pos) WHERE n = ?').run(
    occ.lo,
    occ.hi,
    minReceived,
    maxReceived,
    occ.last,
    n,
  );
  db.prepare('DELETE FROM event_partition_chains WHERE n = ?').run(n);
  const insert = db.prepare('INSERT INTO event_partition_chains (n, chain, first_seq, last_seq) VALUES (?, ?, ?, ?)');
  for (const c of chains) insert.run(n, c.chain, c.firstSeq, c.lastSeq);
}

/** Migration 7: every closed partition's catalog extents recorded from its indexes (recordPartitionExtents). */
export function repairClosedPartitionExtents(db: SqliteDb): number {
  if (!isPartitioned(db)) return 0;
  const closed = livePartitions(db).filter((p) => p.state === 'closed');
  for (const p of closed) recordPartitionExtents(db, p.n);
  return closed.length;
}

/** Per chain, the seq range each live partition holds (retention's drop decision). */
export function partitionChainRanges(db: SqliteDb): Map<number, { chain: string; firstSeq: number; lastSeq: number }[]> {
  const out = new Map<number, { chain: string; firstSeq: number; lastSeq: number }[]>();
  for (const r of db.prepare('SELECT n, chain, first_seq, last_seq FROM event_partition_chains ORDER BY n, chain').all() as { n: number; chain: string; first_seq: number; last_seq: number }[]) {
    const list = out.get(r.n) ?? [];
    list.push({ chain: r.chain, firstSeq: r.first_seq, lastSeq: r.last_seq });
    out.set(r.n, list);
  }
  return out;
}

function readFilter(bytes: Buffer): PartitionIdFilter | null {
  try {
    return PartitionIdFilter.fromBuffer(bytes);
  } catch {
    return null;
  }
}

/** Thrown inside the append transaction when an id of the group is stored in a closed partition. */
export class StoredIdError extends Error {
  constructor() {
    super('an event id of the group is already stored');
  }
}

/**
 * The id lookups across partitions of one connection: the open partition's unique index, then the
 * closed partitions' Bloom filters (kept in memory, loaded or built once) in front of their
 * indexes. The blocked filters are held together in one PartitionFilterSet (an id is tested against
 * all of them in one run of adjacent cache lines); a filter of the earlier classic layout is tested
 * on its own. Filters are immutable once written; the list of partitions is re-read when the schema
 * changed.
 */
export class PartitionIdIndex {
  private schemaVersion = -1;
  private parts: PartitionInfo[] = [];
  /** Loaded filters not in `set`: classic ones, and blocked ones until the set is rebuilt with them. */
  private readonly filters = new Map<number, PartitionIdFilter>();
  private set = PartitionFilterSet.empty();
  private readonly probes = new Map<string, Database.Statement<unknown[]>>();

  constructor(private readonly db: SqliteDb) {}

  /** Live partitions, re-read when a partition was created or dropped (by any connection). */
  partitions(): PartitionInfo[] {
    const v = this.db.pragma('schema_version', { simple: true }) as number;
    if (v !== this.schemaVersion || this.parts.length === 0) {
      this.parts = isPartitioned(this.db) ? livePartitions(this.db) : [];
      this.schemaVersion = v;
      const live = new Set(this.parts.map((p) => p.n));
      for (const n of this.filters.keys()) if (!live.has(n)) this.filters.delete(n);
      if (this.set.partitions.some((n) => !live.has(n))) this.rebuildSet(live);
    }
    return this.parts;
  }

  /** Forget the cached partition list (after this connection changed it inside a transaction). */
  invalidate(): void {
    this.schemaVersion = -1;
  }

  /**
   * For each id, the partitions whose index may hold it: the open one always, a closed one when
   * its filter says "maybe" or it has no filter yet. `except` skips one partition (the caller's
   * open partition, whose unique index the insert itself checks).
   */
  candidates(ids: readonly string[], except?: number): Map<number, string[]> {
    const out = new Map<number, string[]>();
    const parts = this.partitions().filter((p) => p.n !== except);
    if (parts.length === 0) return out;
    // Load what is stored, then fold newly loaded blocked filters into the set.
    const others: { n: number; filter: PartitionIdFilter | null }[] = [];
    let pending = false;
    for (const p of parts) {
      if (this.set.partitions.includes(p.n)) continue;
      const filter = p.state === 'closed' ? this.filterOf(p.n) : null;
      if (filter?.isBlocked) pending = true;
      else others.push({ n: p.n, filter });
    }
    if (pending) this.rebuildSet(new Set(this.parts.map((p) => p.n)));
    const inSet = except === undefined ? null : this.set.partitions.indexOf(except) >= 0 ? except : null;
    const maybe: number[] = [];
    for (const id of ids) {
      const h = hashId(id);
      maybe.length = 0;
      this.set.maybe(h, maybe);
      for (const o of others) if (!o.filter || o.filter.mightContain(h)) maybe.push(o.n);
      for (const n of maybe) {
        if (n === inSet) continue;
        const list = out.get(n);
        if (list) list.push(id);
        else out.set(n, [id]);
      }
    }
    return out;
  }

  /** The set over every live partition's blocked filter, with the ones loaded since (once per closed partition). */
  private rebuildSet(live: ReadonlySet<number>): void {
    const entries: { n: number; filter: PartitionIdFilter }[] = [];
    for (const n of this.set.partitions) {
      if (!live.has(n)) continue;
      const filter = this.set.filterOf(n);
      if (filter) entries.push({ n, filter });
    }
    for (const [n, filter] of this.filters) {
      if (!filter.isBlocked || !live.has(n)) continue;
      entries.push({ n, filter });
      this.filters.delete(n);
    }
    entries.sort((a, b) => a.n - b.n);
    this.set = PartitionFilterSet.of(entries);
  }

  /** Whether any of `ids` is stored in a partition other than `except` (exact). */
  anyStored(ids: readonly string[], except: number): boolean {
    for (const [n, list] of this.candidates(ids, except)) {
      const probe = this.probe(n);
      for (const id of list) if (probe.get({ id }) !== undefined) return true;
    }
    return false;
  }

  /** Closed partitions that have no filter stored yet. */
  missingFilters(): number[] {
    const parts = this.partitions().filter((p) => p.state === 'closed' && !this.filters.has(p.n) && !this.set.partitions.includes(p.n));
    return parts.filter((p) => this.filterOf(p.n) === null).map((p) => p.n);
  }

  /**
   * Builds and stores the filter of a closed partition from its ids (one scan of its id index), in
   * its own transaction. Idempotent: a filter another connection stored first is kept.
   */
  buildFilter(n: number): void {
    const table = partitionTable(n);
    this.db
      .transaction(() => {
        const stored = this.db.prepare('SELECT filter FROM event_partition_filters WHERE n = ?').pluck().get(n) as Buffer | undefined;
        if (stored !== undefined && readFilter(stored) !== null) return;
        // A filter of another format (an earlier hash) is replaced, never trusted.
        if (stored !== undefined) this.db.prepare('DELETE FROM event_partition_filters WHERE n = ?').run(n);
        const state = this.db.prepare('SELECT state FROM event_partitions WHERE n = ?').pluck().get(n);
        if (state !== 'closed') return;
        const count = this.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;
        const filter = PartitionIdFilter.forIds(count);
        for (const id of this.db.prepare(`SELECT id FROM ${table}`).pluck().iterate() as Iterable<string>) filter.add(hashId(id));
        this.db.prepare('INSERT INTO event_partition_filters (n, ids, filter) VALUES (?, ?, ?)').run(n, count, filter.toBuffer());
      })
      .immediate();
  }

  /**
   * Stores a filter a writer filled as it appended (the partition's every row went through it), in
   * its own transaction, unless one is stored already or the partition is not closed.
   */
  storeFilter(n: number, filter: PartitionIdFilter, ids: number): void {
    this.db
      .transaction(() => {
        const stored = this.db.prepare('SELECT filter FROM event_partition_filters WHERE n = ?').pluck().get(n) as Buffer | undefined;
        if (stored !== undefined && readFilter(stored) !== null) return;
        if (stored !== undefined) this.db.prepare('DELETE FROM event_partition_filters WHERE n = ?').run(n);
        if (this.db.prepare('SELECT state FROM event_partitions WHERE n = ?').pluck().get(n) !== 'closed') return;
        this.db.prepare('INSERT INTO event_partition_filters (n, ids, filter) VALUES (?, ?, ?)').run(n, ids, filter.toBuffer());
        this.filters.set(n, filter);
      })
      .immediate();
  }

  /**
   * Rows a partition's positions span (last - first + 1): every append gives the next position, so
   * when this equals the rows one writer added, that writer saw every row (no other writer, no row
   * inserted another way).
   */
  positionSpan(n: number): number {
    const first = this.db.prepare('SELECT first_pos FROM event_partitions WHERE n = ?').pluck().get(n) as number | undefined;
    const last = this.db.prepare(`SELECT pos FROM ${partitionTable(n)} ORDER BY pos DESC LIMIT 1`).pluck().get() as number | undefined;
    return first === undefined || last === undefined ? -1 : last - first + 1;
  }

  private filterOf(n: number): PartitionIdFilter | null {
    if (this.set.partitions.includes(n)) return this.set.filterOf(n);
    const cached = this.filters.get(n);
    if (cached) return cached;
    const row = this.db.prepare('SELECT filter FROM event_partition_filters WHERE n = ?').get(n) as { filter: Buffer } | undefined;
    const filter = row ? readFilter(row.filter) : null;
    // No filter, or one this build cannot read: the partition's index is probed until it is (re)built.
    if (filter) this.filters.set(n, filter);
    return filter;
  }

  private probe(n: number) {
    const table = partitionTable(n);
    let stmt = this.probes.get(table);
    if (!stmt) {
      stmt = this.db.prepare(`SELECT 1 FROM ${table} WHERE ${idMatchSql('@id')}`);
      this.probes.set(table, stmt);
    }
    return stmt;
  }
}
