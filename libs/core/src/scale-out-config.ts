/**
 * Scale-out configuration (issue 7): which event bus and which event store the service runs on
 * (`BUS=memory|kafka`, `STORE=sqlite|elasticsearch`) and how to reach Kafka and Elasticsearch.
 * The keys are merged into the main config schema (config.ts); the cross-key checks here name the
 * missing or conflicting key so start-up can refuse with a precise message.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

/** ILM ages are whole days ("30d"); hours and minutes are allowed for test clusters. */
const ilmAge = z.string().regex(/^\d+[dhm]$/, 'must be a duration like 30d, 12h or 90m');

/** Elasticsearch's default `index.max_result_window`: no search returns more hits (REPORT_PAGE_SIZE is capped by it). */
export const ES_MAX_RESULT_WINDOW = 10_000;

/** An ILM age (`30d`, `12h`, `90m`) in minutes. */
export function ilmAgeMinutes(age: string): number {
  const n = Number(age.slice(0, -1));
  return age.endsWith('d') ? n * 1440 : age.endsWith('h') ? n * 60 : n;
}

export const SCALE_OUT_ENV = {
  BUS: z.enum(['memory', 'kafka']).default('memory'),
  STORE: z.enum(['sqlite', 'elasticsearch']).default('sqlite'),
  /** Comma-separated host:port list. Required when BUS=kafka. */
  KAFKA_BROKERS: z.string().optional(),
  KAFKA_CLIENT_ID: z.string().min(1).max(200).default('audit-siem'),
  KAFKA_TOPIC: z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be a valid Kafka topic name').default('audit-events'),
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(10_000).default(12),
  /** Replication factor used when the service creates the topic (-1: the broker's default). */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(-1).max(32).refine((n) => n !== 0, 'must be -1 or at least 1').default(3),
  KAFKA_GROUP_ID: z.string().min(1).max(200).default('audit-chain-writer'),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** TLS to the brokers; implied by KAFKA_TLS_CA_FILE. */
  KAFKA_TLS: bool.default('false'),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  /** Longest an ingest request waits for Kafka's acknowledgement before answering 503. */
  KAFKA_PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(3000).max(300_000).default(30_000),
  ELASTICSEARCH_URL: z.string().url().optional(),
  ELASTICSEARCH_API_KEY: z.string().min(1).optional(),
  ELASTICSEARCH_CA_FILE: z.string().min(1).optional(),
  ELASTICSEARCH_INDEX_PREFIX: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,100}$/, 'must be lower-case letters, digits, ".", "_" or "-"').default('audit'),
  /** Alert and checkpoint indices (default `<prefix>-alerts`, `<prefix>-checkpoints`). */
  ELASTICSEARCH_ALERTS_INDEX: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,200}$/).optional(),
  ELASTICSEARCH_CHECKPOINTS_INDEX: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,200}$/).optional(),
  /** ILM: hot indices roll over at this age or primary shard size, then are sealed read-only. */
  ELASTICSEARCH_ROLLOVER_MAX_AGE: ilmAge.default('30d'),
  ELASTICSEARCH_ROLLOVER_MAX_SHARD_SIZE: z.string().regex(/^\d+(gb|mb)$/, 'must be a size like 50gb').default('50gb'),
  /**
   * ILM: age (since rollover) at which indices move to the warm and cold tiers. The tiers follow
   * RETENTION_CONFIG (hot and warm ages); these keys are optional and, when set, must agree with it
   * (checked at start, libs/retention es-retention-classes.ts).
   */
  ELASTICSEARCH_WARM_AFTER: ilmAge.optional(),
  ELASTICSEARCH_COLD_AFTER: ilmAge.optional(),
} as const;

export type ScaleOutEnv = z.infer<z.ZodObject<typeof SCALE_OUT_ENV>>;

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  topic: string;
  partitions: number;
  replicationFactor: number;
  groupId: string;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  tls: boolean;
  tlsCaFile?: string;
  publishTimeoutMs: number;
  sessionTimeoutMs: number;
}

export interface ElasticsearchSettings {
  url: string;
  apiKey?: string;
  caFile?: string;
  indexPrefix: string;
  alertsIndex: string;
  checkpointsIndex: string;
  rolloverMaxAge: string;
  rolloverMaxPrimaryShardSize: string;
  /** Set only when ELASTICSEARCH_WARM_AFTER / ELASTICSEARCH_COLD_AFTER are (the tiers come from RETENTION_CONFIG). */
  warmAfter?: string;
  coldAfter?: string;
}

