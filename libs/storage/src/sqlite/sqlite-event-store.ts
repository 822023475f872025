/**
 * Embedded EventStore adapter on SQLite (better-sqlite3). Appends run in one transaction per
 * group commit; with WAL and synchronous=FULL the commit returns only once it is on disk.
 * The (chain, seq) uniqueness constraint fences racing writers; the id uniqueness constraint
 * backs idempotency.
 *
 * Field-level encryption at rest (sealed-fields.ts): `patient.id` and `actor.ip` are sealed with
 * AES-256-GCM on append, `patient_id` holds the patient's keyed-HMAC token, and EVERY read path goes
 * through `eventTexts` (the one decode function), so nothing hands out stored text with values cut out.
 */
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { ChainHead, ChainRow } from '@app/ledger';
import {
  AppendResult,
  ChainedRecord,
  DuplicateIdError,
  EventPage,
  EventQuery,
  EventStore,
  EventStreamQuery,
  EventTimeRange,
  PositionedEvent,
  SequenceConflictError,
  StoreUnavailableError,
  StoredReceipt,
  StoredRecord,
} from '../event-store.port';
import type Database from 'better-sqlite3';
import { SqliteDb } from './sqlite-database';
import type { FieldProtection } from '../field-protection.port';
import { DataKeyUnavailableError, SealedFieldCodec, SealedRecordError } from './sealed-fields';
import { AppendOptions, appendFailure, prepareAppend } from './sqlite-append';
import { PartitionIdIndex, idKeySql, idMatchSql, isPartitioned, partitionTable } from './event-partitions';
import { ChainExtents, PartitionReads, ReadBounds } from './partition-reads';
import { DERIVED_COLUMNS_SQL } from './derived-columns-sql';
import { DerivedColumnMismatchError, DerivedColumns, mismatchOf, PatientTokenCache, withColumnCheck } from '../derived-columns';
import type { SqliteAppendThread } from './sqlite-append-thread';
import type { SqliteWalCheckpointer } from './sqlite-wal-checkpointer';

interface EventRow {
  pos: number;
  chain: string;
  seq: number;
  id: string;
  received_at: string;
  occurred_ms: number;
  event: string;
  sealed: Buffer | null;
  prev_hash: Buffer;
  hash: Buffer;
  category: string;
  action: string;
  outcome: string;
  actor_id: string;
  patient_id: string | null;
}

/** The columns every read of a stored event needs for decoding. */
interface EncodedEvent {
  event: string;
  sealed: Buffer | null;
}

/**
 * How a read decodes: `view` opens each record with its GCM tag checked and throws on an unreadable
 * one; `tolerant` does the same but falls back to the stored text (processing must go on);
 * `verify` opens a whole page at once without the tags (one AES operation per page) and falls back
 * to the stored text, which then fails its hash: verification reports it as modified.
 */
type DecodeMode = 'view' | 'tolerant' | 'verify';

/**
 * Event columns of a full record (`sealed` always next to `event`: see eventTexts), with the derived
 * columns the record is re-checked against before it is returned (toStoredRecord).
 */
const RECORD_COLUMNS = 'pos, chain, seq, id, received_at, occurred_ms, event, sealed, prev_hash, hash, category, action, outcome, actor_id, patient_id';

const ID_LOOKUP_CHUNK = 500;

export class SqliteEventStore implements EventStore {
  private readonly selectHeads;
  private readonly selectById;
  private readonly selectChains;
  private readonly countByChain;
  private readonly selectLastPosition;
  private readonly selectNewestPosition;
  /** Reads name only the partitions their bounds touch, with statements reused (partition-reads.ts). */
  protected readonly reads: PartitionReads;
  private readonly receiptLookups = new Map<string, Database.Statement<[{ ids: string }]>>();
  /** Id lookups go to the partitions whose filter may hold the id (event-partitions.ts). */
  private readonly idIndex: PartitionIdIndex | null;
  private readonly appendTx: (records: readonly ChainedRecord[]) => number | null;
  private appendThread: SqliteAppendThread | null = null;
  private walCheckpointer: SqliteWalCheckpointer | null = null;
  private readonly codec: SealedFieldCodec;
  /** Patient tokens for the derived-column check of verification. */
  protected readonly tokens: PatientTokenCache;
  /** Patient filters look up tokens (the index column never holds ids). */
  readonly patientTokenLookups = true;
  private closed = false;

