/** The DetectionProgressStore port: where streaming detection keeps its alerts and engine snapshots. */
import type { DetectionAlert } from '../alert';
import type { AlertSaveResult } from '../alert-store.port';
import type { DetectionSnapshot } from '../detection-engine';

/**
 * The port the detection worker persists its progress through (one adapter per engine: SQLite in
 * sqlite-detection-state.ts, Elasticsearch in es-detection-state.ts).
 */
export interface DetectionProgressStore {
  /** The last saved engine snapshot, or null on first start. */
  loadSnapshot(): DetectionSnapshot | null;
  /**
   * Stores the alerts (idempotent per id) and, when given, the snapshot, durably, never the
   * snapshot without the alerts it covers (SQLite: one transaction; Elasticsearch: alerts first).
   * Returns one result per alert (created false: it existed already).
   */
  commit(alerts: readonly DetectionAlert[], createdAt: string, snapshot: DetectionSnapshot | null): AlertSaveResult[] | Promise<AlertSaveResult[]>;
  /**
   * Stores alerts as commit(alerts, createdAt, null) does, but waits for the database's write lock
   * (held by the writer thread during a group commit) without blocking the event loop. The running
   * worker stores every slice's alerts this way.
   */
  commitWhenFree(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]>;
  /**
   * Stores a snapshot whose alerts are already committed, holding the event loop as little as the
   * adapter can; resolves once it is durable. Saves are applied in call order. The running worker
   * saves its periodic snapshots this way (the final one, on stop, goes through commit).
   */
  saveSnapshot(snapshot: DetectionSnapshot, savedAt: string): Promise<void>;
  /** Finishes pending writes and releases what the store holds (a writer thread). */
  close(): Promise<void>;
}
