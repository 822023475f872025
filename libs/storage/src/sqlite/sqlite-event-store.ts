/**
 * Embedded EventStore adapter on SQLite (better-sqlite3). Appends run in one transaction per
 * group commit; with WAL and synchronous=FULL the commit returns only once it is on disk.
 * The (chain, seq) uniqueness constraint fences racing writers; the id uniqueness constraint
 * backs idempotency.
 */
import { AccessEvent } from '@app/core';
import { ChainHead, ChainRow } from '@app/ledger';
import {
  ChainedRecord,
  EventPage,
  EventQuery,
  EventStore,
  SequenceConflictError,
  StoreUnavailableError,
  StoredReceipt,
  StoredRecord,
} from '../event-store.port';
import type Database from 'better-sqlite3';
import { SqliteDb } from './sqlite-database';

interface EventRow {
  pos: number;
  chain: string;
  seq: number;
  id: string;
  received_at: string;
  occurred_ms: number;
  event: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const ID_LOOKUP_CHUNK = 500;

export class SqliteEventStore implements EventStore {
  private readonly insertEvent;
  private readonly upsertHead;
  private readonly selectHeads;
  private readonly selectById;
  private readonly selectChains;
  private readonly countByChain;
  private readonly receiptLookups = new Map<number, Database.Statement<string[]>>();
  private readonly appendTx: (records: readonly ChainedRecord[]) => void;
  private closed = false;

  constructor(private readonly db: SqliteDb) {
    this.insertEvent = db.prepare(
      `INSERT INTO events (chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertHead = db.prepare(
      `INSERT INTO chain_heads (chain, seq, hash) VALUES (?, ?, ?)
       ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
    );
    this.selectHeads = db.prepare('SELECT chain, seq, hash FROM chain_heads');
    this.selectById = db.prepare('SELECT pos, chain, seq, id, received_at, occurred_ms, event, prev_hash, hash FROM events WHERE id = ?');
    this.selectChains = db.prepare('SELECT chain FROM chain_heads ORDER BY chain');
    this.countByChain = db.prepare('SELECT COUNT(*) AS n FROM events WHERE chain = ?');
    this.appendTx = db.transaction((records: readonly ChainedRecord[]) => {
      const heads = new Map<string, ChainedRecord>();
      for (const r of records) {
        const e = r.event;
        this.insertEvent.run(
          r.chain,
          r.seq,
          e.id,
          r.receivedAt,
          Date.parse(e.occurredAt),
          e.category,
          e.action,
          e.outcome,
          e.actor.id,
          e.patient?.id ?? null,
          r.eventJson,
          r.prevHash,
          r.hash,
        );
        heads.set(r.chain, r);
      }
      for (const r of heads.values()) this.upsertHead.run(r.chain, r.seq, r.hash);
    });
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
    for (let i = 0; i < ids.length; i += ID_LOOKUP_CHUNK) {
      const chunk = ids.slice(i, i + ID_LOOKUP_CHUNK);
      const rows = this.receiptLookup(chunk.length).all(...chunk) as { id: string; chain: string; seq: number; hash: Buffer; event: string }[];
      for (const r of rows) out.set(r.id, { id: r.id, chain: r.chain, seq: r.seq, hash: r.hash, eventJson: r.event });
    }
    return out;
  }

  async append(records: readonly ChainedRecord[]): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    if (records.length === 0) return;
    try {
      this.appendTx(records);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /events\.chain, events\.seq/.test(e.message ?? '')) {
        throw new SequenceConflictError(records[0].chain, records[0].seq);
      }
      throw new StoreUnavailableError(`append failed: ${e.code ?? 'unknown error'}`);
    }
  }

  async getById(id: string): Promise<StoredRecord | null> {
    const row = this.selectById.get(id) as EventRow | undefined;
    return row ? toStoredRecord(row) : null;
  }

  async query(q: EventQuery): Promise<EventPage> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.patient !== undefined) (where.push('patient_id = ?'), params.push(q.patient));
    if (q.actor !== undefined) (where.push('actor_id = ?'), params.push(q.actor));
    if (q.action !== undefined) (where.push('action = ?'), params.push(q.action));
    if (q.outcome !== undefined) (where.push('outcome = ?'), params.push(q.outcome));
    if (q.category !== undefined) (where.push('category = ?'), params.push(q.category));
    if (q.fromMs !== undefined) (where.push('occurred_ms >= ?'), params.push(q.fromMs));
    if (q.toMs !== undefined) (where.push('occurred_ms < ?'), params.push(q.toMs));
    if (q.after) {
      where.push('(occurred_ms < ? OR (occurred_ms = ? AND pos < ?))');
      params.push(q.after.occurredMs, q.after.occurredMs, q.after.position);
    }
    const sql =
      'SELECT pos, chain, seq, id, received_at, occurred_ms, event, prev_hash, hash FROM events' +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ' ORDER BY occurred_ms DESC, pos DESC LIMIT ?';
    params.push(q.limit + 1);
    const rows = this.db.prepare(sql).all(...params) as EventRow[];
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      records: page.map(toStoredRecord),
      next: rows.length > q.limit && last ? { occurredMs: last.occurred_ms, position: last.pos } : null,
    };
  }

  async chains(): Promise<string[]> {
    return (this.selectChains.all() as { chain: string }[]).map((r) => r.chain);
  }

  async countChain(chain: string): Promise<number> {
    return (this.countByChain.get(chain) as { n: number }).n;
  }

  async *readChain(chain: string, fromSeq: number, toSeq?: number, pageSize = 5000): AsyncIterable<ChainRow[]> {
    const stmt = this.db.prepare(
      'SELECT seq, received_at, event, prev_hash, hash FROM events WHERE chain = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
    );
    let next = fromSeq;
    const end = toSeq ?? Number.MAX_SAFE_INTEGER;
    for (;;) {
      const rows = stmt.all(chain, next, end, pageSize) as { seq: number; received_at: string; event: string; prev_hash: Buffer; hash: Buffer }[];
      if (rows.length === 0) return;
      yield rows.map((r) => ({ seq: r.seq, receivedAt: r.received_at, eventJson: r.event, prevHash: r.prev_hash, hash: r.hash }));
      if (rows.length < pageSize) return;
      next = rows[rows.length - 1].seq + 1;
    }
  }

  isReady(): boolean {
    return !this.closed && this.db.open;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.db.open) this.db.close();
  }

  private receiptLookup(n: number) {
    let stmt = this.receiptLookups.get(n);
    if (!stmt) {
      stmt = this.db.prepare<string[]>(`SELECT id, chain, seq, hash, event FROM events WHERE id IN (${new Array(n).fill('?').join(',')})`);
      this.receiptLookups.set(n, stmt);
    }
    return stmt;
  }
}

function toStoredRecord(row: EventRow): StoredRecord {
  return {
    position: row.pos,
    chain: row.chain,
    seq: row.seq,
    receivedAt: row.received_at,
    event: JSON.parse(row.event) as AccessEvent,
    eventJson: row.event,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
