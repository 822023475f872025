/**
 * The warm tier of the embedded store, and the EventStore that reads hot and warm as one.
 *
 * Warm records (past their category's hot window, moved by the retention runner) live in
 * `warm_events`: one row per record with only the columns queries, reports and legal holds filter
 * on (chain, seq, id, times, category, action, outcome, actor, patient TOKEN) and the record itself
 * as one deflate-compressed blob holding the stored text and the sealed-field ciphertext exactly as
 * hot keeps them (patient.id and actor.ip stay encrypted, `patient_id` stays the keyed-HMAC token).
 * Records restored from a cold archive (`restored = 1`) are queryable the same way but lie below
 * the chain's purged prefix, so chain verification does not read them (the restore verified them
 * against the archive's signed checkpoints).
 *
 * TieredSqliteEventStore answers `query`, `stream`, `getById`, `findReceipts`, `readChain`,
 * `countChain` and the position tail (`readSince`, `lastPosition`, `readIdsSince`) from both tiers (merged in the hot store's order and cursor, positions are kept when
 * a record moves), so `GET /v1/events`, reports and `verify` see the same records wherever they are.
 * Writes go to hot only. A database without the warm table (older, or opened read-only before any
 * run) reads as an empty warm tier.
 */
import { inflateRawSync, deflateRawSync } from 'node:zlib';
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { ChainRow } from '@app/ledger';
import { EventPage, EventQuery, EventStreamQuery, EventTimeRange, PositionedEvent, StoredReceipt, StoredRecord } from '../event-store.port';
import { SqliteDb } from './sqlite-database';
import type { FieldProtection } from '../field-protection.port';
import { SealedFieldCodec } from './sealed-fields';
import { SqliteEventStore } from './sqlite-event-store';
import type { AppendOptions } from './sqlite-append';
import { DERIVED_COLUMNS_SQL } from './derived-columns-sql';
import { DerivedColumnMismatchError, DerivedColumns, mismatchOf, withColumnCheck } from '../derived-columns';

export const WARM_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS warm_events (
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
  record       BLOB    NOT NULL,
  prev_hash    BLOB    NOT NULL,
  hash         BLOB    NOT NULL,
  restored     INTEGER NOT NULL DEFAULT 0,
  archive_id   TEXT,
  UNIQUE (chain, seq),
  UNIQUE (id)
);
CREATE INDEX IF NOT EXISTS warm_by_actor   ON warm_events (actor_id, occurred_ms);
CREATE INDEX IF NOT EXISTS warm_by_patient ON warm_events (patient_id, occurred_ms) WHERE patient_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS warm_by_time    ON warm_events (occurred_ms);

