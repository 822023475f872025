/**
 * Exhaustive tampering over a real store of a few thousand records with signed checkpoints: for
 * every single-record modification, deletion, insertion and adjacent swap at 30 positions (first,
 * last, and both sides of checkpoint boundaries), and for forged or re-signed checkpoints, the
 * online verifier (the data dir) and the offline verifier (an export of it, no database) both name
 * the same chain, seq and kind. Editing an export's files directly is named the same way too. A
 * few cases go through the compiled CLI (same BREAK line, exit codes) and real worker threads.
 */
import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { ChainBreak, ChainRow, GENESIS_HASH, checkpointHash, encodeRecordLine, recordHash, signCheckpoint } from '@app/ledger';
import { embeddedChainReaders } from '@app/infrastructure';
import { IntegrityService, exportChain, verifyExport } from '@app/pipeline';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { SqliteCheckpointStore, SqliteEventStore, openDatabase } from '@app/storage';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { startTestApp, tempDataDir } from './support/test-app';

const CHAIN = 'data_access';
const EVERY = 500;
const TOTAL = 3100; // checkpoints at 500, 1000, ..., 3000, and 3100 sealed at shutdown
const LAST = TOTAL - 1;
const POSITIONS = [0, 1, 2, 100, 250, 498, 499, 500, 501, 502, 750, 998, 999, 1000, 1001, 1499, 1500, 1501, 2000, 2222, 2498, 2499, 2500, 2501, 2999, 3000, 3001, 3050, 3098, LAST];

let pristine: string;
let rows: ChainRow[] = [];
/** Every directory this file creates (about 150 store copies and exports), removed at the end. */
const created: string[] = [];

function scratchDir(prefix: string): string {
  const dir = tempDataDir(prefix);
  created.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  const t = await startTestApp({ integrity: { checkpointEveryRecords: EVERY, checkpointIntervalSeconds: 3600, verifyWorkers: 0 } });
  const client = await t.client('integration');
  for (let i = 0; i < TOTAL; i += 500) {
    const events = Array.from({ length: Math.min(500, TOTAL - i) }, (_, k) => accessEvent({ patient: { id: `MRN-X-${i + k}` } }));
    expect((await client.request('POST', '/v1/events', { events })).status).toBe(202);
  }
  const other = Array.from({ length: 20 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined }));
  expect((await client.request('POST', '/v1/events', { events: other })).status).toBe(202);
  await t.close();
  pristine = t.dataDir;
  const store = new SqliteEventStore(openDatabase(pristine, { readonly: true }), embeddedFieldProtection({ dataDir: pristine }));
  for await (const page of store.readChain(CHAIN, 0)) rows.push(...page);
  await store.close();
}, 120_000);

function copyStore(): string {
  const dir = scratchDir('audit-xtamper-');
  for (const f of fs.readdirSync(pristine)) if (f.startsWith('audit.db')) fs.copyFileSync(path.join(pristine, f), path.join(dir, f));
  fs.cpSync(path.join(pristine, 'keys'), path.join(dir, 'keys'), { recursive: true });
  return dir;
}