export interface ScaleOutSettings {
  bus: 'memory' | 'kafka';
  store: 'sqlite' | 'elasticsearch';
  kafka?: KafkaSettings;
  elasticsearch?: ElasticsearchSettings;
}

/** Builds the typed settings; `issues` name each key that is missing or inconsistent. */
export function parseScaleOut(c: ScaleOutEnv): { settings: ScaleOutSettings; issues: string[] } {
  const issues: string[] = [];
  const settings: ScaleOutSettings = { bus: c.BUS, store: c.STORE };
  const brokers = (c.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (c.BUS === 'kafka') {
    if (brokers.length === 0) issues.push('KAFKA_BROKERS: required when BUS=kafka (comma-separated host:port list)');
    for (const b of brokers) if (!/^[^\s:/]+:\d{1,5}$/.test(b)) issues.push(`KAFKA_BROKERS: "${b.slice(0, 100)}" is not host:port`);
    let sasl: KafkaSettings['sasl'];
    if (c.KAFKA_SASL_MECHANISM) {
      if (!c.KAFKA_SASL_USERNAME) issues.push('KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set');
      if (!c.KAFKA_SASL_PASSWORD) issues.push('KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
      sasl = { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME ?? '', password: c.KAFKA_SASL_PASSWORD ?? '' };
    } else if (c.KAFKA_SASL_USERNAME || c.KAFKA_SASL_PASSWORD) {
      issues.push('KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set');
    }
    settings.kafka = {
      brokers,
      clientId: c.KAFKA_CLIENT_ID,
      topic: c.KAFKA_TOPIC,
      partitions: c.KAFKA_PARTITIONS,
      replicationFactor: c.KAFKA_REPLICATION_FACTOR,
      groupId: c.KAFKA_GROUP_ID,
      sasl,
      tls: c.KAFKA_TLS || c.KAFKA_TLS_CA_FILE !== undefined,
      tlsCaFile: c.KAFKA_TLS_CA_FILE,
      publishTimeoutMs: c.KAFKA_PUBLISH_TIMEOUT_MS,
      sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS,
    };
  }
  if (c.STORE === 'elasticsearch') {
    if (!c.ELASTICSEARCH_URL) issues.push('ELASTICSEARCH_URL: required when STORE=elasticsearch');
    else if (!/^https?:\/\//.test(c.ELASTICSEARCH_URL)) issues.push('ELASTICSEARCH_URL: must be an http(s) URL');
    // ILM runs phases in order and refuses a policy whose cold phase starts before its warm phase.
    if (c.ELASTICSEARCH_WARM_AFTER && c.ELASTICSEARCH_COLD_AFTER && ilmAgeMinutes(c.ELASTICSEARCH_WARM_AFTER) > ilmAgeMinutes(c.ELASTICSEARCH_COLD_AFTER)) {
      issues.push(`ELASTICSEARCH_WARM_AFTER: must not be later than ELASTICSEARCH_COLD_AFTER (${c.ELASTICSEARCH_WARM_AFTER} > ${c.ELASTICSEARCH_COLD_AFTER}): ILM phases run warm, then cold`);
    }
    const prefix = c.ELASTICSEARCH_INDEX_PREFIX;
    settings.elasticsearch = {
      url: c.ELASTICSEARCH_URL ?? '',
      apiKey: c.ELASTICSEARCH_API_KEY,
      caFile: c.ELASTICSEARCH_CA_FILE,
      indexPrefix: prefix,
      alertsIndex: c.ELASTICSEARCH_ALERTS_INDEX ?? `${prefix}-alerts`,
      checkpointsIndex: c.ELASTICSEARCH_CHECKPOINTS_INDEX ?? `${prefix}-checkpoints`,
      rolloverMaxAge: c.ELASTICSEARCH_ROLLOVER_MAX_AGE,
      rolloverMaxPrimaryShardSize: c.ELASTICSEARCH_ROLLOVER_MAX_SHARD_SIZE,
      warmAfter: c.ELASTICSEARCH_WARM_AFTER,
      coldAfter: c.ELASTICSEARCH_COLD_AFTER,
    };
  }
  return { settings, issues };
}