CREATE TRIGGER IF NOT EXISTS warm_events_are_immutable BEFORE UPDATE ON warm_events
BEGIN SELECT RAISE(ABORT, 'audit events are immutable'); END;
`;

/** Stored text and sealed blob of a record, as hot keeps them, compressed into one blob. */
export function encodeWarmRecord(storedJson: string, sealed: Buffer | null): Buffer {
  return deflateRawSync(Buffer.from(JSON.stringify([storedJson, sealed ? sealed.toString('base64') : null]), 'utf8'));
}

export function decodeWarmRecord(blob: Buffer): { event: string; sealed: Buffer | null } {
  const [event, sealed] = JSON.parse(inflateRawSync(blob).toString('utf8')) as [string, string | null];
  return { event, sealed: sealed === null ? null : Buffer.from(sealed, 'base64') };
}

export function hasWarmTable(db: SqliteDb): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'warm_events'").get() !== undefined;
}

interface WarmRow {
  pos: number;
  chain: string;
  seq: number;
  id: string;
  received_at: string;
  occurred_ms: number;
  record: Buffer;
  prev_hash: Buffer;
  hash: Buffer;
  category: string;
  action: string;
  outcome: string;
  actor_id: string;
  patient_id: string | null;
}

/** With the derived columns each returned record is re-checked against (toRecord). */
const WARM_COLUMNS = 'pos, chain, seq, id, received_at, occurred_ms, record, prev_hash, hash, category, action, outcome, actor_id, patient_id';

const occurredMs = (r: StoredRecord): number => Date.parse(r.event.occurredAt);

/**
 * Positions of records restored from a cold archive start here (the retention runner allocates
 * them from this constant): far above any commit position, so they never collide.
 */
export const RESTORED_POSITION_BASE = 4_000_000_000_000_000;

export class TieredSqliteEventStore extends SqliteEventStore {
  private readonly warmCodec: SealedFieldCodec;
  private warmKnown = false;
  private warmTableProbe: { get(): unknown } | null = null;
  private warmRowProbe: { get(): unknown } | null = null;

  constructor(
    private readonly warmDb: SqliteDb,
    private readonly warmProtection: FieldProtection,
    appendOptions: AppendOptions = {},
  ) {
    super(warmDb, warmProtection, appendOptions);
    this.warmCodec = new SealedFieldCodec(warmProtection.dataKeys);
  }

  /**
   * True when the warm tier holds anything (cheap: one probe). Asked on every group commit and every
   * detection read, so both probes are statements prepared once (preparing them each time was most
   * of the cost); the table may be created later by another connection (the retention runner).
   */
  private warm(): boolean {
    if (!this.warmKnown) {
      this.warmTableProbe ??= this.warmDb.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'warm_events'");
      this.warmKnown = this.warmTableProbe.get() !== undefined;
      if (!this.warmKnown) return false;
    }
    this.warmRowProbe ??= this.warmDb.prepare('SELECT 1 FROM warm_events LIMIT 1');
    return this.warmRowProbe.get() !== undefined;
  }

  /** A warm row as returned by queries, its derived columns re-checked against its record (as in the hot tier). */
  private toRecord(row: WarmRow): StoredRecord {
    const { event, sealed } = decodeWarmRecord(row.record);
    const eventJson = this.warmCodec.open(event, sealed);
    const parsed = JSON.parse(eventJson) as AccessEvent;
    const column = mismatchOf(parsed, row, this.tokens, sealed === null);
    if (column !== null) throw new DerivedColumnMismatchError(row.chain, row.seq, column);
    return {
      position: row.pos,
      chain: row.chain,
      seq: row.seq,
      receivedAt: row.received_at,
      event: parsed,
      eventJson,
      prevHash: row.prev_hash,
      hash: row.hash,
    };
  }

  private filters(q: Omit<EventQuery, 'limit' | 'after'> & { actions?: readonly string[]; outcomes?: readonly string[] }): { where: string[]; params: (string | number)[] } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.patient !== undefined) (where.push('patient_id = ?'), params.push(this.warmProtection.patientToken(q.patient)));
    if (q.patientToken !== undefined) (where.push('patient_id = ?'), params.push(q.patientToken));
    if (q.actor !== undefined) (where.push('actor_id = ?'), params.push(q.actor));
    // Actions are an open vocabulary: a filter matches them in any case (READ finds read).
    if (q.action !== undefined) (where.push('action = ? COLLATE NOCASE'), params.push(q.action));
    if (q.actions?.length) (where.push(`action IN (${q.actions.map(() => '?').join(',')})`), params.push(...q.actions));
    if (q.chain !== undefined) (where.push('chain = ?'), params.push(q.chain));
    if (q.excludeChain !== undefined) (where.push('chain <> ?'), params.push(q.excludeChain));
    if (q.outcome !== undefined) (where.push('outcome = ?'), params.push(q.outcome));
    if (q.outcomes?.length) (where.push(`outcome IN (${q.outcomes.map(() => '?').join(',')})`), params.push(...q.outcomes));
    if (q.category !== undefined) (where.push('category = ?'), params.push(q.category));
    if (q.fromMs !== undefined) (where.push('occurred_ms >= ?'), params.push(q.fromMs));
    if (q.toMs !== undefined) (where.push('occurred_ms < ?'), params.push(q.toMs));
    return { where, params };
  }

  override async getById(id: string): Promise<StoredRecord | null> {
    const hot = await super.getById(id);
    if (hot || !this.warm()) return hot;
    const row = this.reads.statement(`SELECT ${WARM_COLUMNS} FROM warm_events WHERE id = ?`).get(id) as WarmRow | undefined;
    return row ? this.toRecord(row) : null;
  }

  /** Hot's unique id index covers every stored id only while the warm tier is empty. */
  override refusesStoredIds(): boolean {
    return !this.warm();
  }

  override async findReceipts(ids: readonly string[]): Promise<Map<string, StoredReceipt>> {
    const out = await super.findReceipts(ids);
    if (out.size === ids.length || !this.warm()) return out;
    const stmt = this.reads.statement(`SELECT ${WARM_COLUMNS} FROM warm_events WHERE id = ?`);
    for (const id of ids) {
      if (out.has(id)) continue;
      const row = stmt.get(id) as WarmRow | undefined;
      if (row) {
        const r = this.toRecord(row);
        out.set(id, { id, chain: r.chain, seq: r.seq, hash: r.hash, eventJson: r.eventJson });
      }
    }
    return out;
  }

  /** Newest first, hot and warm merged on (occurred_ms, pos) — the hot store's cursor. */
  override async query(q: EventQuery): Promise<EventPage> {
    const hot = await super.query(q);
    if (!this.warm()) return hot;
    const { where, params } = this.filters(q);
    if (q.after) {
      where.push('(occurred_ms < ? OR (occurred_ms = ? AND pos < ?))');
      params.push(q.after.occurredMs, q.after.occurredMs, q.after.position);
    }
    const rows = this.reads
      .statement(`SELECT ${WARM_COLUMNS} FROM warm_events${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY occurred_ms DESC, pos DESC LIMIT ?`)
      .all(...params, q.limit + 1) as WarmRow[];
    if (rows.length === 0) return hot;
    const merged = [...hot.records, ...rows.map((r) => this.toRecord(r))].sort((a, b) => occurredMs(b) - occurredMs(a) || b.position - a.position);
    const page = merged.slice(0, q.limit);
    const more = hot.next !== null || merged.length > q.limit;
    const last = page[page.length - 1];
    return { records: page, next: more && last ? { occurredMs: occurredMs(last), position: last.position } : null };
  }

  /** Oldest first, hot and warm merged on (occurred_ms, pos), in pages. */
  override async *stream(q: EventStreamQuery): AsyncIterable<StoredRecord[]> {
    if (!this.warm()) {
      yield* super.stream(q);
      return;
    }
    const pageSize = q.pageSize ?? 1000;
    const hot = flatten(super.stream(q));
    const warm = flatten(this.warmStream(q, pageSize));
    let a = await hot.next();
    let b = await warm.next();
    let page: StoredRecord[] = [];
    while (!a.done || !b.done) {
      let takeHot: boolean;
      if (a.done) takeHot = false;
      else if (b.done) takeHot = true;
      else {
        const d = occurredMs(a.value) - occurredMs(b.value);
        takeHot = d < 0 || (d === 0 && a.value.position < b.value.position);
      }
      if (takeHot) {
        page.push(a.value as StoredRecord);
        a = await hot.next();
      } else {
        page.push(b.value as StoredRecord);
        b = await warm.next();
      }
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  private async *warmStream(q: EventStreamQuery, pageSize: number): AsyncIterable<StoredRecord[]> {
    const { where, params } = this.filters(q);
    const base = `SELECT ${WARM_COLUMNS} FROM warm_events WHERE `;
    const cond = where.length ? where : ['1 = 1'];
    const first = this.reads.statement(base + cond.join(' AND ') + ' ORDER BY occurred_ms, pos LIMIT ?');
    const next = this.reads.statement(base + [...cond, '(occurred_ms > ? OR (occurred_ms = ? AND pos > ?))'].join(' AND ') + ' ORDER BY occurred_ms, pos LIMIT ?');
    let rows = first.all(...params, pageSize) as WarmRow[];
    while (rows.length > 0) {
      let records = rows.map((r) => this.toRecord(r));
      // Break-glass is a text match in hot; here the decoded event says it.
      if (q.breakGlass) records = records.filter((r) => r.event.action === 'break_glass' || r.event.details?.breakGlass === true);
      yield records;
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1];
      rows = next.all(...params, last.occurred_ms, last.occurred_ms, last.pos, pageSize) as WarmRow[];
    }
  }

  /**
   * Hot and warm merged in position order (a record keeps its position when it moves to warm), so
   * a backfill (`auditctl detect --from`) replays warm records too. Restored records are left out:
   * they lie below the purged prefix, were evaluated when first committed, and carry positions
   * above every commit (RESTORED_POSITION_BASE), which would otherwise look like the newest ones.
   */
  override async readSince(afterPosition: number, limit: number, range?: EventTimeRange): Promise<PositionedEvent[]> {
    const hot = await super.readSince(afterPosition, limit, range);
    if (!this.warm()) return hot;
    const where = ['pos > ?', 'pos < ?', 'restored = 0', 'chain <> ?'];
    const params: (string | number)[] = [afterPosition, RESTORED_POSITION_BASE, ACCESS_LOG_CHAIN];
    // Unary + keeps the planner on the primary key (position order) instead of the time index.
    if (range?.fromMs !== undefined) (where.push('+occurred_ms >= ?'), params.push(range.fromMs));
    if (range?.toMs !== undefined) (where.push('+occurred_ms < ?'), params.push(range.toMs));
    const rows = this.reads.statement(`SELECT ${WARM_COLUMNS} FROM warm_events WHERE ${where.join(' AND ')} ORDER BY pos LIMIT ?`).all(...params, limit) as WarmRow[];
    if (rows.length === 0) return hot;
    const warm = rows.map((row): PositionedEvent => {
      const { event, sealed } = decodeWarmRecord(row.record);
      let text = event;
      try {
        text = this.warmCodec.open(event, sealed);
      } catch {
        // As in hot: detection must not stall on one unreadable record (verification names it).
      }
      return { position: row.pos, receivedAt: row.received_at, event: JSON.parse(text) as AccessEvent };
    });
    return [...hot, ...warm].sort((a, b) => a.position - b.position).slice(0, limit);
  }

  override async lastPosition(): Promise<number> {
    const hot = await super.lastPosition();
    if (!this.warm()) return hot;
    const row = this.reads
      .statement('SELECT COALESCE((SELECT pos FROM warm_events WHERE pos < ? AND restored = 0 AND chain <> ? ORDER BY pos DESC LIMIT 1), -1) AS pos')
      .get(RESTORED_POSITION_BASE, ACCESS_LOG_CHAIN) as { pos: number };
    return Math.max(hot, row.pos);
  }

  override async readIdsSince(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]> {
    const hot = await super.readIdsSince(afterPosition, limit);
    if (!this.warm()) return hot;
    const rows = this.reads
      .statement('SELECT pos, id FROM warm_events WHERE pos > ? AND pos < ? AND restored = 0 AND chain <> ? ORDER BY pos LIMIT ?')
      .all(afterPosition, RESTORED_POSITION_BASE, ACCESS_LOG_CHAIN, limit) as { pos: number; id: string }[];
    if (rows.length === 0) return hot;
    return [...hot, ...rows.map((r) => ({ position: r.pos, id: r.id }))].sort((a, b) => a.position - b.position).slice(0, limit);
  }

  /** Warm records of the chain (not restored ones: those lie below the purged prefix), then hot. */
  override async *readChain(chain: string, fromSeq: number, toSeq?: number, pageSize = 5000): AsyncIterable<ChainRow[]> {
    let next = fromSeq;
    const end = toSeq ?? Number.MAX_SAFE_INTEGER;
    if (this.warm()) {
      const stmt = this.reads.statement(
        `SELECT seq, received_at, record, prev_hash, hash, ${DERIVED_COLUMNS_SQL} FROM warm_events WHERE chain = ? AND seq >= ? AND seq <= ? AND restored = 0 ORDER BY seq LIMIT ?`,
      );
      for (;;) {
        const rows = stmt.all(chain, next, end, pageSize) as ({ seq: number; received_at: string; record: Buffer; prev_hash: Buffer; hash: Buffer } & DerivedColumns)[];
        if (rows.length === 0) break;
        const decoded = rows.map((r) => decodeWarmRecord(r.record));
        const texts = this.warmCodec.openForVerification(decoded.map((d) => ({ storedJson: d.event, sealed: d.sealed })));
        // An unreadable record hashes as its stored text: verification reports it as modified.
        // The warm row's own columns (what warm queries filter on) are checked against the record too.
        yield rows.map((r, i) =>
          withColumnCheck(
            { seq: r.seq, receivedAt: r.received_at, eventJson: typeof texts[i] === 'string' ? (texts[i] as string) : decoded[i].event, prevHash: r.prev_hash, hash: r.hash },
            r,
            this.tokens,
            decoded[i].sealed === null,
          ),
        );
        next = rows[rows.length - 1].seq + 1;
        if (rows.length < pageSize) break;
      }
    }
    if (next <= end) yield* super.readChain(chain, next, toSeq, pageSize);
  }

  override async countChain(chain: string): Promise<number> {
    const hot = await super.countChain(chain);
    if (!this.warm()) return hot;
    return hot + (this.reads.statement('SELECT COUNT(*) AS n FROM warm_events WHERE chain = ? AND restored = 0').get(chain) as { n: number }).n;
  }
}

async function* flatten<T>(pages: AsyncIterable<T[]>): AsyncGenerator<T, void, undefined> {
  for await (const page of pages) for (const item of page) yield item;
}