/** As an attacker with file access: every trigger dropped. */
function tamper(dir: string, edit: (db: Database.Database) => void): void {
  const db = new Database(path.join(dir, 'audit.db'));
  // Every trigger on a table (the `events` view's forwarding triggers stay: they reach the partition holding the row).
  const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name <> 'events'").all() as { name: string }[];
  for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
  db.transaction(() => edit(db))();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function open(dir: string) {
  const config = loadConfig({}, { dataDir: dir });
  const db = openDatabase(dir);
  return { db, config, events: new SqliteEventStore(db, embeddedFieldProtection(config)), checkpoints: new SqliteCheckpointStore(db), keys: new FileKeyProvider(dir) };
}

async function online(dir: string, workers = 1): Promise<ChainBreak | null> {
  const s = open(dir);
  try {
    const result = await new IntegrityService(s.events, {
      checkpoints: s.checkpoints,
      publicKeys: () => s.keys.publicKeys(),
      chains: embeddedChainReaders({ dataDir: dir }),
      workers,
    }).verify();
    return result.break;
  } finally {
    await s.events.close();
  }
}

async function exportOf(dir: string): Promise<string> {
  const s = open(dir);
  const out = path.join(scratchDir('audit-export-'), 'export');
  try {
    await exportChain(s.events, s.checkpoints, { chain: CHAIN, outDir: out, publicKeys: s.keys.publicKeys() });
  } finally {
    await s.events.close();
  }
  return out;
}

async function offline(exportDir: string): Promise<ChainBreak | null> {
  return (await verifyExport(exportDir, { workers: 1 })).break;
}

const brief = (b: ChainBreak | null) => (b ? { chain: b.chain, seq: b.seq, kind: b.kind } : null);

async function expectBoth(dir: string, expected: { seq: number; kind: string }, label: string): Promise<void> {
  const want = { label, b: { chain: CHAIN, ...expected } };
  expect({ label, b: brief(await online(dir)) }).toEqual(want);
  expect({ label, b: brief(await offline(await exportOf(dir))) }).toEqual(want);
}

function shiftUp(db: Database.Database, fromSeq: number): void {
  db.prepare('UPDATE events SET seq = -seq - 1 WHERE chain = ? AND seq >= ?').run(CHAIN, fromSeq);
  db.prepare('UPDATE events SET seq = -seq WHERE chain = ? AND seq < 0').run(CHAIN);
}

function insertForged(db: Database.Database, seq: number): void {
  const prev = seq === 0 ? GENESIS_HASH : rows[seq - 1].hash;
  shiftUp(db, seq);
  const e = accessEvent({ patient: undefined, actor: { id: 'forger', type: 'user' } });
  const json = JSON.stringify(e);
  const receivedAt = new Date().toISOString();
  db.prepare(
    `INSERT INTO events (chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, prev_hash, hash)
     VALUES (?, ?, ?, ?, ?, 'data_access', 'read', 'success', 'forger', NULL, ?, ?, ?)`,
  ).run(CHAIN, seq, e.id, receivedAt, Date.parse(e.occurredAt), json, prev, recordHash(prev, CHAIN, seq, receivedAt, json));
}

describe('untouched', () => {
  it('passes online and offline, with every checkpoint matched', async () => {
    const dir = copyStore();
    expect(await online(dir)).toBeNull();
    const out = await exportOf(dir);
    const r = await verifyExport(out, { workers: 1 });
    expect(r).toMatchObject({ ok: true, verified: TOTAL, checkpointsVerified: 7 });
  });
});

describe('single-record tampering in the database: online and offline name the same break', () => {
  it.each(POSITIONS)('a modified record at seq %i', async (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare(`UPDATE events SET received_at = '2001-01-01T00:00:00.000Z' WHERE chain = ? AND seq = ?`).run(CHAIN, seq));
    await expectBoth(dir, { seq, kind: 'modified' }, `modified ${seq}`);
  });

  it.each(POSITIONS)('a deleted record at seq %i', async (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare('DELETE FROM events WHERE chain = ? AND seq = ?').run(CHAIN, seq));
    await expectBoth(dir, { seq, kind: 'deleted' }, `deleted ${seq}`);
  });

  it.each(POSITIONS)('a forged record inserted at seq %i (correctly hashed, later records renumbered)', async (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => insertForged(db, seq));
    await expectBoth(dir, { seq, kind: 'inserted' }, `inserted ${seq}`);
  });

  it.each(POSITIONS.filter((s) => s < LAST))('records %i and the next one swapped', async (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => {
      db.prepare('UPDATE events SET seq = -1 WHERE chain = ? AND seq = ?').run(CHAIN, seq);
      db.prepare('UPDATE events SET seq = ? WHERE chain = ? AND seq = ?').run(seq, CHAIN, seq + 1);
      db.prepare('UPDATE events SET seq = ? WHERE chain = ? AND seq = -1').run(seq + 1, CHAIN);
    });
    await expectBoth(dir, { seq, kind: 'reordered' }, `swapped ${seq}`);
  });

  it('history rewritten and re-hashed after a record (head moved too) is named at the block the signed checkpoint no longer matches', async () => {
    const dir = copyStore();
    tamper(dir, (db) => {
      let prev = rows[1233].hash;
      const update = db.prepare('UPDATE events SET received_at = ?, prev_hash = ?, hash = ? WHERE chain = ? AND seq = ?');
      for (const r of rows.slice(1234)) {
        const receivedAt = r.seq === 1234 ? '2001-01-01T00:00:00.000Z' : r.receivedAt;
        const hash = recordHash(prev, CHAIN, r.seq, receivedAt, r.eventJson);
        update.run(receivedAt, prev, hash, CHAIN, r.seq);
        prev = hash;
      }
      db.prepare('UPDATE chain_heads SET hash = ? WHERE chain = ?').run(prev, CHAIN);
    });
    await expectBoth(dir, { seq: 1000, kind: 'modified' }, 'rewritten');
  });
});

