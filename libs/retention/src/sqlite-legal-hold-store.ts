/**
 * Embedded LegalHoldStore on the service's SQLite database (the same file as the events, so the
 * coverage question is answered with one query against the events table). The database itself
 * keeps holds append-only: triggers refuse every DELETE and every UPDATE except the one-time
 * release of an active hold (release columns only).
 */
import type { SqliteDb } from '@app/storage';
import { LegalHold, LegalHoldStatus } from './legal-hold';
import { HoldCoverage, HoldRelease, LegalHoldAlreadyReleasedError, LegalHoldNotFoundError, LegalHoldStore } from './legal-hold-store.port';

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
}

const COLUMNS =
  'id, patient_id, actor_id, from_at, to_at, reason, case_id, created_by, created_by_role, created_at, released_at, released_by, released_by_role, release_note';

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
    this.insertHold = db.prepare(
      `INSERT INTO legal_holds (id, patient_id, actor_id, from_at, to_at, from_ms, to_ms, reason, case_id, created_by, created_by_role, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    this.insertHold.run(
      h.id,
      h.patient,
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
    );
  }

  async get(id: string): Promise<LegalHold | null> {
    const row = this.selectHold.get(id) as HoldRow | undefined;
    return row ? toHold(row) : null;
  }

  async list(status?: LegalHoldStatus): Promise<LegalHold[]> {
    const stmt = status === 'active' ? this.selectActive : status === 'released' ? this.selectReleased : this.selectAll;
    return (stmt.all() as HoldRow[]).map(toHold);
  }

  async release(id: string, r: HoldRelease): Promise<LegalHold> {
    const changed = this.releaseHold.run(r.releasedAt, r.releasedBy, r.releasedByRole, r.releaseNote, id).changes;
    if (changed === 0) {
      if (!this.selectHold.get(id)) throw new LegalHoldNotFoundError(id);
      throw new LegalHoldAlreadyReleasedError(id);
    }
    return (await this.get(id))!;
  }

  async coverage(chain: string, fromSeq: number, toSeq: number): Promise<HoldCoverage> {
    if (this.options.eventsInThisDatabase === false) throw new Error('legal hold coverage needs the events in the embedded database; this store cannot answer for another engine');
    const out: HoldCoverage = { chain, fromSeq, toSeq, held: false, heldRecords: 0, firstHeldSeq: null, lastHeldSeq: null, holdIds: [] };
    const conditions: { sql: string; params: (string | number)[] }[] = [];
    for (const hold of await this.list('active')) {
      const cond = holdCondition(hold, this.options.patientIndexValue ?? ((id) => id));
      // Unary + on chain/seq keeps the planner on the hold's own index (patient, actor or time),
      // which is far narrower than a chain range that may hold millions of records.
      const row = this.db
        .prepare(`SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM events WHERE +chain = ? AND +seq >= ? AND +seq <= ? AND ${cond.sql}`)
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
        .prepare(`SELECT COUNT(*) AS n FROM events WHERE chain = ? AND seq >= ? AND seq <= ? AND (${conditions.map((c) => `(${c.sql})`).join(' OR ')})`)
        .get(chain, fromSeq, toSeq, ...conditions.flatMap((c) => c.params)) as { n: number };
      out.heldRecords = row.n;
    }
    out.held = out.heldRecords > 0;
    return out;
  }
}

/** SQL over the events table matching the records a hold covers (same rule as holdCovers). */
function holdCondition(h: LegalHold, patientIndexValue: (patientId: string) => string): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  // The token (field protection) and, for rows written before it, the id itself.
  if (h.patient !== null) (parts.push('patient_id IN (?, ?)'), params.push(patientIndexValue(h.patient), h.patient));
  if (h.actor !== null) (parts.push('actor_id = ?'), params.push(h.actor));
  if (h.from !== null) (parts.push('occurred_ms >= ?'), params.push(Date.parse(h.from)));
  if (h.to !== null) (parts.push('occurred_ms < ?'), params.push(Date.parse(h.to)));
  return { sql: parts.join(' AND '), params };
}

function toHold(r: HoldRow): LegalHold {
  return {
    id: r.id,
    status: r.released_at === null ? 'active' : 'released',
    patient: r.patient_id,
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
