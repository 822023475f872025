/**
 * The append transaction of the embedded event store, shared by the in-process path and the writer
 * thread (sqlite-append-thread.ts): seal the protected fields, tokenize the patient, insert the rows
 * and move the chain heads, in one IMMEDIATE transaction (the write lock is taken up front, so a
 * writer on another connection makes it wait its busy timeout instead of failing midway). With WAL
 * and synchronous=FULL the commit returns only once it is on disk.
 *
 * The transaction also refuses rows that do not extend the stored chains: each chain's first row
 * must follow the recorded head (next seq, prevHash = the head's hash; seq 0 and GENESIS on a new
 * chain) and every further row the row before it. A group chained on a group that failed, or on a
 * head another writer moved, is then refused whole as a sequence conflict instead of leaving a gap
 * or a fork (the unique (chain, seq) key alone would let a group whose predecessor failed through).
 *
 * Partitioned layout (event-partitions.ts): rows go to the open partition, opened anew at the week
 * boundary of receive time or past `maxPartitionRows`; positions are given explicitly (global); an
 * id stored in a closed partition refuses the group as a duplicate (filters, then the index).
 * After a commit that closed a partition, its id filter is built in a transaction of its own.
 */
import type { AccessEvent } from '@app/core';
import type Database from 'better-sqlite3';
import type { SqliteDb } from './sqlite-database';
import type { FieldProtection } from '../field-protection.port';
import { SealedFieldCodec } from './sealed-fields';
import { deriveColumns } from '../derived-columns';
import { DEFAULT_HOT_PARTITION_MAX_ROWS, PartitionIdIndex, PartitionInfo, StoredIdError, isPartitioned, receiveWeek, rollOver } from './event-partitions';
import { PartitionIdFilter, hashId } from './partition-id-filter';

/** What the transaction needs of one chained record (the event is parsed from its JSON when absent). */
export interface AppendRow {
  chain: string;
  seq: number;
  receivedAt: string;
  eventJson: string;
  prevHash: Uint8Array;
  hash: Uint8Array;
  event?: AccessEvent;
}

/** Thrown inside the transaction when a row does not extend its chain (rolls the group back). */
class ChainLinkError extends Error {
  constructor(
    readonly chain: string,
    readonly seq: number,
  ) {
    super('the record does not extend the stored chain');
  }
}

/**
 * Why an append failed: another writer took a (chain, seq) first, an id of the group is already
 * stored (the unique id index refused it), or the store could not commit.
 */
export type AppendFailure = { kind: 'sequence'; chain: string; seq: number } | { kind: 'duplicate' } | { kind: 'store'; code: string };

export interface AppendOptions {
  /** Rows a partition takes before the next group opens a new one (HOT_PARTITION_MAX_ROWS). */
  maxPartitionRows?: number;
}

/**
 * Appends a group in one transaction; returns the global position of its first row (the rows take
 * consecutive positions in the order given), or null where positions are not given explicitly (the
 * unpartitioned layout).
 */
