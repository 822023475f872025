/**
 * Whole hot partitions moved to warm by the retention runner (one INSERT ... SELECT and one DROP
 * TABLE a partition) against the record-by-record move on the same store: the same warm rows (the
 * same record blobs), the same hot rows, the same run report, every chain still verifying through
 * the tiered store, the partition's catalog row `dropped`, and immutability untouched. A partition
 * holding a record still inside its chain's hot window is not moved whole; the access log (no
 * category) moves with a partition past every hot window.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { ChainVerifier, GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord, SqliteDb, TieredSqliteEventStore, decodeWarmRecord, encodeWarmRecord, livePartitions, openDatabase } from '@app/storage';
import { inMemoryFieldProtection } from '../../../test/fakes/in-memory-field-protection';
import { parseRetentionPolicy } from './retention-policy';
import { SqliteLegalHoldStore } from './sqlite-legal-hold-store';
import { RetentionRunOptions, RetentionRunReport, SqliteRetentionRunner, applyRetentionSchema } from './sqlite-retention-runner';

const protection = inMemoryFieldProtection();
// Hot 28 days for data access, 56 for authentication; warm and retention far away (no cold, no delete).
const policy = parseRetentionPolicy({
  version: 1,
  tiers: { hot: 'P28D', warm: 'P3650D', delete: 'P3650D' },
  categories: { authentication: { tiers: { hot: 'P56D' } } },
});
const WEEK_MS = 7 * 86_400_000;
const MONDAY = Date.parse('2026-03-02T00:00:00.000Z');

interface Fixture {
  dir: string;
  db: SqliteDb;
  store: TieredSqliteEventStore;
}

/** Six weeks of receive time (one partition each): per week 7 data_access, 3 authentication, and (withLog) 2 access_log records. */
async function build(withLog: boolean): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warm-partitions-'));
  const db = openDatabase(dir);
  applyRetentionSchema(db);
  const store = new TieredSqliteEventStore(db, protection);
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  let n = 0;
  const record = (chain: string, receivedMs: number): ChainedRecord => {
    const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
    const receivedAt = new Date(receivedMs).toISOString();
    const category = chain === ACCESS_LOG_CHAIN ? 'data_access' : (chain as AccessEvent['category']);
    const event: AccessEvent = {
      id: `00000000-0000-4000-a000-${String(n++).padStart(12, '0')}`,
      occurredAt: new Date(receivedMs - 1000 * (n % 7)).toISOString(),
      category,
      action: chain === 'authentication' ? 'login' : 'read',
      outcome: 'success',
      actor: { id: `dr-${n % 3}`, type: 'user', ip: '10.0.0.1' },
      ...(chain === 'authentication' ? {} : { patient: { id: `MRN-${n % 5}` } }),
      source: { system: 'ehr' },
    };
    const eventJson = canonicalize(event);
    const seq = head.seq + 1;
    const hash = recordHash(head.hash, chain, seq, receivedAt, eventJson);
    heads.set(chain, { seq, hash });
    return { chain, seq, receivedAt, event, eventJson, prevHash: head.hash, hash };
  };
  for (let w = 0; w < 6; w++) {
    const t = MONDAY + w * WEEK_MS + 3_600_000;
    const group: ChainedRecord[] = [];
    for (let i = 0; i < 7; i++) group.push(record('data_access', t + i * 60_000));
    for (let i = 0; i < 3; i++) group.push(record('authentication', t + i * 60_000));
    if (withLog) for (let i = 0; i < 2; i++) group.push(record(ACCESS_LOG_CHAIN, t + i * 60_000));
    await store.append(group);
  }
  return { dir, db, store };
}

async function run(f: Fixture, nowMs: number, wholePartitions: boolean, more: Partial<RetentionRunOptions> = {}): Promise<RetentionRunReport> {
  const runner = new SqliteRetentionRunner(f.db, policy, new SqliteLegalHoldStore(f.db), { dataDir: f.dir, protection, publicKeys: () => [] });
  return runner.run({ now: nowMs, dryRun: false, trigger: 'test', wholePartitions, ...more });
}

/** Hot and warm rows without the sealed bytes (random nonces differ between two stores built alike). */
function rows(db: SqliteDb): { hot: unknown[]; warm: unknown[] } {
  return {
    hot: db.prepare('SELECT pos, chain, seq, id, received_at, occurred_ms, event, prev_hash, hash FROM events ORDER BY pos').all(),
    warm: db
      .prepare('SELECT pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, prev_hash, hash, restored, archive_id FROM warm_events ORDER BY pos')
      .all(),
  };
}