  constructor(
    private readonly db: SqliteDb,
    private readonly protection: FieldProtection,
    appendOptions: AppendOptions = {},
  ) {
    this.codec = new SealedFieldCodec(protection.dataKeys);
    this.tokens = new PatientTokenCache((id) => protection.patientToken(id));
    ensureSealedColumn(db);
    this.selectHeads = db.prepare('SELECT chain, seq, hash FROM chain_heads');
    this.selectById = db.prepare(`SELECT ${RECORD_COLUMNS} FROM events WHERE ${idMatchSql('@id')}`);
    this.selectChains = db.prepare('SELECT chain FROM chain_heads ORDER BY chain');
    this.countByChain = db.prepare('SELECT COUNT(*) AS n FROM events WHERE chain = ?');
    // Backwards on the primary key to the newest non-access-log row (MAX() with a WHERE would scan).
    this.selectLastPosition = db.prepare(`SELECT COALESCE((SELECT pos FROM events WHERE ${NOT_ACCESS_LOG} ORDER BY pos DESC LIMIT 1), -1) AS pos`);
    // The newest position (ORDER BY … LIMIT 1: each partition's rowid end, where MAX() over the view would scan).
    this.selectNewestPosition = db.prepare('SELECT COALESCE((SELECT pos FROM events ORDER BY pos DESC LIMIT 1), -1) AS pos');
    this.reads = new PartitionReads(db);
    this.idIndex = isPartitioned(db) ? new PartitionIdIndex(db) : null;
    this.appendTx = prepareAppend(db, protection, appendOptions);
  }

  /**
   * Runs appends on a writer thread with its own connection (WRITER_THREAD=true) instead of on this
   * one; reads stay here. Closing the store stops the thread after its last commit.
   */
  useAppendThread(thread: SqliteAppendThread): void {
    this.appendThread = thread;
  }

  /** Checkpoints the WAL on a background thread (WAL_CHECKPOINT_INTERVAL_MS); closing the store stops it. */
  useWalCheckpointer(checkpointer: SqliteWalCheckpointer): void {
    this.walCheckpointer = checkpointer;
    checkpointer.start();
  }

  async chainHeads(): Promise<Map<string, ChainHead>> {
    const out = new Map<string, ChainHead>();
    for (const row of this.selectHeads.all() as { chain: string; seq: number; hash: Buffer }[]) {
      out.set(row.chain, { seq: row.seq, hash: row.hash });
    }
    return out;
  }

  async findReceipts(ids: readonly string[]): Promise<Map<string, StoredReceipt>> {
    const out = new Map<string, StoredReceipt>();
    for (const [table, candidates] of this.idTables(ids)) {
      for (let i = 0; i < candidates.length; i += ID_LOOKUP_CHUNK) {
        const chunk = candidates.slice(i, i + ID_LOOKUP_CHUNK);
        const rows = this.receiptLookup(table).all({ ids: JSON.stringify(chunk) }) as ({ id: string; chain: string; seq: number; hash: Buffer } & EncodedEvent)[];
        // An unreadable record compares unequal to any retry (409), without failing the whole group.
        for (const r of rows) out.set(r.id, { id: r.id, chain: r.chain, seq: r.seq, hash: r.hash, eventJson: this.eventTexts([r], 'tolerant')[0] });
      }
    }
    return out;
  }

