/**
 * The embedded ContextStore: one sealed row per request in `context_batches`, versions read back in
 * the order received after the one-version rows an earlier build wrote to `context_versions`, and
 * nothing of the records readable in the database file.
 */
import Database from 'better-sqlite3';
import { createSecretKey, randomBytes } from 'node:crypto';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { ContextVersion } from './context-records';
import { SqliteContextStore, createContextTables } from './sqlite-context-store';

const key = createSecretKey(randomBytes(32));
const sealer = new SealedText({ current: () => ({ keyId: 'dk-1', key }), byId: (id) => (id === 'dk-1' ? key : undefined), lists: (id) => id === 'dk-1' });
const v = (i: number, receivedAtMs: number): ContextVersion => ({ kind: 'users', validFromMs: 1000 + i, receivedAtMs, record: { id: `u-sqlite-${i}`, status: 'active', department: 'secret-ward' } });

describe('SqliteContextStore', () => {
  it('stores one sealed row per request and reads earlier one-version rows first', async () => {
    const db = new Database(':memory:');
    createContextTables(db);
    const legacy = v(0, 10);
    db.prepare('INSERT INTO context_versions (kind, valid_from, received_at, record) VALUES (?, ?, ?, ?)').run('users', legacy.validFromMs, 10, sealer.seal(JSON.stringify(legacy.record)));
    const store = new SqliteContextStore(db, sealer);
    await store.append([v(1, 20), v(2, 20), v(3, 20)]);
    await store.append([v(4, 30)]);
    expect(db.prepare('SELECT received_at, count FROM context_batches ORDER BY seq').all()).toEqual([
      { received_at: 20, count: 3 },
      { received_at: 30, count: 1 },
    ]);
    const raw = Buffer.concat((db.prepare('SELECT versions FROM context_batches').all() as { versions: Buffer }[]).map((r) => r.versions));
    expect(raw.includes('u-sqlite')).toBe(false);
    expect(raw.includes('secret-ward')).toBe(false);
    const read: ContextVersion[] = [];
    await store.scan((batch) => read.push(...batch), 2);
    expect(read).toEqual([legacy, v(1, 20), v(2, 20), v(3, 20), v(4, 30)]);
    db.close();
  });
});
