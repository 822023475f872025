/**
 * Embedded LegalHoldStore on the service's SQLite database (the same file as the events, so the
 * coverage question is answered with one query against the events table). The database itself
 * keeps holds append-only: triggers refuse every DELETE and every UPDATE except the one-time
 * release of an active hold (release columns only).
 *
 * Patient ids are not stored in clear when the store is given field protection (`patientIds`):
 * `patient_id` holds the patient's keyed-HMAC token (what the events' index holds, so coverage
 * matches on it directly) and `patient_sealed` the id sealed with AES-256-GCM like event fields,
 * opened only to show a hold. Holds written before this are migrated on open (one transaction).
 */
import { FieldProtection, SealedText, type SqliteDb } from '@app/storage';
import { LegalHold, LegalHoldStatus } from './legal-hold';
import { HoldCoverage, HoldRelease, LegalHoldAlreadyReleasedError, LegalHoldNotFoundError, LegalHoldStore, type HoldPatientProtection } from './legal-hold-store.port';

export const LEGAL_HOLD_SCHEMA_SQL = `
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
  patient_sealed    BLOB,
  CHECK (patient_id IS NOT NULL OR actor_id IS NOT NULL OR from_ms IS NOT NULL OR to_ms IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS legal_holds_by_created ON legal_holds (created_at);

CREATE TRIGGER IF NOT EXISTS legal_holds_never_deleted BEFORE DELETE ON legal_holds
BEGIN SELECT RAISE(ABORT, 'legal holds cannot be deleted; release them'); END;
`;

/** Only a release may change a hold (installed after the sealed-patient migration). */
const LEGAL_HOLD_RELEASE_TRIGGER_SQL = `
CREATE TRIGGER IF NOT EXISTS legal_holds_release_only BEFORE UPDATE ON legal_holds
WHEN OLD.released_at IS NOT NULL OR NEW.released_at IS NULL OR NEW.released_by IS NULL OR NEW.release_note IS NULL
  OR NEW.id IS NOT OLD.id OR NEW.patient_id IS NOT OLD.patient_id OR NEW.patient_sealed IS NOT OLD.patient_sealed OR NEW.actor_id IS NOT OLD.actor_id
  OR NEW.from_at IS NOT OLD.from_at OR NEW.to_at IS NOT OLD.to_at OR NEW.from_ms IS NOT OLD.from_ms OR NEW.to_ms IS NOT OLD.to_ms
  OR NEW.reason IS NOT OLD.reason OR NEW.case_id IS NOT OLD.case_id OR NEW.created_by IS NOT OLD.created_by
  OR NEW.created_by_role IS NOT OLD.created_by_role OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'a legal hold can only be released, once'); END;
`;

interface HoldRow {
  id: string;
  patient_id: string | null;
  actor_id: string | null;
  from_at: string | null;
  to_at: string | null;
  reason: string;
  case_id: string;
  created_by: string;
  created_by_role: string;
  created_at: string;
  released_at: string | null;
  released_by: string | null;
  released_by_role: string | null;
  release_note: string | null;
  patient_sealed: Buffer | null;
}

const COLUMNS =
  'id, patient_id, actor_id, from_at, to_at, reason, case_id, created_by, created_by_role, created_at, released_at, released_by, released_by_role, release_note, patient_sealed';

export interface SqliteLegalHoldStoreOptions {
  /**
   * What the events table's `patient_id` column holds for a patient id: its keyed token when field
   * protection stores tokens there (rows holding the id itself match as well). Default: the id.
   */
  patientIndexValue?: (patientId: string) => string;
  /**
   * False when the events live in another engine (Elasticsearch): `coverage` then refuses to answer
   * instead of reporting an empty events table as "nothing held".
   */
  eventsInThisDatabase?: boolean;
  /** Store patient ids as token + sealed id instead of in clear (and migrate holds stored in clear). */
  patientIds?: HoldPatientProtection;
}

export class SqliteLegalHoldStore implements LegalHoldStore {
  private readonly insertHold;
  private readonly selectHold;
  private readonly selectAll;
  private readonly selectActive;
  private readonly selectReleased;
  private readonly releaseHold;