/** Each stored record's text and sealed blob by position, hot or warm (decoded). */
function stored(db: SqliteDb): Map<number, { event: string; sealed: Buffer | null }> {
  const out = new Map<number, { event: string; sealed: Buffer | null }>();
  for (const r of db.prepare('SELECT pos, event, sealed FROM events').all() as { pos: number; event: string; sealed: Buffer | null }[]) out.set(r.pos, { event: r.event, sealed: r.sealed });
  for (const r of db.prepare('SELECT pos, record FROM warm_events').all() as { pos: number; record: Buffer }[]) out.set(r.pos, decodeWarmRecord(r.record));
  return out;
}

/** Every chain read back through the tiered store (warm then hot) and verified from genesis to its head. */
async function verifyAll(store: TieredSqliteEventStore): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [chain, head] of await store.chainHeads()) {
    const verifier = new ChainVerifier(chain);
    for await (const page of store.readChain(chain, 0)) for (const row of page) verifier.push(row);
    const verdict = verifier.finish(head);
    expect(verdict.break).toBeNull();
    out[chain] = await store.countChain(chain);
  }
  return out;
}

const partitions = (db: SqliteDb) => livePartitions(db).map((p) => `${p.n}:${p.state}`);
const warmActions = (db: SqliteDb) =>
  db.prepare("SELECT chain, from_seq, to_seq, count FROM retention_run_actions WHERE action = 'warm' ORDER BY chain, from_seq").all() as { chain: string; from_seq: number; to_seq: number; count: number }[];