  async append(records: readonly ChainedRecord[]): Promise<AppendResult | void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    if (records.length === 0) return;
    if (this.appendThread) return this.appendThread.append(records);
    try {
      const firstPosition = this.appendTx(records);
      return firstPosition === null ? undefined : { firstPosition };
    } catch (err) {
      const failure = appendFailure(err, records);
      if (failure.kind === 'sequence') throw new SequenceConflictError(failure.chain, failure.seq);
      if (failure.kind === 'duplicate') throw new DuplicateIdError();
      throw new StoreUnavailableError(`append failed: ${failure.code}`);
    }
  }

  /** The unique id index refuses a stored id inside the append transaction (DuplicateIdError). */
  refusesStoredIds(): boolean {
    return true;
  }

  async getById(id: string): Promise<StoredRecord | null> {
    for (const [table] of this.idTables([id])) {
      const row = (table === 'events' ? this.selectById : this.reads.statement(`SELECT ${RECORD_COLUMNS} FROM ${table} WHERE ${idMatchSql('@id')}`)).get({ id }) as EventRow | undefined;
      if (row) return this.toStoredRecord(row);
    }
    return null;
  }

  /**
   * Where to look ids up: each partition whose filter may hold some of them (the open partition
   * always), or the `events` table of a database of the previous layout.
   */
  private idTables(ids: readonly string[]): [string, string[]][] {
    if (!this.idIndex) return [['events', [...ids]]];
    return [...this.idIndex.candidates(ids)].map(([n, list]) => [partitionTable(n), list]);
  }

  async query(q: EventQuery): Promise<EventPage> {
    const rows = this.reads.inRead(() => {
      const { sql, params } = this.querySql(q);
      return this.reads.statement(sql).all(...params) as EventRow[];
    });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      records: page.map((r) => this.toStoredRecord(r)),
      next: rows.length > q.limit && last ? { occurredMs: last.occurred_ms, position: last.pos } : null,
    };
  }

  /**
   * `EXPLAIN QUERY PLAN` of the statement `query(q)` runs now (the partitions it would name, its
   * SQL): one line per plan step. The plan tests assert on it (each arm on an index, no sort).
   */
  explainQuery(q: EventQuery): string[] {
    return this.reads.inRead(() => {
      const { sql, params } = this.querySql(q);
      return this.explain(sql, params);
    });
  }

  /** The same for the first page of `stream(q)`. */
  explainStream(q: EventStreamQuery): string[] {
    return this.reads.inRead(() => {
      const s = this.streamSql(q);
      return this.explain(s.first, [...s.params, q.pageSize ?? 1000]);
    });
  }

  private explain(sql: string, params: unknown[]): string[] {
    return (this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
  }

  /** The SQL of one page of `query` (inside a read transaction: it reads the partition catalog). */
  private querySql(q: EventQuery): { sql: string; params: (string | number)[] } {
    // A page of the access log with no actor or patient filter walks each partition's access-log index.
    const accessLogOnly = q.chain === ACCESS_LOG_CHAIN && q.patient === undefined && q.patientToken === undefined && q.actor === undefined;
    const from = this.reads.source({ fromMs: q.fromMs, toMs: q.toMs, atMostMs: q.after?.occurredMs }, accessLogOnly ? 'access_log' : undefined);
    const where: string[] = [];
    const params: (string | number)[] = [];
    this.patientFilter(q, from, where, params);
    if (q.actor !== undefined) (where.push('actor_id = ?'), params.push(q.actor));
    // Actions are an open vocabulary: a filter matches them in any case (READ finds read).
    if (q.action !== undefined) (where.push('action = ? COLLATE NOCASE'), params.push(q.action));
    // Literal chain names (validated) so the planner can use the access log's partial index.
    if (q.chain !== undefined) where.push(`chain = ${chainLiteral(q.chain)}`);
    if (q.excludeChain !== undefined) where.push(`chain <> ${chainLiteral(q.excludeChain)}`);
    if (q.outcome !== undefined) (where.push('outcome = ?'), params.push(q.outcome));
    if (q.category !== undefined) (where.push('category = ?'), params.push(q.category));
    // A prefilter on the stored canonical text (source.integration is not sealed; RFC 8785 writes
    // strings as JSON.stringify does): the caller checks the decoded record exactly.
    if (q.integration !== undefined) (where.push('instr(event, ?) > 0'), params.push(`"integration":${JSON.stringify(q.integration)}`));
    if (q.fromMs !== undefined) (where.push('occurred_ms >= ?'), params.push(q.fromMs));
    if (q.toMs !== undefined) (where.push('occurred_ms < ?'), params.push(q.toMs));
    if (q.after) {
      where.push('(occurred_ms < ? OR (occurred_ms = ? AND pos < ?))');
      params.push(q.after.occurredMs, q.after.occurredMs, q.after.position);
    }
    const sql = `SELECT ${RECORD_COLUMNS} FROM ${from}` + (where.length ? ` WHERE ${where.join(' AND ')}` : '') + ' ORDER BY occurred_ms DESC, pos DESC LIMIT ?';
    params.push(q.limit + 1);
    return { sql, params };
  }

  async chains(): Promise<string[]> {
    return (this.selectChains.all() as { chain: string }[]).map((r) => r.chain);
  }

  async countChain(chain: string): Promise<number> {
    // One COUNT a partition, summed (partition-reads.ts); the view on a store without partitions.
    return this.reads.inRead(() => this.reads.countChain(chain)) ?? (this.countByChain.get(chain) as { n: number }).n;
  }

  /**
   * A read longer than a page (verification, exports) first finds each closed partition's seq range
   * of the chain on its index, then each page reads only the open partition and those holding its
   * range (partition-reads.ts, chainExtents); a read of a page or less takes the ranges from the
   * catalog (catalogChainExtents: no seek in a partition that does not hold the range).
   */
  async *readChain(chain: string, fromSeq: number, toSeq?: number, pageSize = 5000): AsyncIterable<ChainRow[]> {
    let next = fromSeq;
    const end = toSeq ?? Number.MAX_SAFE_INTEGER;
    const long = end - fromSeq + 1 > pageSize;
    let extents: ChainExtents | null = null;
    for (;;) {
      const rows = this.reads.inRead(() => {
        extents = long ? this.reads.chainExtents(chain, extents) : this.reads.catalogChainExtents(chain);
        const from = this.reads.chainSource(extents, next, end);
        return this.reads
          .statement(`SELECT seq, received_at, event, sealed, prev_hash, hash, ${DERIVED_COLUMNS_SQL} FROM ${from} WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`)
          .all(chain, next, end, pageSize);
      }) as ({ seq: number; received_at: string; prev_hash: Buffer; hash: Buffer } & EncodedEvent & DerivedColumns)[];
      if (rows.length === 0) return;
      // Verification: an unreadable record hashes as its stored text, so it is reported as modified.
      const texts = this.eventTexts(rows, 'verify');
      yield rows.map((r, i) => withColumnCheck({ seq: r.seq, receivedAt: r.received_at, eventJson: texts[i], prevHash: r.prev_hash, hash: r.hash }, r, this.tokens, r.sealed === null));
      if (rows.length < pageSize) return;
      next = rows[rows.length - 1].seq + 1;
    }
  }

  async readSince(afterPosition: number, limit: number, range?: EventTimeRange): Promise<PositionedEvent[]> {
    const inRange = range !== undefined && (range.fromMs !== undefined || range.toMs !== undefined);
    const rows = this.reads.inRead(() => {
      const from = this.reads.source({ afterPos: afterPosition, fromMs: range?.fromMs, toMs: range?.toMs });
      // Detection tails the events integrations post: the service's own access log (reads of the audit
      // data, stamped with the wall clock) is neither evaluated nor allowed to move the event-time watermark.
      // Unary + keeps the planner on the primary key (position order) instead of the time index.
      return inRange
        ? this.reads
            .statement(`SELECT pos, received_at, event, sealed FROM ${from} WHERE pos > ? AND +occurred_ms >= ? AND +occurred_ms < ? AND ${NOT_ACCESS_LOG} ORDER BY pos LIMIT ?`)
            .all(afterPosition, range.fromMs ?? Number.MIN_SAFE_INTEGER, range.toMs ?? Number.MAX_SAFE_INTEGER, limit)
        : this.reads.statement(`SELECT pos, received_at, event, sealed FROM ${from} WHERE pos > ? AND ${NOT_ACCESS_LOG} ORDER BY pos LIMIT ?`).all(afterPosition, limit);
    }) as ({ pos: number; received_at: string } & EncodedEvent)[];
    const out: PositionedEvent[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      // Detection must not stall on one unreadable record (verification names it).
      out[i] = { position: r.pos, receivedAt: r.received_at, event: JSON.parse(this.eventTexts([r], 'tolerant')[0]) as AccessEvent };
    }
    return out;
  }

  async lastPosition(): Promise<number> {
    // Partitions newest first, an older one read only if it may hold a later position (partition-reads.ts).
    return this.reads.inRead(() => this.reads.newestPosition(NOT_ACCESS_LOG)) ?? (this.selectLastPosition.get() as { pos: number }).pos;
  }

  async readIdsSince(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]> {
    const rows = this.reads.inRead(() => {
      const from = this.reads.source({ afterPos: afterPosition });
      return this.reads.statement(`SELECT pos, id FROM ${from} WHERE pos > ? AND ${NOT_ACCESS_LOG} ORDER BY pos LIMIT ?`).all(afterPosition, limit);
    }) as { pos: number; id: string }[];
    return rows.map((r) => ({ position: r.pos, id: r.id }));
  }

  async *stream(q: EventStreamQuery): AsyncIterable<StoredRecord[]> {
    const pageSize = q.pageSize ?? 1000;
    // Snapshot: nothing committed after the first page.
    const snapshot = (this.selectNewestPosition.get() as { pos: number }).pos;
    // Each page in a read transaction of its own, with the partitions it touches read there: a
    // partition dropped by retention between two pages is no longer named by the next one.
    let rows = this.reads.inRead(() => {
      const s = this.streamSql(q, snapshot);
      return this.reads.statement(s.first).all(...s.params, pageSize) as EventRow[];
    });
    while (rows.length > 0) {
      yield rows.map((r) => this.toStoredRecord(r));
      if (rows.length < pageSize || this.closed) return;
      const last = rows[rows.length - 1];
      rows = this.reads.inRead(() => {
        const s = this.streamSql(q, snapshot, last.occurred_ms);
        return this.reads.statement(s.next).all(...s.params, last.occurred_ms, last.occurred_ms, last.pos, pageSize) as EventRow[];
      });
    }
  }

  /**
   * The SQL of `stream`'s first and following pages (inside a read transaction: it reads the
   * partition catalog); `fromMs` is where the next page starts (it narrows the partitions read).
   */
  private streamSql(q: EventStreamQuery, snapshot?: number, atLeastMs?: number): { first: string; next: string; params: (string | number)[] } {
    const from = this.reads.source({ fromMs: q.fromMs, toMs: q.toMs, atLeastMs });
    const where: string[] = [];
    const params: (string | number)[] = [];
    this.patientFilter(q, from, where, params);
    if (q.actor !== undefined) (where.push('actor_id = ?'), params.push(q.actor));
    if (q.category !== undefined) (where.push('category = ?'), params.push(q.category));
    if (q.actions?.length) (where.push(`action IN (${q.actions.map(() => '?').join(',')})`), params.push(...q.actions));
    if (q.outcomes?.length) (where.push(`outcome IN (${q.outcomes.map(() => '?').join(',')})`), params.push(...q.outcomes));
    // The stored event text is RFC 8785 canonical JSON: quotes inside strings are escaped, so this
    // substring only ever matches the details key itself (instr is case-sensitive, unlike LIKE).
    if (q.breakGlass) where.push(`(action = 'break_glass' OR instr(event, '"breakGlass":true') > 0)`);
    if (q.excludeChain !== undefined) where.push(`chain <> ${chainLiteral(q.excludeChain)}`);
    if (q.fromMs !== undefined) (where.push('occurred_ms >= ?'), params.push(q.fromMs));
    if (q.toMs !== undefined) (where.push('occurred_ms < ?'), params.push(q.toMs));
    // Unary + keeps the planner on the patient / actor / time index (rows come out in
    // (occurred_ms, pos) order without sorting).
    where.push('+pos <= ?');
    params.push(snapshot ?? (this.selectNewestPosition.get() as { pos: number }).pos);
    const columns = `SELECT ${RECORD_COLUMNS} FROM ${from} WHERE `;
    const order = ' ORDER BY occurred_ms, pos LIMIT ?';
    return {
      first: columns + where.join(' AND ') + order,
      next: columns + [...where, 'occurred_ms >= ?', '(occurred_ms > ? OR +pos > ?)'].join(' AND ') + order,
      params,
    };
  }

  /** The embedded store is ready once its database is open (the migrations ran in openDatabase). */
  async init(): Promise<void> {}

  isReady(): boolean {
    return !this.closed && this.db.open;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.appendThread?.close();
    await this.walCheckpointer?.stop();
    if (this.db.open) this.db.close();
  }

  /**
   * The stored rows of a list of ids (`@ids`: a JSON array) in one table: through `UNIQUE (id)` or the
   * compact key's index, whichever the table has (idKeySql).
   */
  private receiptLookup(table: string) {
    let stmt = this.receiptLookups.get(table);
    if (!stmt) {
      stmt = this.db.prepare(
        `SELECT id, chain, seq, hash, event, sealed FROM ${table}
         WHERE ${idKeySql('id')} IN (SELECT ${idKeySql('value')} FROM json_each(@ids)) AND id IN (SELECT value FROM json_each(@ids))`,
      );
      this.receiptLookups.set(table, stmt);
    }
    return stmt;
  }

  /**
   * THE decode function: the canonical event JSON (exactly what the chain hash covers) of stored
   * rows, with their sealed fields decrypted and spliced back. Every read path calls it; a new read
   * method must select `event, sealed` and call it too. Modes: see DecodeMode ('view' for anything
   * shown to a caller: a tampered record must not be shown as if intact).
   */
  private eventTexts(rows: readonly EncodedEvent[], mode: DecodeMode): string[] {
    const out: string[] = new Array(rows.length);
    const unreadable = (row: EncodedEvent, err: unknown): string => {
      if (!(err instanceof SealedRecordError)) throw err;
      // A key id the keyring never listed was written by someone else: tampering, reported as such.
      // A listed key whose file is gone (or no keyring at all) is a set-up problem: say so.
      if (err.reason === 'unknown-key' && this.protection.dataKeys.lists(err.keyId!) !== false) throw new DataKeyUnavailableError(err.keyId!);
      if (mode === 'view') throw err;
      return row.event;
    };
    if (mode === 'verify') {
      const opened = this.codec.openForVerification(rows.map((r) => ({ storedJson: r.event, sealed: r.sealed })));
      for (let i = 0; i < rows.length; i++) {
        const o = opened[i];
        out[i] = typeof o === 'string' ? o : unreadable(rows[i], o);
      }
      return out;
    }
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (row.sealed === null) out[i] = row.event;
      else {
        try {
          out[i] = this.codec.open(row.event, row.sealed);
        } catch (err) {
          out[i] = unreadable(row, err);
        }
      }
    }
    return out;
  }

  /**
   * A row as returned by getById, query and stream (events, reports, patient histories, the access
   * log): its derived columns, which selected it, are recomputed from the hashed record first; a
   * mismatch throws DerivedColumnMismatchError rather than answer from a tampered index.
   */
  private toStoredRecord(row: EventRow): StoredRecord {
    const eventJson = this.eventTexts([row], 'view')[0];
    const event = JSON.parse(eventJson) as AccessEvent;
    const column = mismatchOf(event, row, this.tokens, row.sealed === null);
    if (column !== null) throw new DerivedColumnMismatchError(row.chain, row.seq, column);
    return {
      position: row.pos,
      chain: row.chain,
      seq: row.seq,
      receivedAt: row.received_at,
      event,
      eventJson,
      prevHash: row.prev_hash,
      hash: row.hash,
    };
  }

  /**
   * `patient` (an id) and `patientToken` both match the token in `patient_id`; an id also matches
   * rows written before field encryption, whose column still holds the id itself. `IN (token, id)`
   * would make SQLite sort every match of the patient on each page (no index order across two
   * keys), so one probe first tells whether such older rows exist at all; usually they do not.
   */
  private patientFilter(q: { patient?: string; patientToken?: string }, from: string, where: string[], params: (string | number)[]): void {
    if (q.patient !== undefined) {
      const token = this.protection.patientToken(q.patient);
      // Only the partitions the read touches can hold such rows for it.
      const legacy = token !== q.patient && this.reads.statement(`SELECT 1 FROM ${from} WHERE patient_id = ? LIMIT 1`).get(q.patient) !== undefined;
      if (legacy) (where.push('patient_id IN (?, ?)'), params.push(token, q.patient));
      else (where.push('patient_id = ?'), params.push(token));
    }
    if (q.patientToken !== undefined) (where.push('patient_id = ?'), params.push(q.patientToken));
  }
}

/** Adds the `sealed` column to a database created before field encryption (new ones have it). */
function ensureSealedColumn(db: SqliteDb): void {
  const columns = db.prepare('PRAGMA table_info(events)').all() as { name: string }[];
  if (columns.length === 0 || columns.some((c) => c.name === 'sealed')) return;
  if (db.readonly) throw new Error('the audit database predates field encryption; open it once read-write to upgrade it');
  db.exec('ALTER TABLE events ADD COLUMN sealed BLOB');
}

/** Detection and the position tail skip the service's own access log. */
const NOT_ACCESS_LOG = `chain <> '${ACCESS_LOG_CHAIN}'`;

function chainLiteral(chain: string): string {
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(chain)) throw new Error('chain ids are lower-case identifiers');
  return `'${chain}'`;
}