  constructor(
    private readonly db: SqliteDb,
    private readonly options: SqliteLegalHoldStoreOptions = {},
  ) {
    db.exec(LEGAL_HOLD_SCHEMA_SQL);
    migrateLegalHolds(db, options.patientIds);
    this.insertHold = db.prepare(
      `INSERT INTO legal_holds (id, patient_id, actor_id, from_at, to_at, from_ms, to_ms, reason, case_id, created_by, created_by_role, created_at, patient_sealed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectHold = db.prepare(`SELECT ${COLUMNS} FROM legal_holds WHERE id = ?`);
    this.selectAll = db.prepare(`SELECT ${COLUMNS} FROM legal_holds ORDER BY created_at DESC, id`);
    this.selectActive = db.prepare(`SELECT ${COLUMNS} FROM legal_holds WHERE released_at IS NULL ORDER BY created_at DESC, id`);
    this.selectReleased = db.prepare(`SELECT ${COLUMNS} FROM legal_holds WHERE released_at IS NOT NULL ORDER BY created_at DESC, id`);
    this.releaseHold = db.prepare(
      'UPDATE legal_holds SET released_at = ?, released_by = ?, released_by_role = ?, release_note = ? WHERE id = ? AND released_at IS NULL',
    );
  }

  async create(h: LegalHold): Promise<void> {
    const ids = this.options.patientIds;
    this.insertHold.run(
      h.id,
      h.patient !== null && ids ? ids.token(h.patient) : h.patient,
      h.actor,
      h.from,
      h.to,
      h.from === null ? null : Date.parse(h.from),
      h.to === null ? null : Date.parse(h.to),
      h.reason,
      h.caseId,
      h.createdBy,
      h.createdByRole,
      h.createdAt,
      h.patient !== null && ids ? ids.seal(h.patient) : null,
    );
  }

  async get(id: string): Promise<LegalHold | null> {
    const row = this.selectHold.get(id) as HoldRow | undefined;
    return row ? this.toHold(row) : null;
  }

  async list(status?: LegalHoldStatus): Promise<LegalHold[]> {
    const stmt = status === 'active' ? this.selectActive : status === 'released' ? this.selectReleased : this.selectAll;
    return (stmt.all() as HoldRow[]).map((r) => this.toHold(r));
  }

  async release(id: string, r: HoldRelease): Promise<LegalHold> {
    const changed = this.releaseHold.run(r.releasedAt, r.releasedBy, r.releasedByRole, r.releaseNote, id).changes;
    if (changed === 0) {
      if (!this.selectHold.get(id)) throw new LegalHoldNotFoundError(id);
      throw new LegalHoldAlreadyReleasedError(id);
    }
    return (await this.get(id))!;
  }

  private toHold(r: HoldRow): LegalHold {
    return toHoldRow(r, this.options.patientIds);
  }

  async coverage(chain: string, fromSeq: number, toSeq: number): Promise<HoldCoverage> {
    if (this.options.eventsInThisDatabase === false) throw new Error('legal hold coverage needs the events in the embedded database; this store cannot answer for another engine');
    const out: HoldCoverage = { chain, fromSeq, toSeq, held: false, heldRecords: 0, firstHeldSeq: null, lastHeldSeq: null, holdIds: [] };
    const conditions: { sql: string; params: (string | number)[] }[] = [];
    // Hot and warm records alike (restored copies of archived records lie below the purged prefix).
    const hasWarm = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'warm_events'").get() !== undefined;
    const source = hasWarm
      ? '(SELECT chain, seq, patient_id, actor_id, occurred_ms FROM events UNION ALL SELECT chain, seq, patient_id, actor_id, occurred_ms FROM warm_events WHERE restored = 0)'
      : 'events';
    for (const stored of this.selectActive.all() as HoldRow[]) {
      const hold = this.toHold(stored);
      // A sealed hold matches on its stored token (and, for events stored before tokens, the id).
      const cond = holdCondition(hold, this.options.patientIndexValue ?? ((id) => id), stored.patient_sealed !== null ? stored.patient_id : null);
      // Unary + on chain/seq keeps the planner on the hold's own index (patient, actor or time),
      // which is far narrower than a chain range that may hold millions of records.
      const row = this.db
        .prepare(`SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM ${source} WHERE +chain = ? AND +seq >= ? AND +seq <= ? AND ${cond.sql}`)
        .get(chain, fromSeq, toSeq, ...cond.params) as { n: number; lo: number | null; hi: number | null };
      if (row.n === 0) continue;
      conditions.push(cond);
      out.holdIds.push(hold.id);
      out.heldRecords = row.n;
      out.firstHeldSeq = out.firstHeldSeq === null ? row.lo : Math.min(out.firstHeldSeq, row.lo!);
      out.lastHeldSeq = out.lastHeldSeq === null ? row.hi : Math.max(out.lastHeldSeq, row.hi!);
    }
    if (conditions.length > 1) {
      // Several holds may cover the same record: count each record once.
      const row = this.db
        .prepare(`SELECT COUNT(*) AS n FROM ${source} WHERE chain = ? AND seq >= ? AND seq <= ? AND (${conditions.map((c) => `(${c.sql})`).join(' OR ')})`)
        .get(chain, fromSeq, toSeq, ...conditions.flatMap((c) => c.params)) as { n: number };
      out.heldRecords = row.n;
    }
    out.held = out.heldRecords > 0;
    return out;
  }
}

/** SQL over the events table matching the records a hold covers (same rule as holdCovers). */
function holdCondition(h: LegalHold, patientIndexValue: (patientId: string) => string, storedToken: string | null): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  // The token (field protection) and, for rows written before it, the id itself.
  if (h.patient !== null) (parts.push('patient_id IN (?, ?)'), params.push(storedToken ?? patientIndexValue(h.patient), h.patient));
  if (h.actor !== null) (parts.push('actor_id = ?'), params.push(h.actor));
  if (h.from !== null) (parts.push('occurred_ms >= ?'), params.push(Date.parse(h.from)));
  if (h.to !== null) (parts.push('occurred_ms < ?'), params.push(Date.parse(h.to)));
  return { sql: parts.join(' AND '), params };
}

/**
 * Adds `patient_sealed` to a hold table created before it, moves patient ids stored in clear to
 * token + sealed id (when protection is given), and installs the release-only trigger that also
 * guards `patient_sealed`. One transaction; the old trigger is dropped only inside it.
 */
function migrateLegalHolds(db: SqliteDb, ids: HoldPatientProtection | undefined): void {
  const columns = db.prepare('PRAGMA table_info(legal_holds)').all() as { name: string }[];
  const trigger = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'legal_holds_release_only'").get() as { sql: string } | undefined;
  const clear = ids && columns.some((c) => c.name === 'patient_sealed')
    ? (db.prepare('SELECT id, patient_id FROM legal_holds WHERE patient_id IS NOT NULL AND patient_sealed IS NULL').all() as { id: string; patient_id: string }[])
    : [];
  const needsColumn = !columns.some((c) => c.name === 'patient_sealed');
  const needsTrigger = !trigger || !trigger.sql.includes('patient_sealed');
  if (!needsColumn && !needsTrigger && clear.length === 0) return;
  db.transaction(() => {
    if (needsColumn) db.exec('ALTER TABLE legal_holds ADD COLUMN patient_sealed BLOB');
    const rows = needsColumn && ids ? (db.prepare('SELECT id, patient_id FROM legal_holds WHERE patient_id IS NOT NULL').all() as { id: string; patient_id: string }[]) : clear;
    db.exec('DROP TRIGGER IF EXISTS legal_holds_release_only');
    if (ids) {
      const update = db.prepare('UPDATE legal_holds SET patient_id = ?, patient_sealed = ? WHERE id = ?');
      for (const r of rows) update.run(ids.token(r.patient_id), ids.seal(r.patient_id), r.id);
    }
    db.exec(LEGAL_HOLD_RELEASE_TRIGGER_SQL);
  })();
}

function toHoldRow(r: HoldRow, ids: HoldPatientProtection | undefined): LegalHold {
  let patient = r.patient_id;
  if (r.patient_sealed !== null) {
    if (!ids) throw new Error('legal holds: patient ids are sealed; open the store with field protection');
    patient = ids.open(r.patient_sealed);
  }
  return {
    id: r.id,
    status: r.released_at === null ? 'active' : 'released',
    patient,
    actor: r.actor_id,
    from: r.from_at,
    to: r.to_at,
    reason: r.reason,
    caseId: r.case_id,
    createdBy: r.created_by,
    createdByRole: r.created_by_role,
    createdAt: r.created_at,
    releasedAt: r.released_at,
    releasedBy: r.released_by,
    releasedByRole: r.released_by_role,
    releaseNote: r.release_note,
  };
}

/** Hold patient-id protection from the store's field protection: its token, and SealedText over its data keys. */
export function holdPatientProtection(protection: FieldProtection): HoldPatientProtection {
  const sealed = new SealedText(protection.dataKeys);
  return { token: (id) => protection.patientToken(id), seal: (id) => sealed.seal(id), open: (b) => sealed.open(b) };
}
