/**
 * The columns a store derives from each hashed record (what queries, reports and legal holds filter
 * on) are verified against the record: a tamperer who drops the triggers and changes one of them
 * (the measured attack of issue 15: `actor_id`, which hid an access from "who opened this record?"
 * while `auditctl verify` said OK) gets a break naming chain, seq, kind `modified` and the column,
 * in the hot tier (verification fast path and the store path) and in the warm tier; every broken
 * chain's first break is named, through the CLI and GET /v1/integrity/verify.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { embeddedChainReaders } from '@app/infrastructure';
import { IntegrityService } from '@app/pipeline';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { DerivedColumnMismatchError, SqliteCheckpointStore, TieredSqliteEventStore, WARM_SCHEMA_SQL, encodeWarmRecord, openDatabase } from '@app/storage';
import { runCli } from './support/cli';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir } from './support/test-app';

const CHAIN = 'data_access';
let pristine: string;
const created: string[] = [];

beforeAll(async () => {
  const t = await startTestApp();
  const client = await t.client('integration');
  const events = Array.from({ length: 40 }, (_, i) => accessEvent({ actor: { id: `dr-col-${i % 4}`, type: 'user', ip: '10.9.8.7' }, patient: { id: `MRN-COL-${i}` } }));
  expect((await client.request('POST', '/v1/events', { events })).status).toBe(202);
  const logins = Array.from({ length: 5 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined }));
  expect((await client.request('POST', '/v1/events', { events: logins })).status).toBe(202);
  await t.close();
  pristine = t.dataDir;
}, 60_000);

afterAll(() => {
  for (const d of [pristine, ...created]) fs.rmSync(d, { recursive: true, force: true });
});

function copyStore(): string {
  const dir = tempDataDir('audit-columns-');
  created.push(dir);
  for (const f of fs.readdirSync(pristine)) if (f.startsWith('audit.db')) fs.copyFileSync(path.join(pristine, f), path.join(dir, f));
  fs.cpSync(path.join(pristine, 'keys'), path.join(dir, 'keys'), { recursive: true });
  return dir;
}

/**
 * As an attacker with file access: every trigger on a table dropped first (the `events` view's
 * forwarding triggers stay: they are how a write to `events` reaches the partition holding the row).
 */
