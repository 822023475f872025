/**
 * Embedded AlertStore adapter on SQLite (the service's audit.db, same connection as the event
 * store). Alerts are saved idempotently on their deterministic id (INSERT … ON CONFLICT DO
 * NOTHING), so a replay after a crash never duplicates one; lifecycle transitions run in an
 * IMMEDIATE transaction against the stored status, so two analysts cannot lose each other's
 * change. Alerts are never deleted (a trigger refuses it). The full record is kept as JSON next to
 * the columns the list filters need; with a sealer (the service always passes one) that JSON is
 * sealed at rest with the data keys (AES-256-GCM), as it names patients and IPs.
 *
 * Case work (docs/case-work.md): `actor_id` (the user the alert is about) and `case_id` are columns
 * beside the sealed record, and `alert_patients` holds the keyed-HMAC tokens of the patients each
 * alert names, so the list filters by actor, patient and case without opening records. A new alert
 * joins its user's open case or opens one, in the same transaction that stores it. Databases made
 * before these columns are upgraded on open (existing alerts indexed and grouped in creation order).
 */
import type Database from 'better-sqlite3';
import { DetectionAlert } from '../alert';
import { alertActor, alertPatientIds, caseIdFor, CaseSummary } from '../alert-cases';
import { AlertNotFoundError, AlertRecord, AlertTransitionRequest, applyTransition, newAlertRecord } from '../alert-lifecycle';
import type { RecordSealer } from '@app/storage';
import { AlertFilter, AlertIndexing, AlertPage, AlertSaveResult, AlertStore, CaseFilter, CasePage, decodeAlertCursor, decodeCaseCursor, encodeAlertCursor, encodeCaseCursor } from '../alert-store.port';
import { SEVERITIES, Severity } from '../rule.schema';

