/**
 * Typed configuration, read from the environment and validated once at start. A bad value stops
 * start-up with the key and the reason. Every key and its default is listed in the README.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { ES_MAX_RESULT_WINDOW, SCALE_OUT_ENV, ScaleOutSettings, parseScaleOut } from './scale-out-config';
import { DETECTION_ENV, DetectionSettings, parseDetection } from './detection-config';
import { INTEGRITY_ENV, IntegritySettings, parseIntegrity } from './integrity-config';
import { COMPLIANCE_ENV, ComplianceSettings, parseCompliance } from './compliance-config';
import { SECURITY_ENV, SecuritySettings, parseSecurity } from './security-config';
import { CONSOLE_ENV, ConsoleSettings, parseConsole } from './console-config';
import { CONTEXT_ENV, ContextSettings, parseContext } from './context-config';
import { FAULTS_ENV, FaultSettings, parseFaults } from './faults-config';
import type { Deployment } from './deployment';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

export const DEFAULT_RATE_LIMIT_EVENTS_PER_SECOND = 20_000;
export const DEFAULT_MAX_JSON_DEPTH = 8;
/** Idle keep-alive connections stay open this long (ms): above common client and load-balancer idle timeouts. */
export const DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;
export const DEFAULT_MAX_FHIR_JSON_DEPTH = 16;
export const DEFAULT_MAX_JSON_STRING_LENGTH = 8192;
/** File name of the integrations settings under DATA_DIR (when INTEGRATIONS_FILE is not set). */
export const INTEGRATIONS_FILE_NAME = 'integrations.json';

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
  /**
   * Under heavy load (the last group commit held at least GROUP_COMMIT_WINDOW_MIN_EVENTS events), the
   * next group waits up to this long (ms) for as many events as the last one had; 0: never waits
   * (chain-writer.ts; docs/benchmarks.md "stop 28").
   */
  GROUP_COMMIT_WINDOW_MS: z.coerce.number().int().min(0).max(1_000).default(6),
  GROUP_COMMIT_WINDOW_MIN_EVENTS: z.coerce.number().int().min(1).max(1_000_000).default(200),
  /** Embedded store: run the append transaction (sealing, inserts, fsync'd commit) on a worker thread. */
  WRITER_THREAD: bool.default('true'),
  /**
   * Embedded store: a background thread checkpoints the WAL this often (ms); 0 (the default) leaves it
   * to the commits. Off by default: on the reference VM it measured a better p90 but a worse p99 commit.
   */
  WAL_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /** Embedded store: rows a hot partition takes before appends open the next one (also at each week of receive time). */
  HOT_PARTITION_MAX_ROWS: z.coerce.number().int().min(1).max(1_000_000_000).default(2_000_000),
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
  /** Refusals recorded one by one per (source IP, reason, caller, route) per window; the rest counted in one follow-up. */
  ACCESS_DENIAL_WINDOW_MS: z.coerce.number().int().min(1000).max(3_600_000).default(60_000),
  /** Distinct refusal keys per window before the rest are counted under one overflow entry. */
  ACCESS_DENIAL_MAX_KEYS: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** How long an idle keep-alive connection stays open (ms). */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS),
  /** Sustained events per second one principal (integration) may post; 0 turns rate limiting off. */
  RATE_LIMIT_EVENTS_PER_SECOND: z.coerce.number().min(0).max(10_000_000).default(DEFAULT_RATE_LIMIT_EVENTS_PER_SECOND),
  /** Events one principal may post at once above the sustained rate (token bucket size). Default: 2 s worth, at least MAX_BATCH_EVENTS. */
  RATE_LIMIT_BURST: z.coerce.number().int().min(1).max(100_000_000).optional(),
  /** Per-integration settings (allowed source.system values, rate overrides). Default DATA_DIR/integrations.json, optional. */
  INTEGRATIONS_FILE: z.string().min(1).optional(),
  /** Deepest JSON nesting accepted in a request body (CONTRACT events need 4). */
  MAX_JSON_DEPTH: z.coerce.number().int().min(2).max(256).default(DEFAULT_MAX_JSON_DEPTH),
  /** Deepest JSON nesting accepted on /fhir routes (FHIR Bundles of AuditEvents need 11). */
  MAX_FHIR_JSON_DEPTH: z.coerce.number().int().min(2).max(256).default(DEFAULT_MAX_FHIR_JSON_DEPTH),
  /** Longest JSON string (raw characters) accepted in a request body, before any schema check. */
  MAX_JSON_STRING_LENGTH: z.coerce.number().int().min(64).max(16 * 1024 * 1024).default(DEFAULT_MAX_JSON_STRING_LENGTH),
  /** Largest body of POST /fhir and /fhir/AuditEvent (a Bundle of 1000 AuditEvents is ~2-4 MiB). */
  FHIR_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** IHE ATNA receiver: RFC 5425 syslog over mutual TLS (off unless asked for). */
  ATNA_ENABLED: bool.default('false'),
  ATNA_PORT: z.coerce.number().int().min(0).max(65535).default(6514),
  /** Listen address of the ATNA receiver; HOST when unset. */
  ATNA_HOST: z.string().min(1).optional(),
  /** Largest syslog frame (and DICOM audit XML) accepted; longer frames are skipped and counted. */
  ATNA_MAX_FRAME_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  ATNA_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100_000).default(64),
  /** A connection that sends nothing for this long is closed (syslog senders reconnect). */
  ATNA_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(86_400_000).default(300_000),
  /** Directory of the AES-256 data keys that encrypt patient.id and actor.ip at rest (default DATA_DIR/keys/data). */
  DATA_KEYS_DIR: z.string().min(1).optional(),
  /** HMAC key file of patient tokens (default DATA_DIR/keys/tokenization.key). */
  TOKENIZATION_KEY_FILE: z.string().min(1).optional(),
  /** Shortest reason accepted by POST /v1/reidentify. */
  REIDENTIFY_MIN_REASON_LENGTH: z.coerce.number().int().min(1).max(500).default(10),
  /** Scale-out: BUS, STORE, KAFKA_*, ELASTICSEARCH_* (scale-out-config.ts). */
  ...SCALE_OUT_ENV,
  /** Detection: DETECTION_*, RULES_DIR, RUNBOOKS_DIR (detection-config.ts). */
  ...DETECTION_ENV,
  /** Integrity: CHECKPOINT_EVERY_RECORDS, CHECKPOINT_INTERVAL_SECONDS, VERIFY_WORKERS (integrity-config.ts). */
  ...INTEGRITY_ENV,
  /** Compliance: RETENTION_CONFIG, REPORT_TEMPLATES_DIR, REPORT_PAGE_SIZE (compliance-config.ts). */
  ...COMPLIANCE_ENV,
  /** Security hardening: HTTP_MAX_CONNECTIONS*, HTTP_*_TIMEOUT_MS, OPS_ENDPOINTS_AUTH, SOURCE_BINDING, ... (security-config.ts). */
  ...SECURITY_ENV,
  /** Web console: CONSOLE_*, OIDC_* (console-config.ts). */
  ...CONSOLE_ENV,
  /** Context feeds: CONTEXT_MAX_BODY_BYTES, CONTEXT_MAX_RECORDS, CONTEXT_MATCHING_KEY_FILE (context-config.ts). */
  ...CONTEXT_ENV,
  /** Fault handling: WRITER_STALL_SECONDS, HEALTH_PROBE_INTERVAL_MS, DISK_FREE_FLOOR_BYTES (faults-config.ts). */
  ...FAULTS_ENV,
  /** Alert delivery destinations (YAML or JSON, docs/alert-delivery.md); unset: alerts are not pushed anywhere. */
  ALERT_DESTINATIONS_FILE: z.string().min(1).optional(),
  /**
   * How often each instance's alert dispatcher looks for alerts to fan out and deliveries due, in ms
   * (default 250 on the embedded store, 1000 with STORE=elasticsearch: every instance queries the
   * shared cluster at this pace).
   */
  ALERT_DELIVERY_POLL_MS: z.coerce
    .number({ invalid_type_error: 'must be a whole number of milliseconds from 50 to 60000' })
    .int('must be a whole number of milliseconds from 50 to 60000')
    .min(50, 'must be a whole number of milliseconds from 50 to 60000')
    .max(60_000, 'must be a whole number of milliseconds from 50 to 60000')
    .optional(),
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
  /** GROUP_COMMIT_WINDOW_MS / _MIN_EVENTS: how long a group waits for more under heavy load (chain-writer.ts; unset: no wait). */
  groupCommitWindowMs?: number;
  groupCommitWindowMinEvents?: number;
  /** WRITER_THREAD: the embedded store commits on a worker thread with its own connection. */
  writerThread?: boolean;
  /** WAL_CHECKPOINT_INTERVAL_MS: background WAL checkpoints of the embedded store (0 or unset: off). */
  walCheckpointIntervalMs?: number;
  /** HOT_PARTITION_MAX_ROWS: rows an embedded hot partition takes before the next one opens (unset: 2,000,000). */
  hotPartitionMaxRows?: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  tokenIssuer: string;
  tokenAudience: string;
  tokenMaxTtl: string;
  /** External IdP JWKS URL replacing the local token signing key (TOKEN_JWKS_URL). */
  tokenJwksUrl?: string;
  /** Claim carrying the role (TOKEN_ROLE_CLAIM, default `role`). */
  tokenRoleClaim?: string;
  shutdownGraceMs: number;
  /** ACCESS_DENIAL_WINDOW_MS / ACCESS_DENIAL_MAX_KEYS: the access log's flood bound for refusals (defaults 60 s, 1000). */
  accessDenialWindowMs?: number;
  accessDenialMaxKeys?: number;
  /** HTTP_KEEP_ALIVE_TIMEOUT_MS (default 65 s); optional so hand-built configs stay valid. */
  httpKeepAliveTimeoutMs?: number;
  /** Ingest rate limit per principal, events/s (RATE_LIMIT_EVENTS_PER_SECOND; 0 = off). Optional so hand-built configs stay valid. */
  rateLimitEventsPerSecond?: number;
  /** Token bucket size in events (RATE_LIMIT_BURST). */
  rateLimitBurst?: number;
  /** INTEGRATIONS_FILE when set (then it must exist); unset: DATA_DIR/integrations.json if present. */
  integrationsFile?: string;
  /** MAX_JSON_DEPTH, MAX_FHIR_JSON_DEPTH, MAX_JSON_STRING_LENGTH. */
  maxJsonDepth?: number;
  maxFhirJsonDepth?: number;
  maxJsonStringLength?: number;
  /** FHIR_MAX_BODY_BYTES (optional so hand-built configs stay valid; default 4 MiB). */
  fhirMaxBodyBytes?: number;
  /** IHE ATNA receiver (ATNA_*); absent or enabled=false: no listener. */
  atna?: { enabled: boolean; port: number; host?: string; maxFrameBytes: number; maxConnections: number; idleTimeoutMs: number };
  /** Scale-out bus and store (BUS, STORE, KAFKA_*, ELASTICSEARCH_*); absent: memory bus and SQLite. */
  scaleOut?: ScaleOutSettings;
  /** DATA_KEYS_DIR (unset: DATA_DIR/keys/data). */
  dataKeysDir?: string;
  /** TOKENIZATION_KEY_FILE (unset: DATA_DIR/keys/tokenization.key). */
  tokenizationKeyFile?: string;
  /** REIDENTIFY_MIN_REASON_LENGTH (default 10). */
  reidentifyMinReasonLength?: number;
  /** Streaming detection, rules and runbooks (DETECTION_*, RULES_DIR, RUNBOOKS_DIR); absent: the defaults. */
  detection?: DetectionSettings;
  /** Checkpoint cadence and verification workers (CHECKPOINT_*, VERIFY_WORKERS); absent: the defaults. */
  integrity?: IntegritySettings;
  /** Retention policy file, report templates, report page size (absent: defaults). */
  compliance?: ComplianceSettings;
  /** Connection caps, body timeouts, ops endpoint auth, checkpoint pace, source binding (absent: defaults). */
  security?: Partial<SecuritySettings>;
  /** Web console sessions, local accounts, OpenID Connect (CONSOLE_*, OIDC_*); absent: the defaults. */
  console?: ConsoleSettings;
  /** Context feed limits and matching key (CONTEXT_*); absent: the defaults. */
  context?: ContextSettings;
  /** ALERT_DESTINATIONS_FILE (absolute) when set; unset: no alert delivery. */
  alertDestinationsFile?: string;
  /** ALERT_DELIVERY_POLL_MS: the alert dispatcher's pass interval; absent: alertDeliveryPollMs's default for the store. */
  alertDeliveryPollMs?: number;
  /** Writer stall bound, fault re-probe interval, disk free-space floor (faults-config.ts); absent: the defaults. */
  faults?: FaultSettings;
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
  if (c.RATE_LIMIT_EVENTS_PER_SECOND > 0 && c.RATE_LIMIT_BURST !== undefined && c.RATE_LIMIT_BURST < c.MAX_BATCH_EVENTS) {
    throw new ConfigError(`Invalid configuration:\n  RATE_LIMIT_BURST: must be at least MAX_BATCH_EVENTS (${c.MAX_BATCH_EVENTS}), or a full batch could never be accepted`);
  }
  const scaleOut = parseScaleOut(c);
  if (c.STORE === 'elasticsearch' && c.REPORT_PAGE_SIZE > ES_MAX_RESULT_WINDOW) {
    scaleOut.issues.push(`REPORT_PAGE_SIZE: at most ${ES_MAX_RESULT_WINDOW} with STORE=elasticsearch (a search returns no more hits than index.max_result_window)`);
  }
  if (scaleOut.issues.length > 0) throw new ConfigError(`Invalid configuration:\n${scaleOut.issues.map((i) => `  ${i}`).join('\n')}`);
  const consoleSettings = parseConsole(c);
  if (consoleSettings.issues.length > 0) throw new ConfigError(`Invalid configuration:\n${consoleSettings.issues.map((i) => `  ${i}`).join('\n')}`);
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: path.resolve(c.DATA_DIR),
    insecureHttp: c.INSECURE_HTTP,
    maxBatchEvents: c.MAX_BATCH_EVENTS,
    maxBodyBytes: c.MAX_BODY_BYTES,
    groupCommitMaxEvents: c.GROUP_COMMIT_MAX_EVENTS,
    groupCommitWindowMs: c.GROUP_COMMIT_WINDOW_MS,
    groupCommitWindowMinEvents: c.GROUP_COMMIT_WINDOW_MIN_EVENTS,
    writerThread: c.WRITER_THREAD,
    walCheckpointIntervalMs: c.WAL_CHECKPOINT_INTERVAL_MS,
    hotPartitionMaxRows: c.HOT_PARTITION_MAX_ROWS,
    logLevel: c.LOG_LEVEL,
    tokenIssuer: c.TOKEN_ISSUER,
    tokenAudience: c.TOKEN_AUDIENCE,
    tokenMaxTtl: c.TOKEN_MAX_TTL,
    tokenJwksUrl: c.TOKEN_JWKS_URL,
    tokenRoleClaim: c.TOKEN_ROLE_CLAIM,
    shutdownGraceMs: c.SHUTDOWN_GRACE_MS,
    httpKeepAliveTimeoutMs: c.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    accessDenialWindowMs: c.ACCESS_DENIAL_WINDOW_MS,
    accessDenialMaxKeys: c.ACCESS_DENIAL_MAX_KEYS,
    rateLimitEventsPerSecond: c.RATE_LIMIT_EVENTS_PER_SECOND,
    rateLimitBurst: c.RATE_LIMIT_BURST ?? defaultBurst(c.RATE_LIMIT_EVENTS_PER_SECOND, c.MAX_BATCH_EVENTS),
    integrationsFile: c.INTEGRATIONS_FILE === undefined ? undefined : path.resolve(c.INTEGRATIONS_FILE),
    maxJsonDepth: c.MAX_JSON_DEPTH,
    maxFhirJsonDepth: c.MAX_FHIR_JSON_DEPTH,
    maxJsonStringLength: c.MAX_JSON_STRING_LENGTH,
    fhirMaxBodyBytes: c.FHIR_MAX_BODY_BYTES,
    atna: {
      enabled: c.ATNA_ENABLED,
      port: c.ATNA_PORT,
      host: c.ATNA_HOST,
      maxFrameBytes: c.ATNA_MAX_FRAME_BYTES,
      maxConnections: c.ATNA_MAX_CONNECTIONS,
      idleTimeoutMs: c.ATNA_IDLE_TIMEOUT_MS,
    },
    scaleOut: scaleOut.settings,
    dataKeysDir: c.DATA_KEYS_DIR === undefined ? undefined : path.resolve(c.DATA_KEYS_DIR),
    tokenizationKeyFile: c.TOKENIZATION_KEY_FILE === undefined ? undefined : path.resolve(c.TOKENIZATION_KEY_FILE),
    reidentifyMinReasonLength: c.REIDENTIFY_MIN_REASON_LENGTH,
    detection: parseDetection(c),
    integrity: parseIntegrity(c),
    compliance: parseCompliance(c),
    security: parseSecurity(c),
    console: consoleSettings.settings,
    context: parseContext(c),
    faults: parseFaults(c),
    alertDestinationsFile: c.ALERT_DESTINATIONS_FILE === undefined ? undefined : path.resolve(c.ALERT_DESTINATIONS_FILE),
    alertDeliveryPollMs: c.ALERT_DELIVERY_POLL_MS,
    ...overrides,
  };
}

/**
 * The alert dispatcher's pass interval (ALERT_DELIVERY_POLL_MS): 250 ms on the embedded store, 1 s
 * where instances share state (STORE=elasticsearch: each pass of each instance queries the shared
 * cluster), unless set.
 */
export function alertDeliveryPollMs(config: Pick<AppConfig, 'alertDeliveryPollMs'>, deployment: Pick<Deployment, 'sharedState'>): number {
  return config.alertDeliveryPollMs ?? (deployment.sharedState ? 1000 : 250);
}

/** Default token bucket size: two seconds of the sustained rate, and never less than one full batch. */
export function defaultBurst(eventsPerSecond: number, maxBatchEvents: number): number {
  return Math.max(Math.ceil(2 * eventsPerSecond), maxBatchEvents);
}

export const APP_CONFIG = Symbol('APP_CONFIG');
