/**
 * SqliteEventStore.stream, the paged read behind reports, on a real database: oldest first by
 * event time then position (also across pages with equal times), every filter, the snapshot
 * (records committed after the first page are not read), and that it never asks SQLite to sort.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { embeddedFieldProtection } from '@app/security';
import { EventStreamQuery, StoredRecord } from '../event-store.port';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('SqliteEventStore.stream', () => {
  let dir: string;
  let db: SqliteDb;
  let store: SqliteEventStore;
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  let n = 0;

  async function append(events: Partial<AccessEvent>[]): Promise<void> {
    const records = events.map((over) => {
      const event: AccessEvent = {
        id: id(n++),
        occurredAt: '2026-01-01T00:00:00.000Z',
        category: 'data_access',
        action: 'read',
        outcome: 'success',
        actor: { id: 'dr-a', type: 'user' },
        patient: { id: 'P1' },
        source: { system: 'ehr' },
        ...over,
      };
      const chain = event.category;
      const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
      const eventJson = canonicalize(event);
      const hash = recordHash(head.hash, chain, head.seq + 1, '2026-01-02T00:00:00.000Z', eventJson);
      heads.set(chain, { seq: head.seq + 1, hash });
      return { chain, seq: head.seq + 1, receivedAt: '2026-01-02T00:00:00.000Z', event, eventJson, prevHash: head.hash, hash };
    });
    await store.append(records);
  }

  async function all(q: EventStreamQuery): Promise<{ pages: number; ids: string[] }> {
    let pages = 0;
    const ids: string[] = [];
    for await (const page of store.stream!(q)) {
      pages++;
      ids.push(...page.map((r: StoredRecord) => r.event.id));
    }
    return { pages, ids };
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-stream-'));
    db = openDatabase(dir);
    store = new SqliteEventStore(db, embeddedFieldProtection({ dataDir: dir }));
    await append([
      { occurredAt: '2026-01-03T00:00:00.000Z' }, // 0
      { occurredAt: '2026-01-01T00:00:00.000Z' }, // 1
      { occurredAt: '2026-01-02T00:00:00.000Z', outcome: 'denied' }, // 2
      { occurredAt: '2026-01-02T00:00:00.000Z', actor: { id: 'dr-b', type: 'user' } }, // 3 (same time as 2)
      { occurredAt: '2026-01-02T00:00:00.000Z', patient: { id: 'P2' }, action: 'break_glass', category: 'security' }, // 4
      { occurredAt: '2026-01-04T00:00:00.000Z', patient: { id: 'P2' }, details: { breakGlass: true } }, // 5
      { occurredAt: '2026-01-04T00:00:00.000Z', patient: undefined, category: 'authentication', action: 'login', outcome: 'failure' }, // 6
      { occurredAt: '2026-01-05T00:00:00.000Z', details: { note: '"breakGlass":true' } }, // 7: the text, not the flag
    ]);
  });
  afterAll(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('yields every record oldest first (event time, then position), page by page', async () => {
    expect(await all({ pageSize: 2 })).toEqual({ pages: 4, ids: [1, 2, 3, 4, 0, 5, 6, 7].map(id) });
    expect((await all({ pageSize: 3 })).ids).toEqual([1, 2, 3, 4, 0, 5, 6, 7].map(id));
    expect(await all({ pageSize: 100 })).toEqual({ pages: 1, ids: [1, 2, 3, 4, 0, 5, 6, 7].map(id) });
  });

  it('filters: patient (id or token), actor, outcomes, break-glass, time range, excluded chain', async () => {
    expect((await all({ patient: 'P1', pageSize: 1 })).ids).toEqual([1, 2, 3, 0, 7].map(id));
    expect((await all({ patientToken: embeddedFieldProtection({ dataDir: dir }).patientToken('P2') })).ids).toEqual([4, 5].map(id));
    expect((await all({ actor: 'dr-b' })).ids).toEqual([id(3)]);
    expect((await all({ outcomes: ['failure', 'denied'] })).ids).toEqual([2, 6].map(id));
    expect((await all({ breakGlass: true })).ids).toEqual([4, 5].map(id));
    expect((await all({ fromMs: Date.parse('2026-01-02T00:00:00Z'), toMs: Date.parse('2026-01-04T00:00:00Z'), pageSize: 2 })).ids).toEqual([2, 3, 4, 0].map(id));
    expect((await all({ excludeChain: 'security', patient: 'P2' })).ids).toEqual([id(5)]);
    expect((await all({ patient: 'nobody' })).ids).toEqual([]);
  });

  it('is a snapshot: records committed after the first page are not read', async () => {
    const it = store.stream!({ pageSize: 2 })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value.map((r: StoredRecord) => r.event.id)).toEqual([1, 2].map(id));
    await append([{ occurredAt: '2026-01-09T00:00:00.000Z' }]);
    const rest: string[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(...r.value.map((x: StoredRecord) => x.event.id));
    expect(rest).toEqual([3, 4, 0, 5, 6, 7].map(id));
    expect((await all({})).ids).toContain(id(8));
  });

  it('reads in index order: SQLite never sorts a report', () => {
    const plan = (sql: string, ...params: unknown[]) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('; ');
    const cols = 'SELECT pos FROM events WHERE ';
    const order = ' AND +pos <= 100 ORDER BY occurred_ms, pos LIMIT 10';
    expect(plan(`${cols}patient_id = ?${order}`, 'x')).not.toMatch(/TEMP B-TREE/);
    expect(plan(`${cols}actor_id = ? AND occurred_ms >= 0 AND (occurred_ms > 0 OR +pos > 0)${order}`, 'x')).not.toMatch(/TEMP B-TREE/);
    expect(plan(`${cols}outcome IN ('failure','denied')${order}`)).not.toMatch(/TEMP B-TREE/);
  });
});
