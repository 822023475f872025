/**
 * Compliance configuration (issue 6: legal holds, reports, retention policy): where the retention
 * policy file is, where the report templates are, and how many records a report reads per page.
 * Merged into the main config schema (config.ts) so a bad value stops start-up naming the key.
 * The policy file itself is validated when the service starts (libs/retention).
 */
import * as path from 'node:path';
import { z } from 'zod';

export const DEFAULT_REPORT_PAGE_SIZE = 1000;
export const DEFAULT_RETENTION_CRON = '0 3 * * *';

export const COMPLIANCE_ENV = {
  /** Retention policy file (YAML, or JSON by `.json`); unset: built-in defaults (config/retention.yml states them). */
  RETENTION_CONFIG: z.string().min(1).optional(),
  /** Handlebars templates of HTML reports; unset: the `templates/reports` folder shipped with the service. */
  REPORT_TEMPLATES_DIR: z.string().min(1).optional(),
  /** Records a report reads from the store per page (memory per report is bounded by this). */
  REPORT_PAGE_SIZE: z.coerce.number().int().min(10).max(100_000).default(DEFAULT_REPORT_PAGE_SIZE),
  /** Scheduled retention run (cron, 5 or 6 fields, server local time); default daily at 03:00. */
  RETENTION_CRON: z.string().min(1).max(128).default(DEFAULT_RETENTION_CRON),
  /** Whether the service runs retention on RETENTION_CRON. */
  RETENTION_ENABLED: z.enum(['true', 'false', '1', '0']).default('true'),
  /** Whether `POST /v1/retention/runs` accepts `now` (time travel, admin only); off by default. */
  RETENTION_ALLOW_TIME_TRAVEL: z.enum(['true', 'false', '1', '0']).default('false'),
} as const;

export interface ComplianceSettings {
  /** Absolute path of RETENTION_CONFIG, when set. */
  retentionConfigFile?: string;
  /** Absolute path of REPORT_TEMPLATES_DIR, when set. */
  reportTemplatesDir?: string;
  reportPageSize: number;
  /** RETENTION_CRON / RETENTION_ENABLED: the scheduled retention run. */
  retentionCron?: string;
  retentionEnabled?: boolean;
  /** RETENTION_ALLOW_TIME_TRAVEL: `now` accepted by `POST /v1/retention/runs` (default false). */
  retentionAllowTimeTravel?: boolean;
}

export function parseCompliance(c: { RETENTION_CONFIG?: string; REPORT_TEMPLATES_DIR?: string; REPORT_PAGE_SIZE: number; RETENTION_CRON?: string; RETENTION_ENABLED?: string; RETENTION_ALLOW_TIME_TRAVEL?: string }): ComplianceSettings {
  return {
    retentionConfigFile: c.RETENTION_CONFIG === undefined ? undefined : path.resolve(c.RETENTION_CONFIG),
    reportTemplatesDir: c.REPORT_TEMPLATES_DIR === undefined ? undefined : path.resolve(c.REPORT_TEMPLATES_DIR),
    reportPageSize: c.REPORT_PAGE_SIZE,
    retentionCron: c.RETENTION_CRON ?? DEFAULT_RETENTION_CRON,
    retentionEnabled: c.RETENTION_ENABLED === undefined ? true : c.RETENTION_ENABLED === 'true' || c.RETENTION_ENABLED === '1',
    retentionAllowTimeTravel: c.RETENTION_ALLOW_TIME_TRAVEL === 'true' || c.RETENTION_ALLOW_TIME_TRAVEL === '1',
  };
}
