/**
 * The port that keeps the record of retention runs where every instance reads it: with
 * STORE=elasticsearch the cluster (es-retention-run-records.ts, `<prefix>-retention-runs`), so that
 * `GET /v1/retention/runs` and the console's retention page on any instance list the runs any
 * instance made, also after a restart. (The embedded runner keeps its runs in the data dir's
 * database: sqlite-retention-runner.ts.) A record holds chain ids, sequence numbers, index names
 * and counts, never PHI.
 */
import type { RetentionRunListing } from './retention-run.port';
import type { RetentionRunReport } from './sqlite-retention-runner';

export interface RetentionRunRecord {
  report: RetentionRunReport;
  /** Who started it: `schedule`, `cli`, `api:<role>:<sub>`. */
  trigger: string;
}

export interface RetentionRunRecords {
  /** Records a finished run (its report carries a run id). */
  add(record: RetentionRunRecord): Promise<void>;
  /** The most recent runs, newest first. */
  recent(limit: number): Promise<RetentionRunRecord[]>;
  /** One run by id, or null. */
  byId(id: string): Promise<RetentionRunRecord | null>;
}

/** A recorded run as `GET /v1/retention/runs` and `auditctl retention runs` list it. */
export function retentionRunListing({ report, trigger }: RetentionRunRecord): RetentionRunListing {
  return { id: report.runId!, startedAt: report.startedAt, finishedAt: report.finishedAt, now: report.now, trigger, status: 'completed', deleted: report.deleted };
}
