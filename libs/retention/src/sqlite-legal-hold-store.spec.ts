/**
 * The SQLite legal hold store on a real database file (what every hold store does, keeping, listing
 * and releasing once, is the contract in test/contracts/legal-hold-store.contract.ts): the
 * database refuses deletes and any other change; coverage of a chain range counts held
 * records once and finds patients through the token the events table indexes. With field
 * protection, patient ids are stored as token + sealed id (never in clear), and holds stored in
 * clear by an earlier version are migrated on open and keep holding the same records.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { embeddedFieldProtection } from '@app/security';
import { SqliteDb, SqliteEventStore, openDatabase } from '@app/storage';
import { LegalHold } from './legal-hold';
import { LegalHoldAlreadyReleasedError, LegalHoldNotFoundError } from './legal-hold-store.port';
import { SqliteLegalHoldStore, holdPatientProtection } from './sqlite-legal-hold-store';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function hold(n: number, over: Partial<LegalHold>): LegalHold {
  return {
    id: id(n),
    status: 'active',
    patient: null,
    actor: null,
    from: null,
    to: null,
    reason: 'litigation hold',
    caseId: `CASE-${n}`,
    createdBy: 'u-compliance',
    createdByRole: 'compliance_officer',
    createdAt: `2026-01-0${n}T00:00:00.000Z`,
    releasedAt: null,
    releasedBy: null,
    releasedByRole: null,
    releaseNote: null,
    ...over,
  };
}

describe('SqliteLegalHoldStore', () => {
  let dir: string;
  let db: SqliteDb;
  let store: SqliteLegalHoldStore;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legal-holds-'));
    db = openDatabase(dir);
    const protection = embeddedFieldProtection({ dataDir: dir });
    const events = new SqliteEventStore(db, protection);
    // Chain data_access, seq 0..9: patient P1 at seq 2, 5 and 8 (8 by dr-x), dr-x also at 9; event time = 2024-01-(seq+1).
    let prev = GENESIS_HASH;
    const records = Array.from({ length: 10 }, (_, seq) => {
      const event: AccessEvent = {
        id: id(100 + seq),
        occurredAt: `2024-01-${String(seq + 1).padStart(2, '0')}T00:00:00.000Z`,
        category: 'data_access',
        action: 'read',
        outcome: 'success',
        actor: { id: seq >= 8 ? 'dr-x' : 'dr-y', type: 'user' },
        patient: { id: [2, 5, 8].includes(seq) ? 'P1' : `P-other-${seq}` },
        source: { system: 'ehr' },
      };
      const eventJson = canonicalize(event);
      const receivedAt = '2026-01-01T00:00:00.000Z';
      const hash = recordHash(prev, 'data_access', seq, receivedAt, eventJson);
      const r = { chain: 'data_access', seq, receivedAt, event, eventJson, prevHash: prev, hash };
      prev = hash;
      return r;
    });
    await events.append(records);
    store = new SqliteLegalHoldStore(db, { patientIndexValue: (p) => protection.patientToken(p) });
    await store.create(hold(1, { patient: 'P1' }));
    await store.create(hold(2, { actor: 'dr-x', from: '2024-01-09T00:00:00.000Z' }));
    await store.release(id(2), { releasedAt: '2026-02-01T00:00:00.000Z', releasedBy: 'u-admin', releasedByRole: 'admin', releaseNote: 'case closed' });
  });
  afterAll(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the database refuses to delete a hold, to change what it covers, or to un-release it', () => {
    expect(() => db.prepare('DELETE FROM legal_holds WHERE id = ?').run(id(1))).toThrow(/cannot be deleted/);
    expect(() => db.prepare("UPDATE legal_holds SET patient_id = 'P2' WHERE id = ?").run(id(1))).toThrow(/can only be released/);
    expect(() => db.prepare("UPDATE legal_holds SET released_at = 'x', released_by = 'y', release_note = 'n', reason = 'other' WHERE id = ?").run(id(1))).toThrow(
      /can only be released/,
    );
    expect(() => db.prepare('UPDATE legal_holds SET released_at = NULL, released_by = NULL, release_note = NULL WHERE id = ?').run(id(2))).toThrow(/can only be released/);
    expect(() => db.prepare("INSERT INTO legal_holds (id, reason, case_id, created_by, created_by_role, created_at) VALUES ('x', 'r', 'c', 'u', 'admin', 't')").run()).toThrow(
      /CHECK constraint/,
    );
  });

  it('coverage: which records of a chain range active holds cover (patient found through its token)', async () => {
    expect(await store.coverage('data_access', 0, 9)).toEqual({
      chain: 'data_access',
      fromSeq: 0,
      toSeq: 9,
      held: true,
      heldRecords: 3,
      firstHeldSeq: 2,
      lastHeldSeq: 8,
      holdIds: [id(1)],
    });
    expect(await store.coverage('data_access', 0, 1)).toMatchObject({ held: false, heldRecords: 0, firstHeldSeq: null, holdIds: [] });
    expect(await store.coverage('authentication', 0, 9)).toMatchObject({ held: false });
    // A second, overlapping hold: records are counted once.
    await store.create(hold(3, { from: '2024-01-06T00:00:00.000Z', to: '2024-01-10T00:00:00.000Z' })); // seq 5..8
    expect(await store.coverage('data_access', 0, 9)).toMatchObject({ held: true, heldRecords: 5, firstHeldSeq: 2, lastHeldSeq: 8, holdIds: [id(3), id(1)] });
    expect(await store.coverage('data_access', 6, 7)).toMatchObject({ heldRecords: 2, firstHeldSeq: 6, lastHeldSeq: 7, holdIds: [id(3)] });
  });

  it('refuses to answer coverage when the events are in another engine', async () => {
    const other = new SqliteLegalHoldStore(db, { eventsInThisDatabase: false });
    await expect(other.coverage('data_access', 0, 9)).rejects.toThrow(/embedded database/);
  });

  it('with field protection: no patient id in clear at rest; holds stored in clear before are migrated and still hold', async () => {
    // The table as the previous version created it (patient ids in clear, no sealed column).
    const legacyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'legal-holds-legacy-'));
    fs.copyFileSync(path.join(dir, 'audit.db'), path.join(legacyDir, 'audit.db'));
    for (const f of ['audit.db-wal', 'audit.db-shm']) if (fs.existsSync(path.join(dir, f))) fs.copyFileSync(path.join(dir, f), path.join(legacyDir, f));
    fs.cpSync(path.join(dir, 'keys'), path.join(legacyDir, 'keys'), { recursive: true });
    const legacy = openDatabase(legacyDir);
    try {
      legacy.exec('DROP TRIGGER legal_holds_release_only; DROP TRIGGER legal_holds_never_deleted; DROP INDEX legal_holds_by_created; DROP TABLE legal_holds;');
      legacy.exec(LEGACY_SCHEMA);
      legacy
        .prepare("INSERT INTO legal_holds (id, patient_id, reason, case_id, created_by, created_by_role, created_at) VALUES (?, 'P1', 'r', 'CASE-L', 'u', 'compliance_officer', '2026-01-01T00:00:00.000Z')")
        .run(id(7));
      const protection = embeddedFieldProtection({ dataDir: legacyDir });
      const migrated = new SqliteLegalHoldStore(legacy, { patientIndexValue: (p) => protection.patientToken(p), patientIds: holdPatientProtection(protection) });
      await migrated.create(hold(8, { patient: 'P-NEW-1' }));
      const rows = legacy.prepare('SELECT id, patient_id, patient_sealed FROM legal_holds ORDER BY id').all() as { id: string; patient_id: string; patient_sealed: Buffer }[];
      expect(rows.map((r) => r.patient_id)).toEqual([protection.patientToken('P1'), protection.patientToken('P-NEW-1')]);
      for (const r of rows) expect(r.patient_sealed.toString('latin1')).not.toMatch(/P1|P-NEW-1/);
      // Listing still shows the ids (to whoever may see them: the service decides per role) ...
      expect((await migrated.get(id(7)))!.patient).toBe('P1');
      expect((await migrated.get(id(8)))!.patient).toBe('P-NEW-1');
      // ... coverage still finds the held records, and what a hold covers still cannot change.
      expect(await migrated.coverage('data_access', 0, 9)).toMatchObject({ heldRecords: 3, firstHeldSeq: 2, lastHeldSeq: 8, holdIds: [id(7)] });
      expect(() => legacy.prepare('UPDATE legal_holds SET patient_sealed = NULL WHERE id = ?').run(id(7))).toThrow(/can only be released/);
    } finally {
      legacy.close();
      fs.rmSync(legacyDir, { recursive: true, force: true });
    }
  });
});

/** The legal hold schema of the previous version (patient ids in clear). */
const LEGACY_SCHEMA = `
CREATE TABLE IF NOT EXISTS legal_holds (
  id                TEXT PRIMARY KEY,
  patient_id        TEXT,
  actor_id          TEXT,
  from_at           TEXT,
  to_at             TEXT,
  from_ms           INTEGER,
  to_ms             INTEGER,
  reason            TEXT NOT NULL,
  case_id           TEXT NOT NULL,
  created_by        TEXT NOT NULL,
  created_by_role   TEXT NOT NULL,
  created_at        TEXT NOT NULL,
  released_at       TEXT,
  released_by       TEXT,
  released_by_role  TEXT,
  release_note      TEXT,
  CHECK (patient_id IS NOT NULL OR actor_id IS NOT NULL OR from_ms IS NOT NULL OR to_ms IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS legal_holds_by_created ON legal_holds (created_at);

CREATE TRIGGER IF NOT EXISTS legal_holds_never_deleted BEFORE DELETE ON legal_holds
BEGIN SELECT RAISE(ABORT, 'legal holds cannot be deleted; release them'); END;

CREATE TRIGGER IF NOT EXISTS legal_holds_release_only BEFORE UPDATE ON legal_holds
WHEN OLD.released_at IS NOT NULL OR NEW.released_at IS NULL OR NEW.released_by IS NULL OR NEW.release_note IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.patient_id IS NOT OLD.patient_id OR NEW.actor_id IS NOT OLD.actor_id
  OR NEW.from_at IS NOT OLD.from_at OR NEW.to_at IS NOT OLD.to_at OR NEW.from_ms IS NOT OLD.from_ms OR NEW.to_ms IS NOT OLD.to_ms
  OR NEW.reason IS NOT OLD.reason OR NEW.case_id IS NOT OLD.case_id OR NEW.created_by IS NOT OLD.created_by
  OR NEW.created_by_role IS NOT OLD.created_by_role OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'a legal hold can only be released, once'); END;
`;
