/**
 * The native fast path of verification (native/chain-check, a SQLite extension) against the
 * JavaScript path (VERIFY_NATIVE=0) on the same stores: a store the service wrote (sealed fields,
 * patients seen again and again, signed checkpoints), intact and after every kind of break (a
 * modified record, each derived column modified, a broken link, a wrong hash, a gap, a swap, an
 * altered ciphertext, a record the extension must leave to JavaScript, a checkpoint whose signed
 * lastHash does not match): `IntegrityService.verify` gives the same result on both paths, chain
 * mode and --full, and the chain reader gives the same rows, row by row, with the same rows
 * pre-checked. Skipped (and shown as skipped) when the extension was not built on this machine.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { ChainRow, checkpointHash, signCheckpoint } from '@app/ledger';
import { embeddedChainReaders } from '@app/infrastructure';
import { IntegrityService } from '@app/pipeline';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { SqliteCheckpointStore, SqliteEventStore, openDatabase } from '@app/storage';
import { SqliteChainReader } from '@app/storage/sqlite/sqlite-chain-reader';
import { embeddedVerificationPath, nativeChainCheckFile } from '@app/storage/sqlite/native-chain-check';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { startTestApp, tempDataDir } from './support/test-app';

const CHAIN = 'data_access';
const EVERY = 250;
const TOTAL = 1100;
const built = nativeChainCheckFile() !== null;

let pristine: string;
const created: string[] = [];

function scratchDir(prefix: string): string {
  const dir = tempDataDir(prefix);
  created.push(dir);
  return dir;
}

function copyStore(): string {
  const dir = scratchDir('audit-native-');
  for (const f of fs.readdirSync(pristine)) if (f.startsWith('audit.db')) fs.copyFileSync(path.join(pristine, f), path.join(dir, f));
  fs.cpSync(path.join(pristine, 'keys'), path.join(dir, 'keys'), { recursive: true });
  return dir;
}

/** As an attacker with file access: every trigger dropped. */
function tamper(dir: string, edit: (db: Database.Database) => void): void {
  const db = new Database(path.join(dir, 'audit.db'));
  // Every trigger on a table (the `events` view's forwarding triggers stay: they reach the partition holding the row).
  for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name <> 'events'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${t.name}`);
  db.transaction(() => edit(db))();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Runs `fn` with VERIFY_NATIVE set as given (undefined: unset). */
async function withNative<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env.VERIFY_NATIVE;
  if (value === undefined) delete process.env.VERIFY_NATIVE;
  else process.env.VERIFY_NATIVE = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.VERIFY_NATIVE;
    else process.env.VERIFY_NATIVE = before;
  }
}

async function verifyBoth(dir: string, full: boolean) {
  const config = loadConfig({}, { dataDir: dir });
  const db = openDatabase(dir, { readonly: true });
  try {
    const events = new SqliteEventStore(db, embeddedFieldProtection(config));
    const keys = new FileKeyProvider(dir);
    const service = () => new IntegrityService(events, { checkpoints: new SqliteCheckpointStore(db), publicKeys: () => keys.publicKeys(), chains: embeddedChainReaders({ dataDir: dir }), workers: 1 });
    const native = await withNative(undefined, async () => ({ result: await service().verify({ full }), path: service().verificationPath() }));
    const js = await withNative('0', async () => ({ result: await service().verify({ full }), path: service().verificationPath() }));
    return { native, js };
  } finally {
    db.close();
  }
}

const plain = (r: ChainRow) => ({ seq: r.seq, receivedAt: r.receivedAt, eventJson: r.eventJson, prevHash: Buffer.from(r.prevHash).toString('hex'), hash: Buffer.from(r.hash).toString('hex'), column: r.columnMismatch ?? null, checked: r.hashChecked === true });

function rowsBoth(dir: string) {
  const protection = embeddedFieldProtection(loadConfig({}, { dataDir: dir }));
  const read = (env: NodeJS.ProcessEnv) => {
    const reader = new SqliteChainReader(openDatabase(dir, { readonly: true }), protection, env);
    try {
      return { native: reader.path.native, rows: [...reader.readChain(CHAIN, 0, undefined, 97)].flat().map(plain) };
    } finally {
      reader.close();
    }
  };
  return { native: read({}), js: read({ VERIFY_NATIVE: '0' }) };
}

afterAll(() => {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  const t = await startTestApp({ integrity: { checkpointEveryRecords: EVERY, checkpointIntervalSeconds: 3600, verifyWorkers: 0 } });
  const client = await t.client('integration');
  for (let i = 0; i < TOTAL; i += 275) {
    // 40 patients seen again and again (the extension learns their tokens once), some without a patient, one non-ASCII name.
    const events = Array.from({ length: Math.min(275, TOTAL - i) }, (_, k) =>
      accessEvent({ patient: (i + k) % 9 === 4 ? undefined : { id: `MRN-N-${(i + k) % 40}` }, ...((i + k) % 101 === 50 ? { actor: { id: 'dr-Zoë', type: 'user' } } : {}) }),
    );
    expect((await client.request('POST', '/v1/events', { events })).status).toBe(202);
  }
  await t.close();
  pristine = t.dataDir;
  created.push(pristine);
}, 120_000);

const describeBuilt = built ? describe : describe.skip;

describe('the verification path in use', () => {
  it(built ? 'is the native extension (it was built here), and JavaScript with VERIFY_NATIVE=0' : 'is JavaScript, saying the extension was not built', () => {
    expect(embeddedVerificationPath({}).native).toBe(built);
    expect(embeddedVerificationPath({}).describe).toMatch(built ? /^native/ : /^JavaScript \(native path not built/);
    expect(embeddedVerificationPath({ VERIFY_NATIVE: '0' })).toEqual({ native: false, describe: expect.stringMatching(/^JavaScript \(native path switched off: VERIFY_NATIVE=0\)/) });
  });

  it('is named at the end of an OK report of auditctl verify (compiled CLI), with the same records verified', () => {
    // Each on its own copy: the CLI records its check in the store's access log.
    const on = runCli(['verify', '--data-dir', copyStore()], { VERIFY_NATIVE: '' });
    const off = runCli(['verify', '--data-dir', copyStore()], { VERIFY_NATIVE: '0' });
    expect(on.status).toBe(0);
    expect(off.status).toBe(0);
    expect(on.stderr).toBe('');
    const lines = (out: string) => out.trim().split('\n');
    expect(lines(on.stdout).at(-1)).toMatch(built ? /^verification path: native \(/ : /^verification path: JavaScript \(native path not built/);
    expect(lines(off.stdout).at(-1)).toBe('verification path: JavaScript (native path switched off: VERIFY_NATIVE=0)');
    expect(lines(on.stdout).slice(0, -1)).toEqual(lines(off.stdout).slice(0, -1));
    expect(lines(on.stdout)[0]).toMatch(new RegExp(`^OK: ${TOTAL} records verified in 1 chain`));
  });
});

describeBuilt('native and JavaScript verification of the same store', () => {
  it('agree on the intact store, and the native path checked the records itself', async () => {
    for (const full of [false, true]) {
      const { native, js } = await verifyBoth(pristine, full);
      expect(native.path).toMatch(/^native/);
      expect(js.path).toMatch(/^JavaScript/);
      expect(native.result).toEqual(js.result);
      expect(native.result.ok).toBe(true);
      expect(native.result.verified).toBe(TOTAL);
    }
    const rows = rowsBoth(pristine);
    expect(rows.native.native).toBe(true);
    expect(rows.js.native).toBe(false);
    expect(rows.native.rows).toEqual(rows.js.rows);
    // Every record but those whose stored text is not ASCII (dr-Zoë) was hashed without JavaScript.
    const notAscii = rows.js.rows.filter((r) => !/^[\x00-\x7f]*$/.test(r.eventJson)).length;
    expect(notAscii).toBeGreaterThan(0);
    expect(rows.native.rows.filter((r) => r.checked)).toHaveLength(TOTAL - notAscii);
  });

  const cases: [string, (db: Database.Database) => void, { seq: number; kind: string; column?: string }][] = [
    ['a modified record (stored text)', (db) => db.prepare(`UPDATE events SET event = replace(event, '"read"', '"export"') WHERE chain = ? AND seq = ?`).run(CHAIN, 300), { seq: 300, kind: 'modified' }],
    ['a modified id column', (db) => db.prepare(`UPDATE events SET id = '00000000-0000-4000-8000-000000000000' WHERE chain = ? AND seq = ?`).run(CHAIN, 301), { seq: 301, kind: 'modified', column: 'id' }],
    ['a modified category column', (db) => db.prepare(`UPDATE events SET category = 'authentication' WHERE chain = ? AND seq = ?`).run(CHAIN, 302), { seq: 302, kind: 'modified', column: 'category' }],
    ['a modified action column', (db) => db.prepare(`UPDATE events SET action = 'export' WHERE chain = ? AND seq = ?`).run(CHAIN, 303), { seq: 303, kind: 'modified', column: 'action' }],
    ['a modified outcome column', (db) => db.prepare(`UPDATE events SET outcome = 'failure' WHERE chain = ? AND seq = ?`).run(CHAIN, 304), { seq: 304, kind: 'modified', column: 'outcome' }],
    ['a modified actor_id column', (db) => db.prepare(`UPDATE events SET actor_id = 'someone-else' WHERE chain = ? AND seq = ?`).run(CHAIN, 305), { seq: 305, kind: 'modified', column: 'actor_id' }],
    ['a modified occurred_ms column', (db) => db.prepare(`UPDATE events SET occurred_ms = occurred_ms + 1 WHERE chain = ? AND seq = ?`).run(CHAIN, 306), { seq: 306, kind: 'modified', column: 'occurred_ms' }],
    [
      'a patient token swapped with another patient\'s (both patients seen before)',
      (db) => db.prepare(`UPDATE events SET patient_id = (SELECT patient_id FROM events WHERE chain = ? AND seq = 10) WHERE chain = ? AND seq = 307`).run(CHAIN, CHAIN),
      { seq: 307, kind: 'modified', column: 'patient_id' },
    ],
    ['a patient token removed', (db) => db.prepare(`UPDATE events SET patient_id = NULL WHERE chain = ? AND seq = ?`).run(CHAIN, 308), { seq: 308, kind: 'modified', column: 'patient_id' }],
    ['a patient token put on a record without a patient', (db) => db.prepare(`UPDATE events SET patient_id = (SELECT patient_id FROM events WHERE chain = ? AND seq = 10) WHERE chain = ? AND seq = 310`).run(CHAIN, CHAIN), { seq: 310, kind: 'modified', column: 'patient_id' }],
    ['a broken link (prev_hash)', (db) => db.prepare(`UPDATE events SET prev_hash = randomblob(32) WHERE chain = ? AND seq = ?`).run(CHAIN, 400), { seq: 400, kind: 'modified' }],
    ['a wrong hash', (db) => db.prepare(`UPDATE events SET hash = randomblob(32) WHERE chain = ? AND seq = ?`).run(CHAIN, 401), { seq: 401, kind: 'modified' }],
    ['a gap (a record deleted)', (db) => db.prepare(`DELETE FROM events WHERE chain = ? AND seq = ?`).run(CHAIN, 500), { seq: 500, kind: 'deleted' }],
    [
      'two records swapped',
      (db) => {
        db.prepare('UPDATE events SET seq = -1 WHERE chain = ? AND seq = 600').run(CHAIN);
        db.prepare('UPDATE events SET seq = 600 WHERE chain = ? AND seq = 601').run(CHAIN);
        db.prepare('UPDATE events SET seq = 601 WHERE chain = ? AND seq = -1').run(CHAIN);
      },
      { seq: 600, kind: 'reordered' },
    ],
    ['an altered ciphertext', (db) => db.prepare(`UPDATE events SET sealed = CAST(substr(sealed, 1, length(sealed) - 1) || x'ff' AS BLOB) WHERE chain = ? AND seq = ?`).run(CHAIN, 700), { seq: 700, kind: 'modified' }],
    ['a hash stored as text', (db) => db.prepare(`UPDATE events SET hash = hex(hash) WHERE chain = ? AND seq = ?`).run(CHAIN, 701), { seq: 701, kind: 'modified' }],
  ];

  it.each(cases)('agree on %s, naming the same break', async (_label, edit, expected) => {
    const dir = copyStore();
    tamper(dir, edit);
    for (const full of [false, true]) {
      const { native, js } = await verifyBoth(dir, full);
      expect(native.result).toEqual(js.result);
      expect(native.result.ok).toBe(false);
      expect(native.result.break).toMatchObject({ chain: CHAIN, ...expected });
    }
    const rows = rowsBoth(dir);
    expect(rows.native.rows).toEqual(rows.js.rows);
  });

  it('agree on a checkpoint whose signed lastHash is not the chain\'s, naming the same break', async () => {
    const dir = copyStore();
    const signing = new FileKeyProvider(dir).signingKey();
    tamper(dir, (db) => {
      const r = db.prepare('SELECT * FROM checkpoints WHERE chain = ? AND idx = 1').get(CHAIN) as Record<string, string | number | null>;
      const body = { chain: CHAIN, treeSize: r.tree_size as number, rootHash: r.root_hash as string, lastHash: 'cd'.repeat(32), issuedAt: r.issued_at as string, previous: r.previous as string | null };
      const cp = signCheckpoint(body, signing.privateKey, signing.keyId);
      db.prepare('UPDATE checkpoints SET last_hash = ?, signature = ?, checkpoint_hash = ? WHERE chain = ? AND idx = 1').run(cp.lastHash, cp.signature, checkpointHash(cp), CHAIN);
    });
    for (const full of [false, true]) {
      const { native, js } = await verifyBoth(dir, full);
      expect(native.result).toEqual(js.result);
      expect(native.result.ok).toBe(false);
      // The records of the block the checkpoint seals do not lead to its lastHash: named at the block's first record.
      expect(native.result.break).toMatchObject({ chain: CHAIN, seq: EVERY, kind: 'modified' });
    }
  });
});

describeBuilt('patient tokens on the native path', () => {
  /** The data dir's field protection, counting the tokens JavaScript is asked for; `withKey: false` keeps the key from the extension. */
  function countingProtection(dir: string, withKey: boolean) {
    const inner = embeddedFieldProtection(loadConfig({}, { dataDir: dir }));
    const counted = { asked: 0 };
    const protection = {
      ...inner,
      patientToken: (id: string) => {
        counted.asked++;
        return inner.patientToken(id);
      },
      patientTokenKey: withKey ? () => inner.patientTokenKey() : undefined,
    };
    return { protection, counted };
  }

  function readWith(dir: string, protection: ReturnType<typeof countingProtection>['protection'], env: NodeJS.ProcessEnv = {}) {
    const reader = new SqliteChainReader(openDatabase(dir, { readonly: true }), protection, env);
    try {
      return [...reader.readChain(CHAIN, 0, undefined, 97)].flat().map(plain);
    } finally {
      reader.close();
    }
  }

  it('are computed by the extension itself when it has the key (JavaScript asked only for records it checks whole), and learnt from JavaScript without it, with the same rows', () => {
    const js = rowsBoth(pristine).js.rows;
    const keyed = countingProtection(pristine, true);
    expect(readWith(pristine, keyed.protection)).toEqual(js);
    // Only for the records JavaScript checks whole (stored text not ASCII: dr-Zoë), once per patient.
    const leftToJs = new Set(js.filter((r) => !/^[\x00-\x7f]*$/.test(r.eventJson)).map((r) => (JSON.parse(r.eventJson) as { patient?: { id: string } }).patient?.id).filter((id) => id !== undefined));
    expect(leftToJs.size).toBeGreaterThan(0);
    expect(keyed.counted.asked).toBe(leftToJs.size);
    // Without the key: each of the 40 patients is asked for once (then the extension knows the pair).
    const learnt = countingProtection(pristine, false);
    expect(readWith(pristine, learnt.protection)).toEqual(js);
    expect(learnt.counted.asked).toBe(40);
  });

  it('of ids that are not their own canonical form (a space inside, a FHIR reference) are left to JavaScript, and a token moved onto one is named', async () => {
    const t = await startTestApp({ integrity: { checkpointEveryRecords: EVERY, checkpointIntervalSeconds: 3600, verifyWorkers: 0 } });
    const client = await t.client('integration');
    // 'Patient/Patient/MRN-R-1' is stored as 'Patient/MRN-R-1', whose token is the token of 'MRN-R-1'.
    const ids = ['MRN S 1', 'Patient/Patient/MRN-R-1', 'MRN-P-2'];
    const events = Array.from({ length: 30 }, (_, k) => accessEvent({ patient: { id: ids[k % 3] } }));
    expect((await client.request('POST', '/v1/events', { events })).status).toBe(202);
    await t.close();
    const dir = t.dataDir;
    created.push(dir);
    const stored = new Database(path.join(dir, 'audit.db'), { readonly: true });
    const tokens = stored.prepare('SELECT DISTINCT patient_id FROM events WHERE chain = ?').pluck().all(CHAIN);
    stored.close();
    expect(tokens).toHaveLength(3);
    const js = readWith(dir, countingProtection(dir, true).protection, { VERIFY_NATIVE: '0' });
    const keyed = countingProtection(dir, true);
    const native = readWith(dir, keyed.protection);
    expect(native).toEqual(js);
    expect(native.every((r) => r.checked && r.column === null)).toBe(true);
    // Only the two ids the extension leaves to JavaScript were asked for (once each: then the extension knows the pair).
    expect(keyed.counted.asked).toBe(2);
    for (const seq of [0, 1]) {
      const copy = scratchDir('audit-native-token-');
      fs.copyFileSync(path.join(dir, 'audit.db'), path.join(copy, 'audit.db'));
      fs.cpSync(path.join(dir, 'keys'), path.join(copy, 'keys'), { recursive: true });
      // The token of the plain id (seq 2) on a record whose id the extension does not tokenize itself, and back.
      tamper(copy, (db) => db.prepare(`UPDATE events SET patient_id = (SELECT patient_id FROM events WHERE chain = ? AND seq = 2) WHERE chain = ? AND seq = ?`).run(CHAIN, CHAIN, seq));
      const { native: n, js: j } = await verifyBoth(copy, false);
      expect(n.result).toEqual(j.result);
      expect(n.result.break).toMatchObject({ chain: CHAIN, seq, kind: 'modified', column: 'patient_id' });
    }
  });
});
