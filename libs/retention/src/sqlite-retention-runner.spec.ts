/**
 * The embedded retention runner against a real SQLite file: the events' delete trigger still
 * refuses every other DELETE (only an authorized purge inside the recorded prefix passes), a purge
 * ends at a signed checkpoint, records the frontier and last hash, and a dry run changes nothing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, MerkleAccumulator, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord, SqliteDb, SqliteEventStore, livePartitions, openDatabase } from '@app/storage';
import { inMemoryFieldProtection } from '../../../test/fakes/in-memory-field-protection';
import { DEFAULT_RETENTION_POLICY } from './retention-policy';
import { SqliteLegalHoldStore } from './sqlite-legal-hold-store';
import { SqliteRetentionRunner, applyRetentionSchema } from './sqlite-retention-runner';

const h = (chain: string, seq: number) => Buffer.alloc(32, `${chain}:${seq}`);

function seed(db: SqliteDb, chain: string, n: number, receivedAt: string, checkpointSizes: number[]): void {
  const insert = db.prepare(
    `INSERT INTO events (chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, sealed, prev_hash, hash)
     VALUES (?, ?, ?, ?, 0, ?, 'read', 'success', 'a', NULL, '{}', NULL, ?, ?)`,
  );
  for (let i = 0; i < n; i++) insert.run(chain, i, `${chain}-${i}`, receivedAt, chain, i === 0 ? Buffer.alloc(32) : h(chain, i - 1), h(chain, i));
  db.prepare('INSERT INTO chain_heads (chain, seq, hash) VALUES (?, ?, ?)').run(chain, n - 1, h(chain, n - 1));
  let previous: string | null = null;
  checkpointSizes.forEach((size, idx) => {
    db.prepare(
      `INSERT INTO checkpoints (chain, idx, tree_size, root_hash, last_hash, issued_at, previous, key_id, signature, checkpoint_hash, frontier) VALUES (?, ?, ?, 'r', 'l', 't', ?, 'k', 's', ?, '[]')`,
    ).run(chain, idx, size, previous, `cp-${chain}-${idx}`);
    previous = `cp-${chain}-${idx}`;
  });
}

describe('SqliteRetentionRunner', () => {
  let db: SqliteDb;
  let runner: SqliteRetentionRunner;
  const now = Date.parse('2034-01-01T00:00:00Z');

  beforeEach(() => {
    db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'retention-runner-')));
    applyRetentionSchema(db);
    seed(db, 'data_access', 10, '2026-01-01T00:00:00.000Z', [4, 7]);
    runner = new SqliteRetentionRunner(db, DEFAULT_RETENTION_POLICY, new SqliteLegalHoldStore(db));
  });
  afterEach(() => db.close());

  const count = () => (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;

  it('keeps refusing ordinary deletes, and deletes outside the recorded prefix even when authorized', () => {
    expect(() => db.prepare('DELETE FROM events WHERE seq = 0').run()).toThrow(/cannot be deleted/);
    db.prepare("INSERT INTO retention_purge_authorizations (chain, below_seq, run_id) VALUES ('data_access', 5, 'x')").run();
    expect(() => db.prepare('DELETE FROM events WHERE seq = 0').run()).toThrow(/cannot be deleted/); // no purged prefix recorded
    expect(() => db.prepare('UPDATE events SET action = 1').run()).toThrow(/immutable/);
    expect(count()).toBe(10);
  });

  it('dry run changes nothing; the run purges up to the last checkpoint within the window and records it', async () => {
    const dry = await runner.run({ now, dryRun: true, trigger: 'test' });
    expect(dry.chains[0]).toMatchObject({ fromSeq: 0, toSeq: 7, count: 7, keptBecause: 'unsealed' });
    expect(count()).toBe(10);
    expect((db.prepare('SELECT COUNT(*) AS n FROM retention_runs').get() as { n: number }).n).toBe(0);

    const report = await runner.run({ now, dryRun: false, trigger: 'test' });
    expect(report.deleted).toBe(7);
    expect(count()).toBe(3);
    const acc = new MerkleAccumulator();
    for (let i = 0; i < 7; i++) acc.appendRecordHash(h('data_access', i));
    const row = db.prepare('SELECT size, last_hash, frontier, checkpoint_idx FROM purged_prefixes').get() as { size: number; last_hash: string; frontier: string; checkpoint_idx: number };
    expect(row).toEqual({ size: 7, last_hash: h('data_access', 6).toString('hex'), frontier: JSON.stringify(acc.toJSON().hashes), checkpoint_idx: 1 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM retention_purge_authorizations').get()).toEqual({ n: 0 });
    const audit = db.prepare('SELECT chain, from_seq, to_seq, deleted FROM retention_run_chains').all();
    expect(audit).toEqual([{ chain: 'data_access', from_seq: 0, to_seq: 7, deleted: 7 }]);
    expect(() => db.prepare('DELETE FROM retention_run_chains').run()).toThrow(/cannot be deleted/);

    const again = await runner.run({ now, dryRun: false, trigger: 'test' });
    expect(again.deleted).toBe(0);
    expect(count()).toBe(3);
  });

  it('deletes nothing when no checkpoint seals the window', async () => {
    seed(db, 'authentication', 3, '2026-01-01T00:00:00.000Z', []);
    const report = await runner.run({ now, dryRun: false, trigger: 'test' });
    expect(report.chains.find((c) => c.chain === 'authentication')).toMatchObject({ count: 0, keptBecause: 'unsealed' });
  });
});

describe('SqliteRetentionRunner on a partitioned hot store', () => {
  const protection = inMemoryFieldProtection();
  let dir: string;
  let db: SqliteDb;
  let store: SqliteEventStore;
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  let n = 0;

  async function append(chain: 'data_access' | 'authentication', count: number, receivedAt: string): Promise<void> {
    const records: ChainedRecord[] = [];
    for (let i = 0; i < count; i++) {
      const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
      const event: AccessEvent = {
        id: `00000000-0000-4000-a000-${String(n++).padStart(12, '0')}`,
        occurredAt: receivedAt,
        category: chain,
        action: chain === 'data_access' ? 'read' : 'login',
        outcome: 'success',
        actor: { id: 'dr-a', type: 'user' },
        source: { system: 'ehr' },
      };
      const eventJson = canonicalize(event);
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, chain, seq, receivedAt, eventJson);
      records.push({ chain, seq, receivedAt, event, eventJson, prevHash: head.hash, hash });
      heads.set(chain, { seq, hash });
    }
    await store.append(records);
  }

  function checkpoint(chain: string, idx: number, size: number): void {
    db.prepare(
      `INSERT INTO checkpoints (chain, idx, tree_size, root_hash, last_hash, issued_at, previous, key_id, signature, checkpoint_hash, frontier) VALUES (?, ?, ?, 'r', 'l', 't', ?, 'k', 's', ?, '[]')`,
    ).run(chain, idx, size, idx === 0 ? null : `cp-${chain}-${idx - 1}`, `cp-${chain}-${idx}`);
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-partitions-'));
    db = openDatabase(dir);
    applyRetentionSchema(db);
    store = new SqliteEventStore(db, protection);
    heads.clear();
    // Three weeks of receive time, one partition each: data_access 0-4 | 5-9 | 10-14, authentication 0-2 | 3-5.
    await append('data_access', 5, '2026-03-04T10:00:00.000Z');
    await append('authentication', 3, '2026-03-04T11:00:00.000Z');
    await append('data_access', 5, '2026-03-10T10:00:00.000Z');
    await append('authentication', 3, '2026-03-10T11:00:00.000Z');
    await append('data_access', 5, '2026-03-17T10:00:00.000Z');
    [5, 10, 13].forEach((size, i) => checkpoint('data_access', i, size));
    checkpoint('authentication', 0, 3);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('drops the partition wholly inside the plan with DROP TABLE, deletes the rest row by row, in one run', async () => {
    expect(livePartitions(db).map((p) => `${p.n}:${p.state}`)).toEqual(['0:closed', '1:closed', '2:open']);
    const runner = new SqliteRetentionRunner(db, DEFAULT_RETENTION_POLICY, new SqliteLegalHoldStore(db));
    const report = await runner.run({ now: Date.parse('2040-01-01T00:00:00Z'), dryRun: false, trigger: 'test' });
    // Partition 0 (data_access 0-4, authentication 0-2) is below both purge ends (13 and 3): dropped.
    // Partition 1 still holds authentication 3-5 (past its only checkpoint): its data_access rows go one by one.
    expect(livePartitions(db).map((p) => `${p.n}:${p.state}`)).toEqual(['1:closed', '2:open']);
    expect(db.prepare("SELECT state FROM event_partitions WHERE n = 0").pluck().get()).toBe('dropped');
    expect(report.deleted).toBe(16);
    expect(report.chains.map((c) => [c.chain, c.count])).toEqual([
      ['authentication', 3],
      ['data_access', 13],
    ]);
    expect(db.prepare('SELECT chain, seq FROM events ORDER BY chain, seq').all()).toEqual([
      { chain: 'authentication', seq: 3 },
      { chain: 'authentication', seq: 4 },
      { chain: 'authentication', seq: 5 },
      { chain: 'data_access', seq: 13 },
      { chain: 'data_access', seq: 14 },
    ]);
    expect(db.prepare('SELECT chain, size FROM purged_prefixes ORDER BY chain').all()).toEqual([
      { chain: 'authentication', size: 3 },
      { chain: 'data_access', size: 13 },
    ]);
    expect(db.prepare('SELECT chain, from_seq, to_seq, deleted FROM retention_run_chains ORDER BY chain').all()).toEqual([
      { chain: 'authentication', from_seq: 0, to_seq: 3, deleted: 3 },
      { chain: 'data_access', from_seq: 0, to_seq: 13, deleted: 13 },
    ]);
    // Immutability is untouched by the run: ordinary deletes are still refused on every partition.
    expect(() => db.prepare('DELETE FROM events_p1 WHERE chain = ?').run('authentication')).toThrow(/cannot be deleted/);
    // Appends go on, positions after every earlier one.
    await append('data_access', 1, '2026-03-17T12:00:00.000Z');
    expect(db.prepare("SELECT pos FROM events WHERE chain = 'data_access' AND seq = 15").pluck().get()).toBe(22);
  });
});