function tamper(dir: string, edit: (db: Database.Database) => void): void {
  const db = new Database(path.join(dir, 'audit.db'));
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name <> 'events'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${name}`);
  edit(db);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Verifies in-process: through the embedded chain readers (the fast path) or the store's own readChain. */
async function verifyIn(dir: string, path_: 'fast' | 'store') {
  const config = loadConfig({}, { dataDir: dir });
  const db = openDatabase(dir);
  const store = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
  const keys = new FileKeyProvider(dir);
  const integrity = new IntegrityService(store, {
    checkpoints: new SqliteCheckpointStore(db),
    publicKeys: () => keys.publicKeys(),
    chains: path_ === 'fast' ? embeddedChainReaders({ dataDir: dir }) : undefined,
    workers: 1,
  });
  try {
    return await integrity.verify();
  } finally {
    await store.close();
  }
}

/** The DerivedColumnMismatchError a store read throws on `dir` (null: it answered). */
async function queryMismatch(dir: string, filter: { actor?: string; id?: string }, via: 'query' | 'stream' | 'get' = 'query'): Promise<DerivedColumnMismatchError | null> {
  const config = loadConfig({}, { dataDir: dir });
  const store = new TieredSqliteEventStore(openDatabase(dir), embeddedFieldProtection(config));
  try {
    if (via === 'get') await store.getById(filter.id!);
    else if (via === 'stream') for await (const page of store.stream({ pageSize: 1000 })) void page;
    else await store.query({ actor: filter.actor, limit: 1000 });
    return null;
  } catch (err) {
    if (err instanceof DerivedColumnMismatchError) return err;
    throw err;
  } finally {
    await store.close();
  }
}

const EDITS: Record<string, string> = {
  id: "id = 'forged-' || id",
  occurred_ms: 'occurred_ms = occurred_ms + 86400000',
  category: "category = 'authentication'",
  action: "action = 'update'",
  outcome: "outcome = 'failure'",
  actor_id: "actor_id = 'someone-else'",
  // Another patient's token: the record now answers for the wrong patient.
  patient_id: `patient_id = (SELECT patient_id FROM events WHERE chain = '${CHAIN}' AND seq = 0)`,
};

describe('derived columns are verified against their record', () => {
  it('the measured attack: actor_id changed with the triggers dropped is a break (CLI and HTTP)', async () => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare("UPDATE events SET actor_id = 'dr-nobody' WHERE chain = ? AND seq = 7").run(CHAIN));
    const r = runCli(['verify', '--data-dir', dir]);
    expect(r.stdout).toContain(`BREAK: chain ${CHAIN} seq 7 kind modified column actor_id (stored column actor_id does not match the record)`);
    expect(r.status).toBe(1);

    const t = await startTestApp({ dataDir: dir });
    try {
      const auditor = await t.client('auditor');
      const res = await auditor.request('GET', '/v1/integrity/verify');
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body) as { ok: boolean; break: Record<string, unknown>; breaks: Record<string, unknown>[] };
      expect(body.ok).toBe(false);
      expect(body.break).toMatchObject({ chain: CHAIN, seq: 7, kind: 'modified', column: 'actor_id' });
      expect(body.breaks).toHaveLength(1);
    } finally {
      await t.close();
    }
  }, 60_000);

  for (const [column, set] of Object.entries(EDITS)) {
    it(`hot tier: ${column} changed is named (fast path and store path)`, async () => {
      const dir = copyStore();
      tamper(dir, (db) => db.prepare(`UPDATE events SET ${set} WHERE chain = ? AND seq = 12`).run(CHAIN));
      for (const via of ['fast', 'store'] as const) {
        const result = await verifyIn(dir, via);
        expect(result.ok).toBe(false);
        expect(result.break).toMatchObject({ chain: CHAIN, seq: 12, kind: 'modified', column });
      }
    });
  }

  // The fast path checks column types with comparisons (a blob sorts after everything else): a
  // column given another storage type with the same bytes is judged exactly as the store path does
  // (a hash column stored as text was a TypeError on both paths before).
  const RETYPED: Record<string, string> = {
    hash: 'hash = CAST(hash AS TEXT)',
    prev_hash: 'prev_hash = CAST(prev_hash AS TEXT)',
    sealed: 'sealed = CAST(sealed AS TEXT)',
    'sealed empty': "sealed = x''",
    event: 'event = CAST(event AS BLOB)',
    received_at: 'received_at = CAST(received_at AS BLOB)',
    id: 'id = CAST(id AS BLOB)',
    category: 'category = CAST(category AS BLOB)',
    actor_id: 'actor_id = CAST(actor_id AS BLOB)',
    occurred_ms: 'occurred_ms = CAST(occurred_ms AS TEXT)',
    patient_id: 'patient_id = CAST(patient_id AS BLOB)',
  };
  for (const [label, set] of Object.entries(RETYPED)) {
    it(`hot tier: ${label} stored as another type is judged the same on the fast path and the store path`, async () => {
      const dir = copyStore();
      tamper(dir, (db) => db.prepare(`UPDATE events SET ${set} WHERE chain = ? AND seq = 12`).run(CHAIN));
      const store = await verifyIn(dir, 'store');
      const fast = await verifyIn(dir, 'fast');
      expect({ label, ok: fast.ok, break: fast.break }).toEqual({ label, ok: store.ok, break: store.break });
      // The store path reads a blob event as its text and compares occurred_ms by value: same record, same answers.
      expect({ label, ok: store.ok }).toEqual({ label, ok: label === 'event' || label === 'occurred_ms' });
    });
  }

  it('warm tier: a changed column of a warm row is named', async () => {
    const dir = copyStore();
    const moveToWarm = (db: Database.Database) => {
      // What the retention runner does: rows 0..19 move to warm_events with their columns and record.
      db.exec(WARM_SCHEMA_SQL);
      const rows = db.prepare('SELECT * FROM events WHERE chain = ? AND seq < 20').all(CHAIN) as Record<string, unknown>[];
      const insert = db.prepare(
        'INSERT INTO warm_events (pos, chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const r of rows) {
        insert.run(r.pos, r.chain, r.seq, r.id, r.received_at, r.occurred_ms, r.category, r.action, r.outcome, r.actor_id, r.patient_id, encodeWarmRecord(r.event as string, r.sealed as Buffer | null), r.prev_hash, r.hash);
      }
      db.prepare('DELETE FROM events WHERE chain = ? AND seq < 20').run(CHAIN);
    };
    tamper(dir, moveToWarm);
    expect((await verifyIn(dir, 'fast')).ok).toBe(true);
    tamper(dir, (db) => db.prepare("UPDATE warm_events SET actor_id = 'dr-nobody' WHERE chain = ? AND seq = 5").run(CHAIN));
    const result = await verifyIn(dir, 'fast');
    expect(result.break).toMatchObject({ chain: CHAIN, seq: 5, kind: 'modified', column: 'actor_id' });
    // Queries re-check the warm rows they return too.
    const mismatch = await queryMismatch(dir, { actor: 'dr-nobody' });
    expect(mismatch).toMatchObject({ chain: CHAIN, seq: 5, column: 'actor_id' });
  });

  for (const [column, set] of Object.entries(EDITS)) {
    it(`hot tier: a query, a report stream and a read by id re-check ${column} of the records they return`, async () => {
      const dir = copyStore();
      const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
      const id = (db.prepare('SELECT id FROM events WHERE chain = ? AND seq = 12').get(CHAIN) as { id: string }).id;
      db.close();
      tamper(dir, (d) => d.prepare(`UPDATE events SET ${set} WHERE chain = ? AND seq = 12`).run(CHAIN));
      expect(await queryMismatch(dir, {})).toMatchObject({ chain: CHAIN, seq: 12, column });
      expect(await queryMismatch(dir, {}, 'stream')).toMatchObject({ chain: CHAIN, seq: 12, column });
      if (column !== 'id') expect(await queryMismatch(dir, { id }, 'get')).toMatchObject({ chain: CHAIN, seq: 12, column });
    });
  }

  it('names every broken chain\'s first break, and the untouched store passes', async () => {
    expect((await verifyIn(copyStore(), 'fast')).ok).toBe(true);
    const dir = copyStore();
    tamper(dir, (db) => {
      db.prepare("UPDATE events SET outcome = 'failure' WHERE chain = 'authentication' AND seq = 2").run();
      db.prepare("UPDATE events SET actor_id = 'dr-nobody' WHERE chain = ? AND seq = 30").run(CHAIN);
      db.prepare("UPDATE events SET actor_id = 'dr-nobody' WHERE chain = ? AND seq = 33").run(CHAIN);
    });
    const r = runCli(['verify', '--data-dir', dir]);
    expect(r.status).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      'BREAK: chain authentication seq 2 kind modified column outcome (stored column outcome does not match the record)',
      `BREAK: chain ${CHAIN} seq 30 kind modified column actor_id (stored column actor_id does not match the record)`,
    ]);
    const json = JSON.parse(runCli(['verify', '--json', '--data-dir', dir]).stdout) as { breaks: unknown[] };
    expect(json.breaks).toHaveLength(2);
  });
});
