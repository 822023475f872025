/**
 * Context feed configuration (CONTRACT "Context feeds"): how large one context request may be, and
 * where the key of the name and address matching tokens lives, and (STORE=elasticsearch) how often
 * an instance reads the context other instances stored. Merged into the main config schema
 * (config.ts) so a bad value stops start-up naming the key.
 */
import * as path from 'node:path';
import { z } from 'zod';

export const DEFAULT_CONTEXT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CONTEXT_MAX_RECORDS = 50_000;
/** STORE=elasticsearch: how often an instance reads the context other instances stored (ms). */
export const DEFAULT_CONTEXT_SYNC_MS = 1000;
/** STORE=elasticsearch: how far behind its newest seen write each read looks again (ms; slow or skewed writers). */
export const DEFAULT_CONTEXT_SYNC_LOOKBACK_MS = 30_000;

export const CONTEXT_ENV = {
  /** Largest body of POST /v1/context/* (JSON or NDJSON); larger requests get 413 and nothing is stored. */
  CONTEXT_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(256 * 1024 * 1024).default(DEFAULT_CONTEXT_MAX_BODY_BYTES),
  /** Most records one context request may carry (413 beyond; auditctl context load splits files). */
  CONTEXT_MAX_RECORDS: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_CONTEXT_MAX_RECORDS),
  /** HMAC key file of name and address matching tokens (default DATA_DIR/keys/context-matching.key). */
  CONTEXT_MATCHING_KEY_FILE: z.string().min(1).optional(),
  /** STORE=elasticsearch: interval of reading context other instances stored into this one's index. */
  CONTEXT_SYNC_MS: z.coerce.number().int().min(100).max(60_000).default(DEFAULT_CONTEXT_SYNC_MS),
  /** STORE=elasticsearch: each read also looks this far behind the newest write seen (late, slow or clock-skewed writers). */
  CONTEXT_SYNC_LOOKBACK_MS: z.coerce.number().int().min(1000).max(3_600_000).default(DEFAULT_CONTEXT_SYNC_LOOKBACK_MS),
} as const;

export type ContextEnv = z.infer<z.ZodObject<typeof CONTEXT_ENV>>;

export interface ContextSettings {
  maxBodyBytes: number;
  maxRecords: number;
  /** Absolute path when set; unset: DATA_DIR/keys/context-matching.key. */
  matchingKeyFile?: string;
  /** STORE=elasticsearch: context sync interval and look-back (ms). */
  syncMs: number;
  syncLookbackMs: number;
}

export function parseContext(env: ContextEnv): ContextSettings {
  return {
    maxBodyBytes: env.CONTEXT_MAX_BODY_BYTES,
    maxRecords: env.CONTEXT_MAX_RECORDS,
    matchingKeyFile: env.CONTEXT_MATCHING_KEY_FILE === undefined ? undefined : path.resolve(env.CONTEXT_MATCHING_KEY_FILE),
    syncMs: env.CONTEXT_SYNC_MS,
    syncLookbackMs: env.CONTEXT_SYNC_LOOKBACK_MS,
  };
}

/** The settings of a config that may predate them (hand-built configs in tests). */
export function contextSettingsOf(config: { context?: ContextSettings }): ContextSettings {
  const defaults = { maxBodyBytes: DEFAULT_CONTEXT_MAX_BODY_BYTES, maxRecords: DEFAULT_CONTEXT_MAX_RECORDS, syncMs: DEFAULT_CONTEXT_SYNC_MS, syncLookbackMs: DEFAULT_CONTEXT_SYNC_LOOKBACK_MS };
  return { ...defaults, ...config.context };
}
