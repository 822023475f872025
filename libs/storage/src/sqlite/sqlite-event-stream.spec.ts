/**
 * SqliteEventStore.stream, the paged read behind reports: it never asks SQLite to sort (the rows
 * come out of an index in (occurred_ms, pos) order). What every store's stream does (order, pages,
 * filters, the snapshot) is the EventStore contract (test/contracts/event-store.contract.ts), run
 * on this adapter too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inMemoryFieldProtection } from '../../../../test/fakes/in-memory-field-protection';
import { SqliteDb, openDatabase } from './sqlite-database';
import { SqliteEventStore } from './sqlite-event-store';

describe('SqliteEventStore.stream', () => {
  let dir: string;
  let db: SqliteDb;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-stream-'));
    db = openDatabase(dir);
    new SqliteEventStore(db, inMemoryFieldProtection());
  });
  afterAll(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
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
