/**
 * ChainWriter idempotency over the embedded store the service runs (TieredSqliteEventStore on a real
 * database file). The writer appends without looking ids up first when the store refuses stored ids
 * itself (its unique id index); these specs pin down that a repeated id still gets its original
 * receipt, is stored once, and that other requests sharing the group are not affected, also when the
 * id has moved to the warm tier (which the hot index does not cover).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AccessEvent, ProblemError, Receipt } from '@app/core';
import { canonicalize } from '@app/ledger';
import { embeddedFieldProtection } from '@app/security';
import { SqliteDb, TieredSqliteEventStore, WARM_SCHEMA_SQL, encodeWarmRecord, openDatabase } from '@app/storage';
import { ChainWriter } from './chain-writer';
import { IntegrityService } from './integrity.service';

function event(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-writer', type: 'user', ip: '10.9.8.7' },
    patient: { id: 'MRN-WRITER-1' },
    source: { system: 'ehr', integration: 'ehr' },
    ...overrides,
  };
}

const canonical = (e: AccessEvent) => ({ event: e, json: canonicalize(e) });

describe('ChainWriter idempotency on the embedded store', () => {
  let dir: string;
  let db: SqliteDb;
  let store: TieredSqliteEventStore;
  let writer: ChainWriter;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chain-writer-'));
    db = openDatabase(dir);
    store = new TieredSqliteEventStore(db, embeddedFieldProtection({ dataDir: dir }));
    writer = new ChainWriter(store, { maxGroupEvents: 1000 });
    await writer.start();
  });
  afterEach(async () => {
    await writer.drain();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stored = () => (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  const seqs = () => (db.prepare("SELECT seq FROM events WHERE chain = 'data_access' ORDER BY seq").all() as { seq: number }[]).map((r) => r.seq);

  async function verified(): Promise<void> {
    const report = await new IntegrityService(store).verify();
    expect(report).toMatchObject({ ok: true, break: null });
  }

  it('answers a stored id with its original receipt, stores it once, and stores the new events of the same group', async () => {
    expect(store.refusesStoredIds()).toBe(true);
    const [a, b] = [event(), event()];
    const first = await writer.submit([canonical(a), canonical(b)]);

    // Submitted in one turn: one group holding a retry and two other requests' new events.
    const [c, d] = [event(), event()];
    const [retried, fresh, other] = await Promise.all([writer.submit([canonical(a), canonical(c)]), writer.submit([canonical(d)]), writer.submit([canonical(b)])]);

    expect(retried[0]).toEqual(first[0]);
    expect(other[0]).toEqual(first[1]);
    expect(retried[1]).toMatchObject({ id: c.id, chain: 'data_access' });
    expect(fresh[0]).toMatchObject({ id: d.id, chain: 'data_access' });
    expect(stored()).toBe(4);
    // No chain position was used up by the refused attempt.
    expect(seqs()).toEqual([0, 1, 2, 3]);
    await verified();
  });

  it('refuses the same id with other content (409) for that request only; the rest of the group is stored', async () => {
    const a = event();
    await writer.submit([canonical(a)]);
    const changed = { ...a, action: 'update' };
    const e = event();
    const [conflict, ok] = await Promise.allSettled([writer.submit([canonical(event()), canonical(changed)]), writer.submit([canonical(e)])]);

    expect(conflict.status).toBe('rejected');
    expect(((conflict as PromiseRejectedResult).reason as ProblemError).status).toBe(409);
    expect(ok.status).toBe('fulfilled');
    expect(((ok as PromiseFulfilledResult<Receipt[]>).value)[0]).toMatchObject({ id: e.id, seq: 1 });
    expect(stored()).toBe(2);
    expect(seqs()).toEqual([0, 1]);
    await verified();
  });

  it("tells the commit's followers after its requests were answered, in commit order; drain waits for them", async () => {
    const seen: string[] = [];
    writer.onCommit((records) => seen.push(`commit ${records.map((r) => r.seq).join(',')}`));
    const answers = [writer.submit([canonical(event()), canonical(event())]), writer.submit([canonical(event())])];
    for (const [i, a] of answers.entries()) void a.then(() => seen.push(`answer ${i}`));
    await Promise.all(answers);
    expect(seen).toEqual(['answer 0', 'answer 1']);
    const late = writer.submit([canonical(event())]);
    void late.then(() => seen.push('answer 2'));
    await writer.drain();
    // Each commit's followers after its own answers, the commits in order, all told once drain returned.
    expect(seen.filter((s) => s.startsWith('commit'))).toEqual(['commit 0,1,2', 'commit 3']);
    expect(seen.indexOf('commit 3')).toBeGreaterThan(seen.indexOf('answer 2'));
  });

  it('answers an id that moved to the warm tier with its original receipt (the hot index does not hold it)', async () => {
    const a = event();
    const [receipt] = await writer.submit([canonical(a)]);
    // Move it to warm as the retention runner does (row for row).
    db.exec(WARM_SCHEMA_SQL);
    db.exec('DROP TRIGGER IF EXISTS events_are_never_deleted');
    const r = db.prepare('SELECT * FROM events WHERE id = ?').get(a.id) as Record<string, unknown>;
    db.prepare(
      `INSERT INTO warm_events (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, record, prev_hash, hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.pos, r.chain, r.seq, r.id, r.received_at, r.occurred_ms, r.category, r.action, r.outcome, r.actor_id, r.patient_id, encodeWarmRecord(r.event as string, r.sealed as Buffer | null), r.prev_hash, r.hash);
    db.prepare('DELETE FROM events WHERE id = ?').run(a.id);
    expect(store.refusesStoredIds()).toBe(false);

    const again = await writer.submit([canonical(a)]);
    expect(again[0]).toEqual(receipt);
    expect(stored()).toBe(0);
    await expect(writer.submit([canonical({ ...a, outcome: 'denied' })])).rejects.toMatchObject({ status: 409 });
  });
});
