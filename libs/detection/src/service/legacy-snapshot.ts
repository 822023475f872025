/**
 * The engine snapshot a version before the shared detection state kept in this instance's
 * database (it tailed the same cluster, so its position is a commit position of the same store),
 * for the cluster's first lease holder to resume from; null when none or unreadable.
 */
import type { RecordSealer, SqliteDb } from '@app/storage';
import type { DetectionSnapshot } from '../detection-engine';

export function legacySnapshot(db: SqliteDb, sealer: RecordSealer): DetectionSnapshot | null {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'detection_state'").get()) return null;
  const row = db.prepare("SELECT snapshot FROM detection_state WHERE name = 'engine'").get() as { snapshot: string | Buffer } | undefined;
  if (!row) return null;
  try {
    return JSON.parse(sealer.open(row.snapshot)) as DetectionSnapshot;
  } catch {
    return null; // unreadable (other keys): the cluster's first holder starts from the first event
  }
}
