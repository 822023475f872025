/**
 * Transactional outbox of alerts for STORE=elasticsearch. The streaming detection worker keeps its
 * progress where a crash cannot split it: alerts and the engine snapshot in ONE transaction of the
 * instance's embedded database (SqliteDetectionProgressStore). This outbox then ships every alert
 * stored there to the shared alert store (Elasticsearch) in insertion order (SQLite rowid, which
 * only grows: alerts are never deleted), and records how far it got in the same database. The
 * target creates each alert once on its deterministic id, so a re-shipped alert (crash between
 * shipping and recording progress), or the same alert raised by another instance, changes nothing;
 * lifecycle changes made by analysts in the shared store are never overwritten.
 */
import type Database from 'better-sqlite3';
import { AlertRecord } from '../alert-lifecycle';
import type { RecordSealer } from '@app/storage';
import type { AlertImporter } from './alert-importer.port';

export const ALERT_OUTBOX_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS alert_outbox (
  name          TEXT    PRIMARY KEY,
  shipped_rowid INTEGER NOT NULL
);
`;

export interface AlertOutboxOptions {
  /** Alerts per shipment. Default 500. */
  batch?: number;
  /** How often to ship while running. Default 1000 ms. */
  intervalMs?: number;
  onError?: (err: unknown) => void;
}

export class AlertOutbox {
  private readonly select: Database.Statement;
  private readonly progress: Database.Statement;
  private readonly save: Database.Statement;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    db: Database.Database,
    private readonly target: AlertImporter,
    private readonly sealer?: RecordSealer,
    private readonly options: AlertOutboxOptions = {},
    private readonly name = 'shared-alert-store',
  ) {
    db.exec(ALERT_OUTBOX_SCHEMA_SQL);
    this.select = db.prepare('SELECT rowid AS r, record FROM alerts WHERE rowid > ? ORDER BY rowid LIMIT ?');
    this.progress = db.prepare('SELECT shipped_rowid AS r FROM alert_outbox WHERE name = ?');
    this.save = db.prepare(
      'INSERT INTO alert_outbox (name, shipped_rowid) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET shipped_rowid = excluded.shipped_rowid',
    );
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush().catch((err: unknown) => this.options.onError?.(err)), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Ships everything not shipped yet; resolves with the number of alerts sent. One flush at a time. */
  flush(): Promise<number> {
    this.running ??= this.ship().finally(() => (this.running = null));
    return this.running;
  }

  /** Stops the timer and ships what is left (best effort: the next start ships the rest). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await this.flush().catch((err: unknown) => this.options.onError?.(err));
  }

  /** Rowid of the last alert shipped (0: none). */
  shippedUpTo(): number {
    return (this.progress.get(this.name) as { r: number } | undefined)?.r ?? 0;
  }

  private async ship(): Promise<number> {
    const batch = this.options.batch ?? 500;
    let sent = 0;
    for (;;) {
      const rows = this.select.all(this.shippedUpTo(), batch) as { r: number; record: string | Buffer }[];
      if (rows.length === 0) return sent;
      const records = rows.map((row) => JSON.parse(this.sealer ? this.sealer.open(row.record) : String(row.record)) as AlertRecord);
      await this.target.importRecords(records);
      this.save.run(this.name, rows[rows.length - 1].r);
      sent += rows.length;
      if (rows.length < batch) return sent;
    }
  }
}
