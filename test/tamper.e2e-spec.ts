/**
 * Tampering with a real database file, as an attacker with file access would (dropping the
 * immutability triggers first): `auditctl verify` and `GET /v1/integrity/verify` must name the
 * chain, the sequence number and the kind of every break. Patient ids and IPs are sealed at rest
 * (AES-256-GCM), so a byte is changed both in the clear part of a record and inside its ciphertext.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { recordHash } from '@app/ledger';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { startTestApp, tempDataDir } from './support/test-app';

const CHAIN = 'data_access';
let pristine: string;

beforeAll(async () => {
  const t = await startTestApp();
  const client = await t.client('integration');
  for (let b = 0; b < 4; b++) {
    const events = Array.from({ length: 50 }, (_, i) => {
      const n = String(b * 50 + i).padStart(5, '0');
      return accessEvent({ patient: { id: `MRN-TAMPER-${n}` }, resource: { type: 'Observation', id: `OBS-TAMPER-${n}` } });
    });
    expect((await client.request('POST', '/v1/events', { events })).status).toBe(202);
  }
  await t.close();
  pristine = t.dataDir;
});

function copyStore(): string {
  const dir = tempDataDir('audit-tamper-');
  for (const f of fs.readdirSync(pristine)) if (f.startsWith('audit.db')) fs.copyFileSync(path.join(pristine, f), path.join(dir, f));
  // The data keys travel with the copy: verification decrypts sealed fields before hashing.
  fs.cpSync(path.join(pristine, 'keys'), path.join(dir, 'keys'), { recursive: true });
  return dir;
}

/** Opens the copy like an attacker: triggers dropped, constraints still as SQLite keeps them. */
function tamper(dir: string, sql: (db: Database.Database) => void): void {
  const db = new Database(path.join(dir, 'audit.db'));
  db.exec('DROP TRIGGER events_are_immutable; DROP TRIGGER events_are_never_deleted;');
  sql(db);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function shiftUp(db: Database.Database, fromSeq: number): void {
  db.prepare('UPDATE events SET seq = -seq - 1 WHERE chain = ? AND seq >= ?').run(CHAIN, fromSeq);
  db.prepare('UPDATE events SET seq = -seq WHERE chain = ? AND seq < 0').run(CHAIN);
}

function expectBreak(dir: string, seq: number, kind: string): void {
  const r = runCli(['verify', '--data-dir', dir]);
  expect(r.stdout).toContain(`BREAK: chain ${CHAIN} seq ${seq} kind ${kind}`);
  expect(r.status).toBe(1);
}

describe('auditctl verify on a tampered database file', () => {
  it('passes on the untouched store with exit code 0', () => {
    const r = runCli(['verify', '--data-dir', copyStore()]);
    expect(r.stdout).toContain('OK: 200 records verified');
    expect(r.status).toBe(0);
  });

  it('names a single byte changed in the file itself as modified', () => {
    const dir = copyStore();
    const file = path.join(dir, 'audit.db');
    const bytes = fs.readFileSync(file);
    // The patient id is sealed (no plaintext anywhere in the file); change the resource id, stored in clear.
    expect(bytes.indexOf(Buffer.from('MRN-TAMPER-'))).toBe(-1);
    const needle = Buffer.from('{"id":"OBS-TAMPER-00123"');
    const at = bytes.indexOf(needle);
    expect(at).toBeGreaterThan(0);
    bytes[at + needle.length - 2] = '9'.charCodeAt(0); // 00123 -> 00129
    fs.writeFileSync(file, bytes);
    expectBreak(dir, 123, 'modified');
  });

  it('names a single byte flipped inside a record\'s sealed ciphertext (patient id, IP) as modified', () => {
    const dir = copyStore();
    const file = path.join(dir, 'audit.db');
    const db = new Database(file, { readonly: true });
    const sealed = (db.prepare('SELECT sealed FROM events WHERE chain = ? AND seq = 123').get(CHAIN) as { sealed: Buffer }).sealed;
    db.close();
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf(sealed);
    expect(at).toBeGreaterThan(0);
    bytes[at + sealed.length - 1] ^= 0x01; // last ciphertext byte: GCM authentication fails
    fs.writeFileSync(file, bytes);
    expectBreak(dir, 123, 'modified');
  });

  it.each([0, 77, 199])('names a deleted row at seq %i', (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare('DELETE FROM events WHERE chain = ? AND seq = ?').run(CHAIN, seq));
    expectBreak(dir, seq, 'deleted');
  });

  it.each([0, 64, 198])('names two swapped rows at seq %i as reordered', (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => {
      db.prepare('UPDATE events SET seq = -1 WHERE chain = ? AND seq = ?').run(CHAIN, seq);
      db.prepare('UPDATE events SET seq = ? WHERE chain = ? AND seq = ?').run(seq, CHAIN, seq + 1);
      db.prepare('UPDATE events SET seq = ? WHERE chain = ? AND seq = -1').run(seq + 1, CHAIN);
    });
    expectBreak(dir, seq, 'reordered');
  });

  it.each([0, 101])('names a forged row inserted at seq %i (correctly hashed, later rows renumbered)', (seq) => {
    const dir = copyStore();
    tamper(dir, (db) => {
      const prev = seq === 0 ? Buffer.alloc(32) : (db.prepare('SELECT hash FROM events WHERE chain = ? AND seq = ?').get(CHAIN, seq - 1) as { hash: Buffer }).hash;
      shiftUp(db, seq);
      const e = accessEvent({ patient: { id: 'MRN-FORGED' } });
      const json = JSON.stringify(e); // not canonical, but the forger hashes exactly what he stores
      const receivedAt = new Date().toISOString();
      const hash = recordHash(prev, CHAIN, seq, receivedAt, json);
      db.prepare(
        `INSERT INTO events (chain, seq, id, received_at, occurred_ms, category, action, outcome, actor_id, patient_id, event, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, 'data_access', 'read', 'success', ?, ?, ?, ?, ?)`,
      ).run(CHAIN, seq, e.id, receivedAt, Date.parse(e.occurredAt), e.actor.id, 'MRN-FORGED', json, prev, hash);
    });
    expectBreak(dir, seq, 'inserted');
  });

  it('names a modified row over HTTP as well', async () => {
    const dir = copyStore();
    tamper(dir, (db) => db.prepare(`UPDATE events SET event = replace(event, '"read"', '"export"') WHERE chain = ? AND seq = 42`).run(CHAIN));
    const t = await startTestApp({ dataDir: dir });
    try {
      const auditor = await t.client('auditor');
      const res = JSON.parse((await auditor.request('GET', '/v1/integrity/verify')).body);
      expect(res).toMatchObject({ ok: false, break: { chain: CHAIN, seq: 42, kind: 'modified' } });
    } finally {
      await t.close();
    }
  });

  it('refuses UPDATE and DELETE at the database level', () => {
    const db = new Database(path.join(copyStore(), 'audit.db'));
    try {
      expect(() => db.prepare('UPDATE events SET action = ? WHERE seq = 1').run('x')).toThrow(/immutable/);
      expect(() => db.prepare('DELETE FROM events WHERE seq = 1').run()).toThrow(/cannot be deleted/);
    } finally {
      db.close();
    }
  });
});
