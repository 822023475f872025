/**
 * The alert delivery outbox in the service's embedded database. A trigger on the alerts table puts
 * every newly stored alert into `alert_delivery_queue` in the SAME transaction that stores it, so
 * an alert is either stored and queued or neither, whatever crashes when. The dispatcher fans each
 * queued alert out into one `alert_deliveries` row per destination whose routing accepts it (and
 * removes it from the queue) in one transaction; each row then lives on disk as pending until it
 * is delivered or becomes a dead letter. Rows carry the stable delivery id receivers de-duplicate on.
 * Its writes wait for SQLite's write lock (held by the writer thread during a group commit) without
 * blocking the event loop, and commit without their own fsync (synchronous=NORMAL for that one
 * transaction; the next durable commit or checkpoint syncs them): losing one in a power cut only
 * repeats work with the same delivery ids (a fan-out is redone from the queue row it did not
 * remove, a delivery is re-sent, a dead letter is found again), never loses an alert, whose queue
 * row is committed durably with the alert itself.
 */
import type Database from 'better-sqlite3';
import { writeWhenFree } from '@app/storage';
import type { DeliveryOutboxPort, DestinationCounts, PendingDelivery, QueuedAlert } from './delivery-outbox.port';

export const DELIVERY_OUTBOX_SQL = `
CREATE TABLE IF NOT EXISTS alert_delivery_queue (
  alert_rowid INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS alert_deliveries (
  id              TEXT    PRIMARY KEY,
  destination     TEXT    NOT NULL,
  alert_rowid     INTEGER NOT NULL,
  state           TEXT    NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_ms      INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  last_error      TEXT
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries (destination, state, next_attempt_ms);
`;

const TRIGGER_SQL = `
CREATE TRIGGER IF NOT EXISTS alerts_enter_delivery_outbox AFTER INSERT ON alerts
BEGIN INSERT OR IGNORE INTO alert_delivery_queue (alert_rowid) VALUES (new.rowid); END;
`;

export class DeliveryOutbox implements DeliveryOutboxPort {
  private readonly queued: Database.Statement;
  private readonly dequeue: Database.Statement;
  private readonly insert: Database.Statement;
  private readonly due: Database.Statement;
  private readonly delivered: Database.Statement;
  private readonly failed: Database.Statement;
  private readonly dead: Database.Statement;
  private readonly counts: Database.Statement;
  private readonly expired: Database.Statement;

  /** `enabled`: with no destination configured the trigger is dropped, so nothing accumulates. */
  constructor(private readonly db: Database.Database, enabled: boolean) {
    db.exec(DELIVERY_OUTBOX_SQL);
    if (enabled) db.exec(TRIGGER_SQL);
    else db.exec('DROP TRIGGER IF EXISTS alerts_enter_delivery_outbox; DELETE FROM alert_delivery_queue;');
    this.queued = db.prepare('SELECT q.alert_rowid AS rowid, a.record AS record FROM alert_delivery_queue q JOIN alerts a ON a.rowid = q.alert_rowid ORDER BY q.alert_rowid LIMIT ?');
    this.dequeue = db.prepare('DELETE FROM alert_delivery_queue WHERE alert_rowid = ?');
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO alert_deliveries (id, destination, alert_rowid, state, attempts, created_ms, next_attempt_ms, updated_ms) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`,
    );
    this.due = db.prepare(
      `SELECT d.id, d.destination, d.attempts, d.created_ms AS createdMs, a.record AS record
         FROM alert_deliveries d JOIN alerts a ON a.rowid = d.alert_rowid
        WHERE d.destination = ? AND d.state = 'pending' AND d.next_attempt_ms <= ? ORDER BY d.next_attempt_ms, d.alert_rowid LIMIT ?`,
    );
    this.delivered = db.prepare(`UPDATE alert_deliveries SET state = 'delivered', attempts = attempts + 1, updated_ms = ?, last_error = NULL WHERE id = ? AND state = 'pending'`);
    this.failed = db.prepare(`UPDATE alert_deliveries SET attempts = attempts + 1, next_attempt_ms = ?, updated_ms = ?, last_error = ? WHERE id = ? AND state = 'pending'`);
    this.dead = db.prepare(`UPDATE alert_deliveries SET state = 'dead', updated_ms = ? WHERE id = ? AND state = 'pending'`);
    this.expired = db.prepare(`SELECT id FROM alert_deliveries WHERE destination = ? AND state = 'pending' AND created_ms < ? LIMIT 1000`);
    this.counts = db.prepare(
      `SELECT state, count(*) AS n, max(updated_ms) AS lastMs, min(created_ms) AS oldestMs FROM alert_deliveries WHERE destination = ? GROUP BY state`,
    );
  }

  /** Up to `limit` stored alerts waiting to be fanned out, oldest first. */
  queuedAlerts(limit: number): QueuedAlert[] {
    return this.queued.all(limit) as QueuedAlert[];
  }

  /** In one transaction: the deliveries of these alerts, and the alerts off the queue. */
  fanOut(rows: { rowid: number | string; deliveries: { id: string; destination: string }[] }[], nowMs: number): Promise<void> {
    return this.write(() => {
      for (const row of rows) {
        for (const d of row.deliveries) this.insert.run(d.id, d.destination, row.rowid, nowMs, nowMs, nowMs);
        this.dequeue.run(row.rowid);
      }
    });
  }

  dueFor(destination: string, nowMs: number, limit: number): PendingDelivery[] {
    return this.due.all(destination, nowMs, limit) as PendingDelivery[];
  }

  markDelivered(ids: readonly string[], nowMs: number): Promise<void> {
    return this.write(() => ids.forEach((id) => this.delivered.run(nowMs, id)));
  }

  markFailed(ids: readonly string[], nextAttemptMs: number, reason: string, nowMs: number): Promise<void> {
    return this.write(() => ids.forEach((id) => this.failed.run(nextAttemptMs, nowMs, reason, id)));
  }

  /** Pending deliveries older than the cut-off become dead letters; returns their ids. */
  async expire(destination: string, cutoffMs: number, nowMs: number): Promise<string[]> {
    const ids = (this.expired.all(destination, cutoffMs) as { id: string }[]).map((r) => r.id);
    if (ids.length > 0) await this.write(() => ids.forEach((id) => this.dead.run(nowMs, id)));
    return ids;
  }

  /** dueFor claims nothing here (one dispatcher per database): the deliveries stay pending as they are. */
  async release(): Promise<void> {}

  /** countsFor reads the table each time: nothing to refresh. */
  async refreshCounts(): Promise<void> {}

  /** One bookkeeping transaction: waits for the write lock off the event loop, commits without its own fsync. */
  private write(body: () => void): Promise<void> {
    return writeWhenFree(this.db, () => {
      const level = this.db.pragma('synchronous', { simple: true }) as number;
      this.db.pragma('synchronous = NORMAL');
      try {
        this.db.transaction(body).immediate();
      } finally {
        this.db.pragma(`synchronous = ${level}`);
      }
    });
  }

  countsFor(destination: string): DestinationCounts {
    const out: DestinationCounts = { pending: 0, delivered: 0, dead: 0, lastDeliveredMs: null, oldestPendingMs: null };
    for (const r of this.counts.all(destination) as { state: string; n: number; lastMs: number; oldestMs: number }[]) {
      if (r.state === 'pending') {
        out.pending = r.n;
        out.oldestPendingMs = r.oldestMs;
      } else if (r.state === 'delivered') {
        out.delivered = r.n;
        out.lastDeliveredMs = r.lastMs;
      } else if (r.state === 'dead') out.dead = r.n;
    }
    return out;
  }
}
