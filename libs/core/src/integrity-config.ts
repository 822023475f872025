/**
 * Integrity configuration (issue 3): how often each chain gets a signed checkpoint, and how many
 * worker threads verification uses. The keys are merged into the main config schema (config.ts)
 * so a bad value stops start-up naming the key, like every other setting.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { MAX_CHAIN_SHARDS } from './chain-id';

export const INTEGRITY_ENV = {
  /**
   * Chains per event category (chain-id.ts): 1 keeps one chain per category (ids = the category);
   * n > 1 spreads each category over n chains by source (`data_access.0` .. `data_access.<n-1>`).
   */
  CHAIN_SHARDS: z.coerce
    .number({ invalid_type_error: `must be a whole number from 1 to ${MAX_CHAIN_SHARDS}` })
    .int(`must be a whole number from 1 to ${MAX_CHAIN_SHARDS}`)
    .min(1, `must be a whole number from 1 to ${MAX_CHAIN_SHARDS}`)
    .max(MAX_CHAIN_SHARDS, `must be a whole number from 1 to ${MAX_CHAIN_SHARDS} (chains per category)`)
    .default(1),
  /** Seal a signed checkpoint of a chain after this many new records ... */
  CHECKPOINT_EVERY_RECORDS: z.coerce.number().int().min(1).max(100_000_000).default(10_000),
  /** ... or once new records have waited this many seconds (and always on graceful shutdown). */
  CHECKPOINT_INTERVAL_SECONDS: z.coerce.number().min(0.1).max(86_400).default(60),
  /** Worker threads of verification (API and CLI); 0 = one per core. */
  VERIFY_WORKERS: z.coerce.number().int().min(0).max(256).default(0),
  /** At start, verify each chain's last this many records (from the checkpoint before them); 0 = no check at start. */
  VERIFY_ON_START_RECORDS: z.coerce.number().int().min(0).max(1_000_000_000).default(10_000),
  /** Incremental verification (what each chain appended since the last verified checkpoint) every this many seconds; 0 = off. */
  VERIFY_INTERVAL_SECONDS: z.coerce.number().min(0).max(86_400).default(300),
  /** Full verification (every record and checkpoint) every this many hours; 0 = off. */
  VERIFY_FULL_INTERVAL_HOURS: z.coerce.number().min(0).max(8_760).default(24),
  /** An event whose occurredAt is more than this many seconds ahead of the server clock is stored, flagged `clock-ahead`, counted and alerted on; 0 = never flagged. */
  EVENT_MAX_FUTURE_SECONDS: z.coerce.number().int().min(0).max(31_536_000).default(300),
  /** ... more than this many seconds behind it: stored, flagged `clock-behind`, counted and alerted on; 0 = never flagged. Default 10 years (clock resets to 1970 or 2000; backfills of years-old logs stay unflagged). */
  EVENT_MAX_PAST_SECONDS: z.coerce.number().int().min(0).max(3_153_600_000).default(315_360_000),
  /** STORE=elasticsearch: credential checks are refused (503) once the shared revocations could not be read for this many seconds. */
  REVOCATION_SHARED_STALE_SECONDS: z.coerce.number().min(1).max(86_400).default(60),
  /** At most one clock data-quality alert per integration per this many seconds. */
  CLOCK_ALERT_PERIOD_SECONDS: z.coerce.number().int().min(1).max(2_592_000).default(3600),
  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs, e.g. "10.0.0.5,10.1.0.0/16";
   * also loopback, linklocal, uniquelocal): the logged client IP is then the forwarded one. Empty: none.
   */
  TRUSTED_PROXIES: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((x) => x.trim()).filter((x) => x.length > 0))
    .refine((list) => list.every(isProxyAddress), 'each entry must be an IP address, an IP/prefix (CIDR), or loopback, linklocal, uniquelocal'),
  /**
   * Which header the TRUSTED_PROXIES write the client's address in: `x-forwarded-for` (default) or
   * `forwarded` (RFC 7239 `for=`). Only that one is believed; the other is ignored.
   */
  TRUSTED_PROXY_HEADER: z.enum(['x-forwarded-for', 'forwarded']).default('x-forwarded-for'),
} as const;

function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [ip, prefix, ...rest] = entry.split('/');
  const kind = isIP(ip);
  if (kind === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const n = Number(prefix);
  return /^\d{1,3}$/.test(prefix) && n >= 0 && n <= (kind === 4 ? 32 : 128);
}

export type IntegrityEnv = z.infer<z.ZodObject<typeof INTEGRITY_ENV>>;

export interface IntegritySettings {
  /** CHAIN_SHARDS (default 1: one chain per category). Optional so hand-built configs stay valid. */
  chainShards?: number;
  checkpointEveryRecords: number;
  checkpointIntervalSeconds: number;
  /** 0 = one per core. */
  verifyWorkers: number;
  /** VERIFY_ON_START_RECORDS (default 10,000; 0: off). Optional so hand-built configs stay valid. */
  verifyOnStartRecords?: number;
  /** VERIFY_INTERVAL_SECONDS (default 300; 0: off). */
  verifyIntervalSeconds?: number;
  /** VERIFY_FULL_INTERVAL_HOURS (default 24; 0: off). */
  verifyFullIntervalHours?: number;
  /** EVENT_MAX_FUTURE_SECONDS (default 300; 0: never flagged). */
  eventMaxFutureSeconds?: number;
  /** EVENT_MAX_PAST_SECONDS (default 315,360,000 = 10 years; 0: never flagged). */
  eventMaxPastSeconds?: number;
  /** CLOCK_ALERT_PERIOD_SECONDS (default 3600). */
  clockAlertPeriodSeconds?: number;
  /** REVOCATION_SHARED_STALE_SECONDS (default 60). */
  revocationSharedStaleSeconds?: number;
  /** TRUSTED_PROXIES (default none). */
  trustedProxies?: string[];
  /** TRUSTED_PROXY_HEADER (default x-forwarded-for). */
  trustedProxyHeader?: 'x-forwarded-for' | 'forwarded';
}

export function parseIntegrity(env: IntegrityEnv): IntegritySettings {
  return {
    chainShards: env.CHAIN_SHARDS,
    checkpointEveryRecords: env.CHECKPOINT_EVERY_RECORDS,
    checkpointIntervalSeconds: env.CHECKPOINT_INTERVAL_SECONDS,
    verifyWorkers: env.VERIFY_WORKERS,
    verifyOnStartRecords: env.VERIFY_ON_START_RECORDS,
    verifyIntervalSeconds: env.VERIFY_INTERVAL_SECONDS,
    verifyFullIntervalHours: env.VERIFY_FULL_INTERVAL_HOURS,
    eventMaxFutureSeconds: env.EVENT_MAX_FUTURE_SECONDS,
    eventMaxPastSeconds: env.EVENT_MAX_PAST_SECONDS,
    clockAlertPeriodSeconds: env.CLOCK_ALERT_PERIOD_SECONDS,
    revocationSharedStaleSeconds: env.REVOCATION_SHARED_STALE_SECONDS,
    trustedProxies: env.TRUSTED_PROXIES,
    trustedProxyHeader: env.TRUSTED_PROXY_HEADER,
  };
}