describe('checkpoint tampering: online and offline name the same break', () => {
  const foreign = generateKeyPairSync('ed25519').privateKey;

  function resign(dir: string, idx: number, keepKeyId: boolean): void {
    tamper(dir, (db) => {
      const r = db.prepare('SELECT * FROM checkpoints WHERE chain = ? AND idx = ?').get(CHAIN, idx) as Record<string, string | number | null>;
      const body = { chain: CHAIN, treeSize: r.tree_size as number, rootHash: r.root_hash as string, lastHash: r.last_hash as string, issuedAt: r.issued_at as string, previous: r.previous as string | null };
      const cp = keepKeyId ? signCheckpoint(body, foreign, r.key_id as string) : signCheckpoint(body, foreign);
      db.prepare('UPDATE checkpoints SET key_id = ?, signature = ?, checkpoint_hash = ? WHERE chain = ? AND idx = ?').run(cp.keyId, cp.signature, checkpointHash(cp), CHAIN, idx);
    });
  }

  it.each([0, 2, 5, 6])('a checkpoint (#%i) with a changed root hash: bad_signature at its last seq', async (idx) => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare(`UPDATE checkpoints SET root_hash = ? WHERE chain = ? AND idx = ?`).run('ab'.repeat(32), CHAIN, idx));
    const treeSize = idx === 6 ? TOTAL : (idx + 1) * EVERY;
    await expectBoth(dir, { seq: treeSize - 1, kind: 'bad_signature' }, `root ${idx}`);
  });

  it.each([
    [1, false],
    [3, true],
    [6, false],
  ])('checkpoint #%i re-signed with a foreign key (keeping our key id: %s): bad_signature', async (idx, keepKeyId) => {
    const dir = copyStore();
    resign(dir, idx, keepKeyId);
    const treeSize = idx === 6 ? TOTAL : idx * EVERY + EVERY;
    await expectBoth(dir, { seq: treeSize - 1, kind: 'bad_signature' }, `resigned ${idx}`);
  });

  it('a removed checkpoint: bad_checkpoint at the next one (its link is broken)', async () => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare('DELETE FROM checkpoints WHERE chain = ? AND idx = 1').run(CHAIN));
    await expectBoth(dir, { seq: 3 * EVERY - 1, kind: 'bad_checkpoint' }, 'removed');
  });

  it('records deleted from the end, head rewound: the signed checkpoint still names them', async () => {
    const dir = copyStore();
    tamper(dir, (db) => {
      db.prepare('DELETE FROM events WHERE chain = ? AND seq >= 3050').run(CHAIN);
      db.prepare('UPDATE chain_heads SET seq = 3049, hash = ? WHERE chain = ?').run(rows[3049].hash, CHAIN);
    });
    await expectBoth(dir, { seq: 3050, kind: 'deleted' }, 'truncated');
  });
});

