/**
 * Typed configuration, read from the environment and validated once at start. A bad value stops
 * start-up with the key and the reason. Every key and its default is listed in the README.
 */
import * as path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const ConfigSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  /** Plain HTTP instead of TLS. Only when explicitly asked for (e.g. behind a TLS-terminating proxy). */
  INSECURE_HTTP: bool.default('false'),
  MAX_BATCH_EVENTS: z.coerce.number().int().min(1).max(100_000).default(1000),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Most events one group commit (one fsync'd transaction) may carry. */
  GROUP_COMMIT_MAX_EVENTS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  TOKEN_ISSUER: z.string().min(1).default('audit-siem'),
  TOKEN_AUDIENCE: z.string().min(1).default('audit-siem-api'),
  /** Longest lifetime `auditctl token` will mint. */
  TOKEN_MAX_TTL: z.string().regex(/^\d+[smhd]$/).default('30d'),
  /**
   * JWKS URL of an external identity provider. When set, bearer tokens are verified against it instead
   * of the local signing key (and local minting is disabled). https only, except for loopback hosts.
   */
  TOKEN_JWKS_URL: z
    .string()
    .url()
    .refine((u) => {
      try {
        const url = new URL(u);
        return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname));
      } catch {
        return false;
      }
    }, 'must be an https URL (http only for localhost)')
    .optional(),
  /** Claim carrying the role in bearer tokens (a string, or an array holding exactly one known role). */
  TOKEN_ROLE_CLAIM: z.string().min(1).default('role'),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});

export type RawConfig = z.infer<typeof ConfigSchema>;

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  insecureHttp: boolean;
  maxBatchEvents: number;
  maxBodyBytes: number;
  groupCommitMaxEvents: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  tokenIssuer: string;
  tokenAudience: string;
  tokenMaxTtl: string;
  /** External IdP JWKS URL replacing the local token signing key (TOKEN_JWKS_URL). */
  tokenJwksUrl?: string;
  /** Claim carrying the role (TOKEN_ROLE_CLAIM, default `role`). */
  tokenRoleClaim?: string;
  shutdownGraceMs: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<AppConfig> = {}): AppConfig {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const parsed = ConfigSchema.safeParse(relevant);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: path.resolve(c.DATA_DIR),
    insecureHttp: c.INSECURE_HTTP,
    maxBatchEvents: c.MAX_BATCH_EVENTS,
    maxBodyBytes: c.MAX_BODY_BYTES,
    groupCommitMaxEvents: c.GROUP_COMMIT_MAX_EVENTS,
    logLevel: c.LOG_LEVEL,
    tokenIssuer: c.TOKEN_ISSUER,
    tokenAudience: c.TOKEN_AUDIENCE,
    tokenMaxTtl: c.TOKEN_MAX_TTL,
    tokenJwksUrl: c.TOKEN_JWKS_URL,
    tokenRoleClaim: c.TOKEN_ROLE_CLAIM,
    shutdownGraceMs: c.SHUTDOWN_GRACE_MS,
    ...overrides,
  };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