describe('retention: whole hot partitions to warm', () => {
  const open: Fixture[] = [];
  const fixture = async (withLog: boolean) => {
    const f = await build(withLog);
    open.push(f);
    return f;
  };
  afterEach(async () => {
    for (const f of open.splice(0)) {
      await f.store.close();
      fs.rmSync(f.dir, { recursive: true, force: true });
    }
  });

  it('moves the partitions past every hot window whole, with the same result as record by record', async () => {
    const whole = await fixture(false);
    const byRecord = await fixture(false);
    expect(partitions(whole.db)).toEqual(['0:closed', '1:closed', '2:closed', '3:closed', '4:closed', '5:open']);
    const baseline = await verifyAll(whole.store);
    const texts = stored(whole.db);
    // Week 6: data access past its 28 days for weeks 0-1, authentication (56 days) for none: no
    // partition is wholly past its windows, data access moves record by record in both.
    const nowMs = MONDAY + 6 * WEEK_MS;
    const a = await run(whole, nowMs, true);
    const b = await run(byRecord, nowMs, false);
    expect(a.warmed).toBe(14);
    expect(partitions(whole.db)).toEqual(partitions(byRecord.db));
    expect(rows(whole.db)).toEqual(rows(byRecord.db));

    // Week 12: data access past for every week, authentication for weeks 0-3: partitions 0-3 move
    // whole (their data access rows of weeks 0-1 already went), the data access rows of weeks 4-5 one by one.
    const later = MONDAY + 12 * WEEK_MS;
    const c = await run(whole, later, true);
    const d = await run(byRecord, later, false);
    expect(partitions(whole.db)).toEqual(['4:closed', '5:open']);
    expect(partitions(byRecord.db)).toEqual(['0:closed', '1:closed', '2:closed', '3:closed', '4:closed', '5:open']);
    expect(whole.db.prepare('SELECT n, state FROM event_partitions WHERE state = ? ORDER BY n').all('dropped')).toEqual([0, 1, 2, 3].map((n) => ({ n, state: 'dropped' })));
    expect(whole.db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'events_p%' AND type = 'table'").pluck().all()).toEqual(['events_p4', 'events_p5']);
    // The same records in each tier, and the same report; every record keeps its stored text and
    // sealed bytes exactly, and a blob made in SQL is the one encodeWarmRecord makes.
    expect(stored(whole.db)).toEqual(texts);
    for (const r of whole.db.prepare('SELECT pos, record FROM warm_events').all() as { pos: number; record: Buffer }[]) {
      expect(r.record.equals(encodeWarmRecord(texts.get(r.pos)!.event, texts.get(r.pos)!.sealed))).toBe(true);
    }
    expect(rows(whole.db)).toEqual(rows(byRecord.db));
    expect(c.warmed).toBe(d.warmed);
    expect(c.chains.map((x) => [x.chain, x.warm])).toEqual(d.chains.map((x) => [x.chain, x.warm]));
    expect(c.chains.find((x) => x.chain === 'authentication')!.warm).toMatchObject({ fromSeq: 0, toSeq: 12, count: 12 });
    expect(c.chains.find((x) => x.chain === 'data_access')!.warm).toMatchObject({ fromSeq: 14, toSeq: 42, count: 28 });
    // One warm action a chain a partition moved whole.
    expect(warmActions(whole.db).filter((r) => r.chain === 'authentication')).toEqual(
      [0, 1, 2, 3].map((w) => ({ chain: 'authentication', from_seq: 3 * w, to_seq: 3 * w + 3, count: 3 })),
    );
    // Verification, counts and reads through both tiers are what they were.
    expect(await verifyAll(whole.store)).toEqual(baseline);
    const page = await whole.store.query({ limit: 100, patient: 'MRN-1' });
    const other = await byRecord.store.query({ limit: 100, patient: 'MRN-1' });
    expect(page.records.map((r) => [r.position, r.eventJson])).toEqual(other.records.map((r) => [r.position, r.eventJson]));
    expect(await whole.store.getById('00000000-0000-4000-a000-000000000001')).toMatchObject({ chain: 'data_access', seq: 1 });
    // Immutability untouched: warm rows and the remaining partition still refuse deletes and updates.
    expect(() => whole.db.prepare('DELETE FROM warm_events WHERE seq = 0').run()).toThrow(/cannot be deleted/);
    expect(() => whole.db.prepare('UPDATE warm_events SET action = ?').run('x')).toThrow(/immutable/);
    expect(() => whole.db.prepare('DELETE FROM events_p4').run()).toThrow(/cannot be deleted/);
    expect(await whole.store.lastPosition()).toBe(await byRecord.store.lastPosition());
  });

  it('moves a partition larger than a chunk in several transactions, and a rerun after an interruption between chunks ends the same', async () => {
    const chunked = await fixture(false);
    const byRecord = await fixture(false);
    const later = MONDAY + 12 * WEEK_MS;
    // Chunks of 4 rows: partition 0 (10 rows) takes three transactions. The first run stops after
    // the second chunk of partition 1 (an error thrown after its commit, as a crash would leave it).
    let steps = 0;
    const transactions: number[] = [];
    await expect(
      run(chunked, later, true, {
        wholePartitionChunkRows: 4,
        onStep: (step, _table, ms) => {
          if (step !== 'warm-partition') return;
          transactions.push(ms!);
          if (++steps === 5) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(transactions.every((ms) => ms >= 0)).toBe(true);
    expect(partitions(chunked.db)).toEqual(['1:closed', '2:closed', '3:closed', '4:closed', '5:open']);
    expect(chunked.db.prepare('SELECT COUNT(*) FROM events_p1').pluck().get()).toBe(2); // 8 of its 10 rows moved
    await verifyAll(chunked.store);
    const rerun = await run(chunked, later, true, { wholePartitionChunkRows: 4 });
    const reference = await run(byRecord, later, false);
    expect(partitions(chunked.db)).toEqual(['4:closed', '5:open']);
    expect(rows(chunked.db)).toEqual(rows(byRecord.db));
    expect(rerun.warmed + 18).toBe(reference.warmed); // the interrupted run had moved 18 records
    await verifyAll(chunked.store);
  });

  it('leaves a partition holding a record inside its hot window to the record-by-record move', async () => {
    const f = await fixture(false);
    // Week 9 + 1 day: data access past for every week, authentication (56 days) for weeks 0-1 only.
    const nowMs = MONDAY + 9 * WEEK_MS + 86_400_000;
    const report = await run(f, nowMs, true);
    // Partitions 0-1 move whole; partition 2's authentication rows are inside their window: it and
    // the later ones stay, their data access rows moved one by one.
    expect(partitions(f.db)).toEqual(['2:closed', '3:closed', '4:closed', '5:open']);
    expect(report.chains.find((x) => x.chain === 'data_access')!.warm).toMatchObject({ fromSeq: 0, toSeq: 42, count: 42 });
    expect(report.chains.find((x) => x.chain === 'authentication')!.warm).toMatchObject({ fromSeq: 0, toSeq: 6, count: 6 });
    expect(f.db.prepare('SELECT chain, COUNT(*) AS n FROM events GROUP BY chain ORDER BY chain').all()).toEqual([
      { chain: 'authentication', n: 12 },
    ]);
    await verifyAll(f.store);
  });

  it('moves the access log with a partition past the longest hot window, and verifies it from both tiers', async () => {
    const f = await fixture(true);
    const baseline = await verifyAll(f.store);
    // Week 9 + 1 day: only weeks 0-1 are past authentication's 56 days (the longest hot window).
    const report = await run(f, MONDAY + 9 * WEEK_MS + 86_400_000, true);
    expect(partitions(f.db)).toEqual(['2:closed', '3:closed', '4:closed', '5:open']);
    expect(report.chains.find((x) => x.chain === ACCESS_LOG_CHAIN)!.warm).toMatchObject({ fromSeq: 0, toSeq: 4, count: 4 });
    expect(f.db.prepare('SELECT seq FROM warm_events WHERE chain = ? ORDER BY seq').pluck().all(ACCESS_LOG_CHAIN)).toEqual([0, 1, 2, 3]);
    expect(await verifyAll(f.store)).toEqual(baseline);
    // The access log page reads both tiers.
    const log = await f.store.query({ limit: 100, chain: ACCESS_LOG_CHAIN });
    expect(log.records.map((r) => r.seq).sort((x, y) => x - y)).toEqual([...Array(12).keys()]);
  });
});