describe('editing the export itself (offline)', () => {
  let clean: string;
  beforeAll(async () => {
    clean = await exportOf(copyStore());
  });

  function editRecords(edit: (lines: string[]) => string[]): string {
    const dir = path.join(scratchDir('audit-export-edit-'), 'export');
    fs.cpSync(clean, dir, { recursive: true });
    const file = path.join(dir, 'records.ndjson');
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
    fs.writeFileSync(file, edit(lines).join('\n') + '\n');
    return dir;
  }

  const lineOf = (r: ChainRow) => encodeRecordLine(CHAIN, r);

  it.each([0, 499, 500, 1501, LAST])('names a changed line, a removed line, an inserted line and swapped contents at seq %i', async (seq) => {
    const modified = editRecords((lines) => lines.map((l, i) => (i === seq ? l.replace(/"receivedAt":"[^"]*"/, '"receivedAt":"2001-01-01T00:00:00.000Z"') : l)));
    expect(brief(await offline(modified))).toEqual({ chain: CHAIN, seq, kind: 'modified' });

    const removed = editRecords((lines) => lines.filter((_, i) => i !== seq));
    expect(brief(await offline(removed))).toEqual({ chain: CHAIN, seq, kind: 'deleted' });

    const inserted = editRecords((lines) => {
      const prev = seq === 0 ? GENESIS_HASH : rows[seq - 1].hash;
      const eventJson = JSON.stringify({ forged: true });
      const receivedAt = '2026-01-01T00:00:00.000Z';
      const forged = lineOf({ seq, receivedAt, eventJson, prevHash: prev, hash: recordHash(prev, CHAIN, seq, receivedAt, eventJson) });
      const shifted = lines.map((l, i) => (i >= seq ? lineOf({ ...rows[i], seq: i + 1 }) : l));
      return [...shifted.slice(0, seq), forged, ...shifted.slice(seq)];
    });
    expect(brief(await offline(inserted))).toEqual({ chain: CHAIN, seq, kind: 'inserted' });

    if (seq < LAST) {
      const swapped = editRecords((lines) => lines.map((l, i) => (i === seq ? lineOf({ ...rows[seq + 1], seq }) : i === seq + 1 ? lineOf({ ...rows[seq], seq: seq + 1 }) : l)));
      expect(brief(await offline(swapped))).toEqual({ chain: CHAIN, seq, kind: 'reordered' });
    }
  });

  it('refuses a checkpoint signed by a key the auditor did not pin', async () => {
    const pinned = [{ keyId: 'someone-else', publicKeyPem: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString() }];
    expect(brief((await verifyExport(clean, { workers: 1, publicKeys: pinned })).break)).toEqual({ chain: CHAIN, seq: EVERY - 1, kind: 'bad_signature' });
  });
});

describe('through the compiled CLI and worker threads', () => {
  it('prints the same BREAK line online and offline, with exit code 1, using worker threads', async () => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare('DELETE FROM events WHERE chain = ? AND seq = 1500').run(CHAIN));
    const line = `BREAK: chain ${CHAIN} seq 1500 kind deleted`;
    const on = runCli(['verify', '--data-dir', dir, '--workers', '2']);
    expect(on.stdout).toContain(line);
    expect(on.status).toBe(1);
    const out = path.join(scratchDir('audit-cli-export-'), 'export');
    const ex = runCli(['export', '--chain', CHAIN, '--out', out, '--data-dir', dir]);
    expect(ex.status).toBe(0);
    const off = runCli(['verify', '--offline', out, '--workers', '2']);
    expect(off.stdout).toContain(line);
    expect(off.status).toBe(1);
    expect(await online(dir, 2)).toMatchObject({ seq: 1500, kind: 'deleted' });
  });

  it('a checkpoint signed with the real key over a root its records do not give: verify passes on the signed last hashes, --full and ?full=true name it, an export always does', async () => {
    const dir = copyStore();
    const key = new FileKeyProvider(dir).signingKey();
    tamper(dir, (db) => {
      const cps = db.prepare('SELECT * FROM checkpoints WHERE chain = ? ORDER BY idx').all(CHAIN) as Record<string, string | number | null>[];
      let previous = cps[1].checkpoint_hash as string;
      for (const r of cps.slice(2)) {
        const body = { chain: CHAIN, treeSize: r.tree_size as number, rootHash: r.idx === 2 ? 'ab'.repeat(32) : (r.root_hash as string), lastHash: r.last_hash as string, issuedAt: r.issued_at as string, previous };
        const cp = signCheckpoint(body, key.privateKey, key.keyId);
        previous = checkpointHash(cp);
        db.prepare('UPDATE checkpoints SET root_hash = ?, previous = ?, signature = ?, checkpoint_hash = ? WHERE chain = ? AND idx = ?').run(cp.rootHash, cp.previous, cp.signature, previous, CHAIN, r.idx);
      }
    });
    const line = `BREAK: chain ${CHAIN} seq 1499 kind bad_checkpoint`;
    const chainMode = runCli(['verify', '--data-dir', dir, '--workers', '2']);
    expect(chainMode.stdout).toMatch(/^OK: 3120 records verified in 2 chain\(s\)/);
    expect(chainMode.status).toBe(0);
    for (const workers of ['1', '2']) {
      const full = runCli(['verify', '--data-dir', dir, '--full', '--workers', workers]);
      expect(full.stdout).toContain(line);
      expect(full.status).toBe(1);
    }
    const out = path.join(scratchDir('audit-cli-export-'), 'export');
    expect(runCli(['export', '--chain', CHAIN, '--out', out, '--data-dir', dir]).status).toBe(0);
    const off = runCli(['verify', '--offline', out]);
    expect(off.stdout).toContain(line);
    expect(off.status).toBe(1);

    const t = await startTestApp({ dataDir: dir, integrity: { checkpointEveryRecords: EVERY, checkpointIntervalSeconds: 3600, verifyWorkers: 1 } });
    try {
      const auditor = await t.client('auditor');
      const plain = await auditor.request('GET', '/v1/integrity/verify');
      expect(plain.status).toBe(200);
      expect(JSON.parse(plain.body)).toMatchObject({ ok: true, break: null });
      const full = await auditor.request('GET', '/v1/integrity/verify?full=true');
      expect(full.status).toBe(200);
      expect(JSON.parse(full.body)).toMatchObject({ ok: false, break: { chain: CHAIN, seq: 1499, kind: 'bad_checkpoint' } });
      const bad = await auditor.request('GET', '/v1/integrity/verify?full=yes');
      expect(bad.status).toBe(400);
      expect(bad.body).toContain('/query/full');
      expect(bad.body).not.toContain('yes');
    } finally {
      await t.close();
    }
  });

  it('exports a range that verifies on its own; a bad signature is named the same way', async () => {
    const dir = copyStore();
    const out = path.join(scratchDir('audit-cli-export-'), 'export');
    const ex = runCli(['export', '--chain', CHAIN, '--from', '1234', '--to', '2345', '--out', out, '--data-dir', dir]);
    expect(ex.status).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.records).toMatchObject({ fromSeq: 1234, toSeq: 2345, count: 1112 });
    const ok = runCli(['verify', '--offline', out]);
    expect(ok.stdout).toMatch(/^OK: 1112 records verified in 1 chain\(s\), 3 signed checkpoint\(s\) matched/);
    expect(ok.status).toBe(0);

    tamper(dir, (db) => db.prepare(`UPDATE checkpoints SET last_hash = ? WHERE chain = ? AND idx = 3`).run('cd'.repeat(32), CHAIN));
    const line = `BREAK: chain ${CHAIN} seq 1999 kind bad_signature`;
    expect(runCli(['verify', '--data-dir', dir]).stdout).toContain(line);
    const out2 = path.join(scratchDir('audit-cli-export-'), 'export');
    expect(runCli(['export', '--chain', CHAIN, '--from', '1234', '--to', '2345', '--out', out2, '--data-dir', dir]).status).toBe(0);
    const bad = runCli(['verify', '--offline', out2]);
    expect(bad.stdout).toContain(line);
    expect(bad.status).toBe(1);
    expect(runCli(['verify', '--offline', path.join(out2, 'nope')]).status).toBe(2);
  });
});