export function prepareAppend(db: SqliteDb, protection: FieldProtection, options: AppendOptions = {}): (rows: readonly AppendRow[]) => number | null {
  const maxRows = options.maxPartitionRows ?? DEFAULT_HOT_PARTITION_MAX_ROWS;
  const codec = new SealedFieldCodec(protection.dataKeys);
  const partitioned = isPartitioned(db);
  const ids = new PartitionIdIndex(db);
  const inserts = new Map<string, Database.Statement<unknown[]>>();
  const lastPositions = new Map<string, Database.Statement<unknown[]>>();
  const insertInto = (table: string) => {
    let stmt = inserts.get(table);
    if (!stmt) {
      stmt = db.prepare(
        `INSERT INTO ${table} (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, sealed, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      inserts.set(table, stmt);
    }
    return stmt;
  };
  const selectOpen = partitioned ? db.prepare("SELECT n, table_name, state, week, first_pos, last_pos, row_count FROM event_partitions WHERE state = 'open' ORDER BY n DESC LIMIT 1") : null;
  const setWeek = partitioned ? db.prepare('UPDATE event_partitions SET week = ? WHERE n = ? AND week IS NULL') : null;
  const updateOpen = partitioned
    ? db.prepare(
        `UPDATE event_partitions SET last_pos = ?, row_count = row_count + ?,
           min_received = CASE WHEN min_received IS NULL OR ? < min_received THEN ? ELSE min_received END,
           max_received = CASE WHEN max_received IS NULL OR ? > max_received THEN ? ELSE max_received END,
           min_occurred_ms = MIN(COALESCE(min_occurred_ms, ?), ?), max_occurred_ms = MAX(COALESCE(max_occurred_ms, ?), ?)
         WHERE n = ?`,
      )
    : null;
  const upsertChainRange = partitioned
    ? db.prepare(
        `INSERT INTO event_partition_chains (n, chain, first_seq, last_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (n, chain) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq), first_seq = MIN(first_seq, excluded.first_seq)`,
      )
    : null;
  const upsertHead = db.prepare(
    `INSERT INTO chain_heads (chain, seq, hash) VALUES (?, ?, ?)
     ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
  );
  const selectHead = db.prepare('SELECT seq, hash FROM chain_heads WHERE chain = ?');
  /** What the last group did to the partitions (read after its commit). */
  let group: { n: number; fresh: boolean; closed: number | null; ids: string[] } | null = null;
  /**
   * This connection's filter of the open partition, filled as its groups commit, when it saw the
   * partition from its first row: stored as it is when the partition closes (no scan of its ids)
   * if the partition's positions show no row came another way; otherwise the ids are scanned.
   */
  let filling: { n: number; filter: PartitionIdFilter; count: number } | null = null;

  /** The partition the group's transaction closed (rolled over from), if any. */
  let closing: number | null = null;

  /** The partition this group goes to: the open one, or a new one past the week boundary or the row cap. */
  const openPartition = (rows: readonly AppendRow[]): PartitionInfo => {
    const r = selectOpen!.get() as { n: number; table_name: string; state: 'open'; week: number | null; first_pos: number; last_pos: number | null; row_count: number } | undefined;
    if (!r) throw new Error('the hot store has no open partition');
    const open: PartitionInfo = { n: r.n, table: r.table_name, state: r.state, week: r.week, firstPos: r.first_pos, lastPos: r.last_pos, rowCount: r.row_count };
    const week = receiveWeek(rows[0].receivedAt);
    if (open.week === null) {
      setWeek!.run(week, open.n);
      return { ...open, week };
    }
    if (open.rowCount > 0 && (week > open.week || open.rowCount >= maxRows)) {
      const next = rollOver(db, open, Math.max(week, open.week));
      ids.invalidate();
      closing = open.n;
      return next;
    }
    return open;
  };

  const tx = db.transaction((rows: readonly AppendRow[]) => {
    const heads = new Map<string, AppendRow>();
    const events: { event: AccessEvent; json: string }[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const before = heads.get(r.chain);
      if (before ? r.seq !== before.seq + 1 || !sameHash(r.prevHash, before.hash) : !extendsStoredHead(selectHead, r)) throw new ChainLinkError(r.chain, r.seq);
      heads.set(r.chain, r);
      events[i] = { event: r.event ?? (JSON.parse(r.eventJson) as AccessEvent), json: r.eventJson };
    }
    const open = partitioned ? openPartition(rows) : null;
    const table = open ? open.table : 'events';
    const insertEvent = insertInto(table);
    // Positions are global: the open partition continues from its last row (or its first position).
    let pos: number | null = null;
    if (open) {
      let lastPos = lastPositions.get(table);
      if (!lastPos) lastPositions.set(table, (lastPos = db.prepare(`SELECT pos FROM ${table} ORDER BY pos DESC LIMIT 1`).pluck()));
      const last = lastPos.get() as number | undefined;
      pos = last !== undefined ? last + 1 : open.firstPos;
    }
    // The whole group's protected fields sealed together (one AES call, sealed-fields.ts).
    const sealedRows = codec.sealAll(events);
    const columns = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) columns[i] = deriveColumns(events[i].event, (id) => protection.patientToken(id));
    // Idempotency across partitions: the open partition's unique index refuses its own ids on insert.
    const groupIds = columns.map((c) => c.id as string);
    if (open && ids.anyStored(groupIds, open.n)) throw new StoredIdError();
    if (open) group = { n: open.n, fresh: open.rowCount === 0, closed: closing, ids: groupIds };
    let minReceived = rows[0].receivedAt;
    let maxReceived = rows[0].receivedAt;
    let minOccurred = Number.MAX_SAFE_INTEGER;
    let maxOccurred = Number.MIN_SAFE_INTEGER;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const { storedJson, sealed } = sealedRows[i];
      const c = columns[i];
      insertEvent.run(
        pos === null ? null : pos + i,
        r.chain,
        r.seq,
        c.id,
        r.receivedAt,
        c.occurred_ms,
        c.category,
        c.action,
        c.outcome,
        c.actor_id,
        c.patient_id,
        storedJson,
        sealed,
        r.prevHash,
        r.hash,
      );
      if (r.receivedAt < minReceived) minReceived = r.receivedAt;
      if (r.receivedAt > maxReceived) maxReceived = r.receivedAt;
      if (c.occurred_ms < minOccurred) minOccurred = c.occurred_ms;
      if (c.occurred_ms > maxOccurred) maxOccurred = c.occurred_ms;
    }
    if (open && pos !== null) {
      updateOpen!.run(pos + rows.length - 1, rows.length, minReceived, minReceived, maxReceived, maxReceived, minOccurred, minOccurred, maxOccurred, maxOccurred, open.n);
      const firstSeq = new Map<string, number>();
      for (const r of rows) if (!firstSeq.has(r.chain)) firstSeq.set(r.chain, r.seq);
      for (const r of heads.values()) upsertChainRange!.run(open.n, r.chain, firstSeq.get(r.chain)!, r.seq);
    }
    for (const r of heads.values()) upsertHead.run(r.chain, r.seq, r.hash);
    return pos;
  });
  return (rows) => {
    group = null;
    closing = null;
    let first: number | null;
    try {
      first = tx.immediate(rows) as number | null;
    } catch (err) {
      ids.invalidate();
      throw err;
    }
    if (!group) return first;
    const g = group as { n: number; fresh: boolean; closed: number | null; ids: string[] };
    const closedFilling = g.closed !== null && filling?.n === g.closed ? filling : null;
    if (g.fresh) filling = { n: g.n, filter: PartitionIdFilter.forIds(maxRows), count: 0 };
    if (filling?.n === g.n) {
      for (const id of g.ids) filling.filter.add(hashId(id));
      filling.count += g.ids.length;
    } else filling = null;
    // A partition this group closed gets its id filter now, once: the one filled while appending
    // when it saw every row, else built from the partition's ids (until then lookups probe its index).
    if (closedFilling && g.closed !== null && ids.positionSpan(g.closed) === closedFilling.count) {
      ids.storeFilter(g.closed, closedFilling.filter.foldTo(closedFilling.count), closedFilling.count);
    }
    for (const n of ids.missingFilters()) ids.buildFilter(n);
    return first;
  };
}

