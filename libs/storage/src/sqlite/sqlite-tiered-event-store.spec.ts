/**
 * TieredSqliteEventStore on a real database: with part of each chain moved to warm (as the
 * retention runner moves it: same row, compressed, hot row deleted), every read answers exactly as
 * it did when all records were hot: query pages and cursors, stream order and filters, getById,
 * receipts, readChain (verification), counts and the position tail (readSince, lastPosition,
 * readIdsSince: detection backfill). Warm rows keep patient ids sealed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { inMemoryFieldProtection } from '../../../../test/fakes/in-memory-field-protection';
import { EventQuery, EventStreamQuery } from '../event-store.port';
import { SqliteDb, openDatabase } from './sqlite-database';
import { RESTORED_POSITION_BASE, TieredSqliteEventStore, WARM_SCHEMA_SQL, encodeWarmRecord } from './sqlite-tiered-event-store';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('TieredSqliteEventStore', () => {
  let dir: string;
  let db: SqliteDb;
  let store: TieredSqliteEventStore;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tiered-store-'));
    db = openDatabase(dir);
    store = new TieredSqliteEventStore(db, inMemoryFieldProtection());
    // Two chains, 12 records each; event times interleave and repeat (cursor ties on time).
    for (const chain of ['data_access', 'authentication'] as const) {
      let prev = GENESIS_HASH;
      const records = Array.from({ length: 12 }, (_, seq) => {
        const n = (chain === 'data_access' ? 0 : 100) + seq;
        const event: AccessEvent = {
          id: id(n),
          occurredAt: `2026-01-${String(1 + (seq % 5)).padStart(2, '0')}T00:00:00.000Z`,
          category: chain,
          action: seq % 4 === 0 ? 'break_glass' : 'read',
          outcome: seq % 3 === 0 ? 'denied' : 'success',
          actor: { id: `dr-${seq % 2}`, type: 'user', ip: '10.0.0.1' },
          patient: { id: `P-SECRET-${seq % 3}` },
          source: { system: 'ehr' },
        };
        const eventJson = canonicalize(event);
        const receivedAt = `2026-01-10T00:00:${String(seq).padStart(2, '0')}.000Z`;
        const hash = recordHash(prev, chain, seq, receivedAt, eventJson);
        const r = { chain, seq, receivedAt, event, eventJson, prevHash: prev, hash };
        prev = hash;
        return r;
      });
      await store.append(records);
    }
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Moves seq < n of every chain to warm the way the retention runner does (row for row). */
  function moveToWarm(n: number): void {
    db.exec(WARM_SCHEMA_SQL);
    db.exec('DROP TRIGGER IF EXISTS events_are_never_deleted'); // the runner's own exception is tested in libs/retention
    const rows = db.prepare('SELECT * FROM events WHERE seq < ?').all(n) as Record<string, unknown>[];
    const insert = db.prepare(
      `INSERT INTO warm_events (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, record, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    db.transaction(() => {
      for (const r of rows) {
        insert.run(r.pos, r.chain, r.seq, r.id, r.received_at, r.occurred_ms, r.category, r.action, r.outcome, r.actor_id, r.patient_id, encodeWarmRecord(r.event as string, r.sealed as Buffer | null), r.prev_hash, r.hash);
      }
      db.prepare('DELETE FROM events WHERE seq < ?').run(n);
    })();
  }

  async function snapshot(): Promise<unknown> {
    const pages = async (q: Omit<EventQuery, 'limit' | 'after'>) => {
      const out: string[][] = [];
      let after: EventQuery['after'];
      do {
        const page = await store.query({ ...q, limit: 4, after });
        out.push(page.records.map((r) => `${r.event.id}@${r.position}`));
        after = page.next ?? undefined;
      } while (after);
      return out;
    };
    const stream = async (q: EventStreamQuery) => {
      const ids: string[] = [];
      for await (const page of store.stream(q)) ids.push(...page.map((r) => r.event.id));
      return ids;
    };
    const chain = async (c: string, from: number) => {
      const rows: string[] = [];
      for await (const page of store.readChain(c, from, undefined, 5)) rows.push(...page.map((r) => `${r.seq}:${r.hash.toString('hex').slice(0, 8)}:${r.eventJson.length}`));
      return rows;
    };
    return {
      all: await pages({}),
      patient: await pages({ patient: 'P-SECRET-1' }),
      actorDenied: await pages({ actor: 'dr-0', outcome: 'denied' }),
      window: await pages({ fromMs: Date.parse('2026-01-02T00:00:00Z'), toMs: Date.parse('2026-01-04T00:00:00Z'), category: 'data_access' }),
      stream: await stream({ pageSize: 5 }),
      streamBreakGlass: await stream({ breakGlass: true, pageSize: 2 }),
      streamActions: await stream({ actions: ['read'], outcomes: ['denied'], patient: 'P-SECRET-0' }),
      byId: (await store.getById(id(3)))?.eventJson,
      receipts: [...(await store.findReceipts([id(2), id(105), id(999)])).entries()].map(([k, v]) => [k, v.chain, v.seq, v.eventJson]),
      chainFrom0: await chain('data_access', 0),
      chainFrom7: await chain('authentication', 7),
      count: await store.countChain('data_access'),
      ...(await tail()),
    };
  }

  /** The position tail detection and backfill read (readSince / lastPosition / readIdsSince). */
  async function tail(): Promise<Record<string, unknown>> {
    const paged: string[] = [];
    for (let after = -1, page = await store.readSince(after, 5); page.length > 0; after = page[page.length - 1].position, page = await store.readSince(after, 5)) {
      paged.push(...page.map((r) => `${r.event.id}@${r.position}:${r.event.patient?.id}`));
    }
    return {
      tailPaged: paged,
      tailInRange: (await store.readSince(-1, 100, { fromMs: Date.parse('2026-01-02T00:00:00Z'), toMs: Date.parse('2026-01-04T00:00:00Z') })).map((r) => `${r.event.id}@${r.position}`),
      tailIds: await store.readIdsSince(3, 6),
      lastPosition: await store.lastPosition(),
    };
  }

  it('answers every read the same after records move to warm, with patient ids still sealed at rest', async () => {
    const hot = await snapshot();
    moveToWarm(7);
    expect((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n).toBe(10);
    expect(await snapshot()).toEqual(hot);
    for (const r of db.prepare('SELECT patient_id, record FROM warm_events').all() as { patient_id: string; record: Buffer }[]) {
      expect(r.patient_id).toMatch(/^ptk_/);
      expect(inflateRawSync(r.record).toString('utf8')).not.toMatch(/P-SECRET|10\.0\.0\.1/);
    }
    moveToWarm(12); // everything warm
    expect(await snapshot()).toEqual(hot);
  });

  it('leaves restored records out of the position tail (they sit above every commit position)', async () => {
    const before = await tail();
    const row = db.prepare('SELECT * FROM warm_events WHERE seq = 0 AND chain = ?').get('data_access') as Record<string, unknown>;
    db.prepare(
      `INSERT INTO warm_events (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, record, prev_hash, hash, restored)
       VALUES (?, 'restored_chain', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
    ).run(RESTORED_POSITION_BASE + 1, id(900), row.received_at, row.occurred_ms, row.category, row.action, row.outcome, row.actor_id, row.patient_id, row.record, row.prev_hash, row.hash);
    expect(await tail()).toEqual(before);
  });
});