export const ALERT_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS alerts (
  id             TEXT    PRIMARY KEY,
  rule_id        TEXT    NOT NULL,
  severity       TEXT    NOT NULL,
  status         TEXT    NOT NULL,
  window_end_ms  INTEGER NOT NULL,
  position       INTEGER NOT NULL,
  created_at     TEXT    NOT NULL,
  updated_at     TEXT    NOT NULL,
  record         TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_time   ON alerts (window_end_ms, id);
CREATE INDEX IF NOT EXISTS alerts_by_rule   ON alerts (rule_id, window_end_ms, id);
CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts (status, window_end_ms, id);

CREATE TRIGGER IF NOT EXISTS alerts_are_never_deleted BEFORE DELETE ON alerts
BEGIN SELECT RAISE(ABORT, 'alerts cannot be deleted'); END;

CREATE TABLE IF NOT EXISTS alert_patients (
  patient_token TEXT NOT NULL,
  alert_id      TEXT NOT NULL,
  PRIMARY KEY (patient_token, alert_id)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS alert_facts_are_immutable BEFORE UPDATE OF id, rule_id, severity, window_end_ms, position, created_at ON alerts
BEGIN SELECT RAISE(ABORT, 'the facts of an alert are immutable'); END;
`;

interface AlertRow {
  record: string | Buffer;
  window_end_ms: number;
  id: string;
}

/** Columns added for case work (ALTER TABLE on databases made before them). */
const CASE_COLUMNS_SQL = `
CREATE INDEX IF NOT EXISTS alerts_by_actor ON alerts (actor_id, window_end_ms, id);
CREATE INDEX IF NOT EXISTS alerts_by_case  ON alerts (case_id, window_end_ms, id);
`;

interface CaseRow {
  case_id: string;
  actor_id: string;
  alerts: number;
  open_alerts: number;
  opened_at: string;
  updated_at: string;
  last_ms: number;
  severities: string;
  rules: string;
}

export class SqliteAlertStore implements AlertStore {
  private readonly insert: Database.Statement;
  private readonly insertPatient: Database.Statement;
  private readonly openCaseOf: Database.Statement;
  private readonly selectById: Database.Statement;
  private readonly update: Database.Statement;
  private readonly saveAllTx: (alerts: readonly DetectionAlert[], createdAt: string) => AlertSaveResult[];
  private readonly transitionTx: (id: string, request: AlertTransitionRequest) => AlertRecord;

  constructor(
    private readonly db: Database.Database,
    private readonly sealer?: RecordSealer,
    /** Without it no patient is indexed (the patient filter then finds nothing): ids are never stored in clear. */
    private readonly indexing?: AlertIndexing,
  ) {
    db.exec(ALERT_SCHEMA_SQL);
    const columns = new Set((db.prepare('PRAGMA table_info(alerts)').all() as { name: string }[]).map((c) => c.name));
    if (!columns.has('actor_id')) db.exec('ALTER TABLE alerts ADD COLUMN actor_id TEXT');
    if (!columns.has('case_id')) db.exec('ALTER TABLE alerts ADD COLUMN case_id TEXT');
    db.exec(CASE_COLUMNS_SQL);
    this.insert = db.prepare(
      `INSERT INTO alerts (id, rule_id, severity, status, window_end_ms, position, created_at, updated_at, record, actor_id, case_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    this.insertPatient = db.prepare('INSERT INTO alert_patients (patient_token, alert_id) VALUES (?, ?) ON CONFLICT DO NOTHING');
    // The user's newest open case (several can be open after a reopen).
    this.openCaseOf = db.prepare(
      `SELECT case_id FROM alerts WHERE actor_id = ? AND case_id IS NOT NULL AND status <> 'resolved' ORDER BY window_end_ms DESC, id DESC LIMIT 1`,
    );
    this.selectById = db.prepare('SELECT id, window_end_ms, record FROM alerts WHERE id = ?');
    this.update = db.prepare('UPDATE alerts SET status = ?, updated_at = ?, record = ? WHERE id = ?');
    this.saveAllTx = db.transaction((alerts: readonly DetectionAlert[], createdAt: string) => this.insertAlerts(alerts, createdAt));
    const tx = db.transaction((id: string, request: AlertTransitionRequest) => {
      const current = this.getSync(id);
      if (!current) throw new AlertNotFoundError(id);
      const next = applyTransition(current, request);
      this.update.run(next.status, next.updatedAt, this.encode(next), id);
      return next;
    });
    // IMMEDIATE: take the write lock before reading, so a CLI process cannot interleave.
    this.transitionTx = (id, request) => tx.immediate(id, request);
    this.indexOlderAlerts();
  }

  /** Alerts stored before case work: index their actor and patients and group them, oldest first. */
  private indexOlderAlerts(): void {
    if ((this.db as { readonly?: boolean }).readonly) return;
    const pending = this.db.prepare('SELECT id, record FROM alerts WHERE actor_id IS NULL ORDER BY created_at, window_end_ms, id').all() as { id: string; record: string | Buffer }[];
    if (pending.length === 0) return;
    const setIndex = this.db.prepare('UPDATE alerts SET actor_id = ?, case_id = ?, record = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const row of pending) {
        const record = this.decode(row.record);
        const actor = alertActor(record);
        if (actor !== undefined) record.caseId = this.caseFor(actor, record.id);
        this.indexPatients(record);
        setIndex.run(actor ?? '', record.caseId ?? null, this.encode(record), row.id);
      }
    }).immediate();
  }

  /** The case a new alert about `actor` joins: the user's open case, or a new one it opens. */
  private caseFor(actor: string, alertId: string): string {
    const open = this.openCaseOf.get(actor) as { case_id: string } | undefined;
    return open?.case_id ?? caseIdFor(alertId);
  }

  private indexPatients(alert: DetectionAlert): void {
    if (!this.indexing) return;
    for (const id of alertPatientIds(alert)) this.insertPatient.run(this.indexing.patientToken(id), alert.id);
  }

  /**
   * Inserts alerts without opening a transaction of its own: for callers that store alerts together
   * with other state in one transaction (the detection worker's progress commit). Idempotent per id.
   */
  insertAlerts(alerts: readonly DetectionAlert[], createdAt: string): AlertSaveResult[] {
    const results: AlertSaveResult[] = new Array(alerts.length);
    for (let i = 0; i < alerts.length; i++) {
      const alert = alerts[i];
      const record = newAlertRecord(alert, createdAt);
      const actor = alertActor(alert);
      const existing = this.selectById.get(alert.id) as AlertRow | undefined;
      if (existing) {
        results[i] = { created: false, record: this.decode(existing.record) };
        continue;
      }
      if (actor !== undefined) record.caseId = this.caseFor(actor, alert.id);
      const info = this.insert.run(
        alert.id,
        alert.ruleId,
        alert.severity,
        record.status,
        Date.parse(alert.windowEnd),
        alert.position,
        createdAt,
        createdAt,
        this.encode(record),
        actor ?? '',
        record.caseId ?? null,
      );
      if (info.changes === 1) this.indexPatients(alert);
      results[i] = info.changes === 1 ? { created: true, record } : { created: false, record: this.getSync(alert.id) ?? record };
    }
    return results;
  }

  async save(alert: DetectionAlert, createdAt: string): Promise<AlertSaveResult> {
    return this.saveAllTx([alert], createdAt)[0];
  }

  async saveAll(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]> {
    if (alerts.length === 0) return [];
    return this.saveAllTx(alerts, createdAt);
  }

  async get(id: string): Promise<AlertRecord | null> {
    return this.getSync(id);
  }

  async list(filter: AlertFilter): Promise<AlertPage> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.status !== undefined) (where.push('status = ?'), params.push(filter.status));
    if (filter.rule !== undefined) (where.push('rule_id = ?'), params.push(filter.rule));
    if (filter.severity !== undefined) (where.push('severity = ?'), params.push(filter.severity));
    if (filter.from !== undefined) (where.push('window_end_ms >= ?'), params.push(Date.parse(filter.from)));
    if (filter.to !== undefined) (where.push('window_end_ms < ?'), params.push(Date.parse(filter.to)));
    if (filter.actor !== undefined) (where.push('actor_id = ?'), params.push(filter.actor));
    if (filter.caseId !== undefined) (where.push('case_id = ?'), params.push(filter.caseId));
    if (filter.patientToken !== undefined) (where.push('id IN (SELECT alert_id FROM alert_patients WHERE patient_token = ?)'), params.push(filter.patientToken));
    if (filter.cursor !== undefined) {
      const after = decodeAlertCursor(filter.cursor);
      if (!after) throw new Error('invalid alert cursor');
      where.push('(window_end_ms < ? OR (window_end_ms = ? AND id < ?))');
      params.push(after.windowEndMs, after.windowEndMs, after.id);
    }
    const sql =
      'SELECT id, window_end_ms, record FROM alerts' +
      (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
      ' ORDER BY window_end_ms DESC, id DESC LIMIT ?';
    params.push(filter.limit + 1);
    const rows = this.db.prepare(sql).all(...params) as AlertRow[];
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      alerts: page.map((r) => this.decode(r.record)),
      nextCursor: rows.length > filter.limit && last ? encodeAlertCursor(last.window_end_ms, last.id) : null,
    };
  }

  async transition(id: string, request: AlertTransitionRequest): Promise<AlertRecord> {
    return this.transitionTx(id, request);
  }

  async cases(filter: CaseFilter): Promise<CasePage> {
    const where = ['case_id IS NOT NULL'];
    const params: (string | number)[] = [];
    if (filter.actor !== undefined) (where.push('actor_id = ?'), params.push(filter.actor));
    const having: string[] = [];
    if (filter.status === 'open') having.push('open_alerts > 0');
    if (filter.status === 'resolved') having.push('open_alerts = 0');
    if (filter.cursor !== undefined) {
      const after = decodeCaseCursor(filter.cursor);
      if (!after) throw new Error('invalid case cursor');
      having.push('(last_ms < ? OR (last_ms = ? AND case_id < ?))');
      params.push(after.lastAlertMs, after.lastAlertMs, after.id);
    }
    const sql =
      `SELECT case_id, MIN(actor_id) AS actor_id, COUNT(*) AS alerts, SUM(status <> 'resolved') AS open_alerts, MIN(created_at) AS opened_at,
              MAX(updated_at) AS updated_at, MAX(window_end_ms) AS last_ms, group_concat(DISTINCT severity) AS severities, group_concat(DISTINCT rule_id) AS rules
       FROM alerts WHERE ${where.join(' AND ')} GROUP BY case_id` +
      (having.length ? ` HAVING ${having.join(' AND ')}` : '') +
      ' ORDER BY last_ms DESC, case_id DESC LIMIT ?';
    params.push(filter.limit + 1);
    const rows = this.db.prepare(sql).all(...params) as CaseRow[];
    const page = rows.slice(0, filter.limit);
    const assignees = this.assigneesOf(page.map((r) => r.case_id));
    const last = page[page.length - 1];
    return {
      cases: page.map((r) => caseSummary(r, assignees.get(r.case_id) ?? [])),
      nextCursor: rows.length > filter.limit && last ? encodeCaseCursor(last.last_ms, last.case_id) : null,
    };
  }

  /** People the alerts of these cases are assigned to (read from the sealed records). */
  private assigneesOf(caseIds: string[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    if (caseIds.length === 0) return out;
    const rows = this.db.prepare(`SELECT case_id, record FROM alerts WHERE case_id IN (${caseIds.map(() => '?').join(',')})`).all(...caseIds) as { case_id: string; record: string | Buffer }[];
    const sets = new Map<string, Set<string>>();
    for (const r of rows) {
      const assignee = this.decode(r.record).assignee;
      if (!assignee) continue;
      if (!sets.has(r.case_id)) sets.set(r.case_id, new Set());
      sets.get(r.case_id)!.add(assignee);
    }
    for (const [id, set] of sets) out.set(id, [...set].sort());
    return out;
  }

  /** Number of stored alerts (for summaries and tests). */
  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM alerts').get() as { n: number }).n;
  }

  private getSync(id: string): AlertRecord | null {
    const row = this.selectById.get(id) as AlertRow | undefined;
    return row ? this.decode(row.record) : null;
  }

  private encode(record: AlertRecord): string | Buffer {
    const json = JSON.stringify(record);
    return this.sealer ? this.sealer.seal(json) : json;
  }

  private decode(stored: string | Buffer): AlertRecord {
    return JSON.parse(this.sealer ? this.sealer.open(stored) : String(stored)) as AlertRecord;
  }
}

function caseSummary(r: CaseRow, assignees: string[]): CaseSummary {
  const severities = r.severities.split(',') as Severity[];
  return {
    id: r.case_id,
    actor: r.actor_id,
    status: r.open_alerts > 0 ? 'open' : 'resolved',
    openedAt: r.opened_at,
    updatedAt: r.updated_at,
    lastAlertAt: new Date(r.last_ms).toISOString(),
    alertCount: r.alerts,
    openAlertCount: r.open_alerts,
    severity: severities.reduce((max, s) => (SEVERITIES.indexOf(s) > SEVERITIES.indexOf(max) ? s : max), severities[0]),
    rules: r.rules.split(',').sort(),
    assignees,
  };
}
