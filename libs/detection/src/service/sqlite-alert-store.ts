/**
 * Embedded AlertStore adapter on SQLite (the service's audit.db, same connection as the event
 * store). Alerts are saved idempotently on their deterministic id (INSERT … ON CONFLICT DO
 * NOTHING), so a replay after a crash never duplicates one; lifecycle transitions run in an
 * IMMEDIATE transaction against the stored status, so two analysts cannot lose each other's
 * change. Alerts are never deleted (a trigger refuses it). The full record is kept as JSON next to
 * the columns the list filters need; with a sealer (the service always passes one) that JSON is
 * sealed at rest with the data keys (AES-256-GCM), as it names patients and IPs.
 */
import type Database from 'better-sqlite3';
import { DetectionAlert } from '../alert';
import { AlertNotFoundError, AlertRecord, AlertTransitionRequest, applyTransition, newAlertRecord } from '../alert-lifecycle';
import { AlertFilter, AlertPage, AlertSaveResult, AlertStore } from '../alert-store.port';

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

CREATE TRIGGER IF NOT EXISTS alert_facts_are_immutable BEFORE UPDATE OF id, rule_id, severity, window_end_ms, position, created_at ON alerts
BEGIN SELECT RAISE(ABORT, 'the facts of an alert are immutable'); END;
`;

/** Seals the stored record JSON (SealedText from the storage lib). */
export interface RecordSealer {
  seal(text: string): Buffer;
  open(stored: Buffer | string): string;
}

interface AlertRow {
  record: string | Buffer;
  window_end_ms: number;
  id: string;
}

/** Cursor of the alert list: the last row of the previous page (newest first). */
export function encodeAlertCursor(windowEndMs: number, id: string): string {
  return Buffer.from(`a1:${windowEndMs}:${id}`).toString('base64url');
}

export function decodeAlertCursor(cursor: string): { windowEndMs: number; id: string } | null {
  const m = /^a1:(-?\d{1,16}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { windowEndMs: Number(m[1]), id: m[2] } : null;
}

export class SqliteAlertStore implements AlertStore {
  private readonly insert: Database.Statement;
  private readonly selectById: Database.Statement;
  private readonly update: Database.Statement;
  private readonly saveAllTx: (alerts: readonly DetectionAlert[], createdAt: string) => AlertSaveResult[];
  private readonly transitionTx: (id: string, request: AlertTransitionRequest) => AlertRecord;

  constructor(
    private readonly db: Database.Database,
    private readonly sealer?: RecordSealer,
  ) {
    db.exec(ALERT_SCHEMA_SQL);
    this.insert = db.prepare(
      `INSERT INTO alerts (id, rule_id, severity, status, window_end_ms, position, created_at, updated_at, record)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
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
      );
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
