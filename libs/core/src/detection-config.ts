/**
 * Detection configuration (issue 4): whether the streaming detection worker runs, where the rule
 * files and runbooks live, the time zone of after-hours rules, the late-event allowance, and how
 * often the engine's state is snapshotted. The keys are merged into the main config schema
 * (config.ts) so a bad value stops start-up naming the key, like every other setting.
 */
import * as path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const DURATION = /^\d{1,9}(ms|s|m|h|d|w)$/;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const DETECTION_ENV = {
  /** Run the streaming detection worker (alerts and rules endpoints are served either way). */
  DETECTION_ENABLED: bool.default('true'),
  /** IANA zone for time-of-day conditions (after-hours rules) of rules without their own `timeZone`. */
  DETECTION_TIME_ZONE: z.string().min(1).refine(isTimeZone, 'must be an IANA time zone such as UTC or America/New_York').default('UTC'),
  /** How far behind the newest event time an event may arrive and still count in windows. */
  DETECTION_ALLOWED_LATENESS: z.string().regex(DURATION, 'must be a duration such as 30s, 2m or 1h').default('2m'),
  /** Snapshot the engine state after at most this many evaluated events ... */
  DETECTION_SNAPSHOT_EVENTS: z.coerce.number().int().min(1).max(100_000_000).default(50_000),
  /** ... or this many milliseconds, whichever comes first (and always on shutdown). */
  DETECTION_SNAPSHOT_MS: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
  /**
   * STORE=elasticsearch: how long the instance running detection holds its lease in the cluster
   * without renewing it; when it dies another instance resumes detection after at most this long.
   */
  DETECTION_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(15_000),
  RULES_DIR: z.string().min(1).default('./detection-rules'),
  RUNBOOKS_DIR: z.string().min(1).default('./runbooks'),
} as const;

export type DetectionEnv = z.infer<z.ZodObject<typeof DETECTION_ENV>>;

export interface DetectionSettings {
  enabled: boolean;
  timeZone: string;
  /** Duration text, e.g. `2m`. */
  allowedLateness: string;
  snapshotEveryEvents: number;
  snapshotEveryMs: number;
  /** STORE=elasticsearch: the detection lease (DETECTION_LEASE_MS); default 15 s. */
  leaseMs?: number;
  /** Absolute paths. */
  rulesDir: string;
  runbooksDir: string;
}

export const DEFAULT_DETECTION_SETTINGS: Omit<DetectionSettings, 'rulesDir' | 'runbooksDir'> = {
  enabled: true,
  timeZone: 'UTC',
  allowedLateness: '2m',
  snapshotEveryEvents: 50_000,
  snapshotEveryMs: 5_000,
};

export function parseDetection(c: DetectionEnv): DetectionSettings {
  return {
    enabled: c.DETECTION_ENABLED,
    timeZone: c.DETECTION_TIME_ZONE,
    allowedLateness: c.DETECTION_ALLOWED_LATENESS,
    snapshotEveryEvents: c.DETECTION_SNAPSHOT_EVENTS,
    snapshotEveryMs: c.DETECTION_SNAPSHOT_MS,
    leaseMs: c.DETECTION_LEASE_MS,
    rulesDir: path.resolve(c.RULES_DIR),
    runbooksDir: path.resolve(c.RUNBOOKS_DIR),
  };
}

/** The settings for a config that has none (hand-built configs): defaults relative to the working directory. */
export function detectionSettingsOf(config: { detection?: DetectionSettings }): DetectionSettings {
  return config.detection ?? { ...DEFAULT_DETECTION_SETTINGS, rulesDir: path.resolve('detection-rules'), runbooksDir: path.resolve('runbooks') };
}
