/**
 * Where the streaming detection worker keeps its progress in the embedded store: the engine's
 * snapshot (state + the position it covers) in `detection_state`, written in the SAME SQLite
 * transaction as the alerts raised since the previous commit. So after a crash the store holds
 * either the alerts and the snapshot that covers them, or alerts ahead of an older snapshot (a
 * replay regenerates them with the same ids and the idempotent insert drops them), never a
 * snapshot ahead of missing alerts. The snapshot holds event facts (PHI): it stays in the audit
 * database, sealed at rest with the data keys when a sealer is given, and is never logged.
 *
 * `saveSnapshot` is the path the running worker takes: the alerts were committed before, the
 * snapshot is serialized in turns of the event loop (json-in-turns.ts) and, with a writer thread
 * (snapshot-writer-thread.ts), sealed and written off the event loop.
 */
import type Database from 'better-sqlite3';
import { DetectionAlert } from '../alert';
import { AlertSaveResult } from '../alert-store.port';
import { DetectionSnapshot } from '../detection-engine';
import { writeWhenFree } from '@app/storage';
import type { DetectionProgressStore } from './detection-progress-store.port';
import { jsonInTurns } from './json-in-turns';
import { SnapshotWriterThread } from './snapshot-writer-thread';
import type { RecordSealer } from '@app/storage';
import { SqliteAlertStore } from './sqlite-alert-store';

export const DETECTION_STATE_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS detection_state (
  name      TEXT    PRIMARY KEY,
  position  INTEGER NOT NULL,
  saved_at  TEXT    NOT NULL,
  snapshot  TEXT    NOT NULL
);
`;

export const UPSERT_SNAPSHOT_SQL = `INSERT INTO detection_state (name, position, saved_at, snapshot) VALUES (?, ?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET position = excluded.position, saved_at = excluded.saved_at, snapshot = excluded.snapshot`;

export class SqliteDetectionProgressStore implements DetectionProgressStore {
  private readonly select: Database.Statement;
  private readonly upsert: Database.Statement;
  private lastSave: Promise<unknown> = Promise.resolve();
  private readonly commitTx: Database.Transaction<(alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null) => AlertSaveResult[]>;

  constructor(
    private readonly db: Database.Database,
    private readonly alerts: SqliteAlertStore,
    private readonly name = 'engine',
    private readonly sealer?: RecordSealer,
    /** Seals and writes snapshots off the event loop; without it they are written on this connection. */
    private readonly writer?: SnapshotWriterThread,
  ) {
    db.exec(DETECTION_STATE_SCHEMA_SQL);
    this.select = db.prepare('SELECT snapshot FROM detection_state WHERE name = ?');
    this.upsert = db.prepare(UPSERT_SNAPSHOT_SQL);
    this.commitTx = db.transaction((alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null) => {
      const results = this.alerts.insertAlerts(alerts, createdAt);
      if (snapshot) {
        const json = JSON.stringify(snapshot);
        this.upsert.run(this.name, snapshot.lastPosition, createdAt, this.sealer ? this.sealer.seal(json) : json);
      }
      return results;
    });
  }

  loadSnapshot(): DetectionSnapshot | null {
    const row = this.select.get(this.name) as { snapshot: string | Buffer } | undefined;
    if (!row) return null;
    return JSON.parse(this.sealer ? this.sealer.open(row.snapshot) : String(row.snapshot)) as DetectionSnapshot;
  }

  commit(alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null): AlertSaveResult[] {
    if (alerts.length === 0 && !snapshot) return [];
    return this.commitTx(alerts, createdAt, snapshot);
  }

  commitWhenFree(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]> {
    if (alerts.length === 0) return Promise.resolve([]);
    return writeWhenFree(this.db, () => this.commitTx.immediate(alerts, createdAt, null));
  }

  /** Saves one after the other, in call order, so an older snapshot never overwrites a newer one. */
  saveSnapshot(snapshot: DetectionSnapshot, savedAt: string): Promise<void> {
    const save = this.lastSave.then(() => this.save(snapshot, savedAt));
    this.lastSave = save.catch(() => undefined);
    return save;
  }

  private async save(snapshot: DetectionSnapshot, savedAt: string): Promise<void> {
    const parts = await jsonInTurns(snapshot);
    if (this.writer) return this.writer.write(this.name, snapshot.lastPosition, savedAt, parts);
    const json = parts.join('');
    this.upsert.run(this.name, snapshot.lastPosition, savedAt, this.sealer ? this.sealer.seal(json) : json);
  }

  async close(): Promise<void> {
    await this.lastSave;
    await this.writer?.close();
  }
}
