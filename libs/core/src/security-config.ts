/**
 * Security hardening configuration (issue 22): connection and body-time limits of the HTTP server,
 * authentication of the operational endpoints, the pace of on-demand checkpoints, and how source
 * systems are bound to integrations. Merged into the main config schema (config.ts), so a bad value
 * stops start-up naming the key. Reference: docs/security.md.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

export const SECURITY_ENV = {
  /** Most open HTTP connections in total; further connections are closed at once. */
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(1024),
  /** Most open HTTP connections from one client address. */
  HTTP_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).max(1_000_000).default(128),
  /** A request's headers must arrive within this many ms. */
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(10_000),
  /** A request (headers and body) must arrive within this many ms; 408 otherwise. */
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(30_000),
  /** `true`: /metrics and /docs* need a bearer token with ops:read (admin); `false`: public (no per-rule counters). */
  OPS_ENDPOINTS_AUTH: bool.default('false'),
  /** Least time (ms) between two on-demand checkpoints of one chain; a proof needing one meanwhile waits. */
  CHECKPOINT_ON_DEMAND_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(600_000).default(5_000),
  /**
   * Without an integrations file naming a system's integration: `first` binds a source.system to the
   * integration that first posts it (others get 403); `off` lets any integration post any system.
   */
  SOURCE_BINDING: z.enum(['first', 'off']).default('first'),
} as const;

export type SecurityEnv = z.infer<z.ZodObject<typeof SECURITY_ENV>>;

export interface SecuritySettings {
  httpMaxConnections: number;
  httpMaxConnectionsPerIp: number;
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  opsEndpointsAuth: boolean;
  checkpointOnDemandMinIntervalMs: number;
  sourceBinding: 'first' | 'off';
}

export const DEFAULT_SECURITY_SETTINGS: SecuritySettings = {
  httpMaxConnections: 1024,
  httpMaxConnectionsPerIp: 128,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 30_000,
  opsEndpointsAuth: false,
  checkpointOnDemandMinIntervalMs: 5_000,
  sourceBinding: 'first',
};

export function parseSecurity(env: SecurityEnv): SecuritySettings {
  return {
    httpMaxConnections: env.HTTP_MAX_CONNECTIONS,
    httpMaxConnectionsPerIp: env.HTTP_MAX_CONNECTIONS_PER_IP,
    httpHeadersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
    httpRequestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
    opsEndpointsAuth: env.OPS_ENDPOINTS_AUTH,
    checkpointOnDemandMinIntervalMs: env.CHECKPOINT_ON_DEMAND_MIN_INTERVAL_MS,
    sourceBinding: env.SOURCE_BINDING,
  };
}

/** The settings of a config, defaults filled in (hand-built test configs may omit them). */
export function securitySettings(config: { security?: Partial<SecuritySettings> }): SecuritySettings {
  return { ...DEFAULT_SECURITY_SETTINGS, ...(config.security ?? {}) };
}
