/**
 * Context feed configuration (CONTRACT "Context feeds"): how large one context request may be, and
 * where the key of the name and address matching tokens lives. Merged into the main config schema
 * (config.ts) so a bad value stops start-up naming the key.
 */
import * as path from 'node:path';
import { z } from 'zod';

export const DEFAULT_CONTEXT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CONTEXT_MAX_RECORDS = 50_000;

export const CONTEXT_ENV = {
  /** Largest body of POST /v1/context/* (JSON or NDJSON); larger requests get 413 and nothing is stored. */
  CONTEXT_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(256 * 1024 * 1024).default(DEFAULT_CONTEXT_MAX_BODY_BYTES),
  /** Most records one context request may carry (413 beyond; auditctl context load splits files). */
  CONTEXT_MAX_RECORDS: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_CONTEXT_MAX_RECORDS),
  /** HMAC key file of name and address matching tokens (default DATA_DIR/keys/context-matching.key). */
  CONTEXT_MATCHING_KEY_FILE: z.string().min(1).optional(),
} as const;

export type ContextEnv = z.infer<z.ZodObject<typeof CONTEXT_ENV>>;

export interface ContextSettings {
  maxBodyBytes: number;
  maxRecords: number;
  /** Absolute path when set; unset: DATA_DIR/keys/context-matching.key. */
  matchingKeyFile?: string;
}

export function parseContext(env: ContextEnv): ContextSettings {
  return {
    maxBodyBytes: env.CONTEXT_MAX_BODY_BYTES,
    maxRecords: env.CONTEXT_MAX_RECORDS,
    matchingKeyFile: env.CONTEXT_MATCHING_KEY_FILE === undefined ? undefined : path.resolve(env.CONTEXT_MATCHING_KEY_FILE),
  };
}

/** The settings of a config that may predate them (hand-built configs in tests). */
export function contextSettingsOf(config: { context?: ContextSettings }): ContextSettings {
  return config.context ?? { maxBodyBytes: DEFAULT_CONTEXT_MAX_BODY_BYTES, maxRecords: DEFAULT_CONTEXT_MAX_RECORDS };
}
