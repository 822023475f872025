/**
 * The embedded retention runner against a real SQLite file: the events' delete trigger still
 * refuses every other DELETE (only an authorized purge inside the recorded prefix passes), a purge
 * ends at a signed checkpoint, records the frontier and last hash, and a dry run changes nothing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MerkleAccumulator } from '@app/ledger';
import { SqliteDb, openDatabase } from '@app/storage';
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
