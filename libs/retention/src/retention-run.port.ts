/** Port: the retention runner as the run service uses it (SqliteRetentionRunner, EsRetentionRuns; a fake in unit tests). */
import type { RetentionRunOptions, RetentionRunReport } from './sqlite-retention-runner';

/** One run as `GET /v1/retention/runs` lists it. */
export interface RetentionRunListing {
  id: string;
  startedAt: string;
  finishedAt: string | null;
  now: string;
  trigger: string;
  status: string;
  deleted: number;
}

export interface RetentionRunPort {
  run(options: RetentionRunOptions): Promise<RetentionRunReport>;
  runs(limit?: number): RetentionRunListing[] | Promise<RetentionRunListing[]>;
  runDetail(id: string): Record<string, unknown> | null | Promise<Record<string, unknown> | null>;
}