/** Whether `row` is the next record of its chain as chain_heads records it. */
function extendsStoredHead(selectHead: { get(chain: string): unknown }, row: AppendRow): boolean {
  const head = selectHead.get(row.chain) as { seq: number; hash: Buffer } | undefined;
  if (!head) return row.seq === 0 && row.prevHash.every((b) => b === 0);
  return row.seq === head.seq + 1 && sameHash(row.prevHash, head.hash);
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** Classifies an error thrown by the append transaction. */
export function appendFailure(err: unknown, rows: readonly AppendRow[]): AppendFailure {
  if (err instanceof ChainLinkError) return { kind: 'sequence', chain: err.chain, seq: err.seq };
  if (err instanceof StoredIdError) return { kind: 'duplicate' };
  const e = err as { code?: string; message?: string };
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /events(_p\d+)?\.chain, events(_p\d+)?\.seq/.test(e.message ?? '')) {
    return { kind: 'sequence', chain: rows[0]?.chain ?? '', seq: rows[0]?.seq ?? -1 };
  }
  // UNIQUE (id), or the compact id key's unique index of partitions made since (event-partitions.ts idKeySql).
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /events(_p\d+)?\.id\b|index 'events_p\d+_by_id'/.test(e.message ?? '')) return { kind: 'duplicate' };
  return { kind: 'store', code: e.code ?? 'unknown error' };
}
