/**
 * Builds the kafkajs client from the typed settings (brokers, client id, SASL, TLS with a private
 * CA), and names the subset of kafkajs the adapters use, so tests can inject a recording fake.
 * kafkajs log lines go through a small log creator that keeps only level, logger and message
 * (never message payloads, which are PHI).
 */
import * as fs from 'node:fs';
import { Kafka, logLevel, type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaSettings } from '@app/core';

/** What the adapters need from a kafkajs `Kafka` instance. */
export type KafkaLike = Pick<Kafka, 'producer' | 'consumer' | 'admin'>;

export type KafkaLog = (level: 'error' | 'warn' | 'info', msg: string, fields?: Record<string, unknown>) => void;

export function kafkaConfig(settings: KafkaSettings, log?: KafkaLog): KafkaConfig {
  let ssl: KafkaConfig['ssl'] = settings.tls;
  if (settings.tlsCaFile) {
    try {
      ssl = { ca: [fs.readFileSync(settings.tlsCaFile, 'utf8')], rejectUnauthorized: true };
    } catch (err) {
      throw new Error(`KAFKA_TLS_CA_FILE: cannot read ${settings.tlsCaFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return {
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl,
    sasl: settings.sasl as SASLOptions | undefined,
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const level = entry.level === logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'info';
      log(level, `kafkajs: ${String(entry.log.message).slice(0, 300)}`, { logger: entry.namespace });
    },
  };
}

export function createKafka(settings: KafkaSettings, log?: KafkaLog): Kafka {
  return new Kafka(kafkaConfig(settings, log));
}

/** Types of the per-topic errors kafkajs puts in `errors[]` (KafkaJSAggregateError, e.g. "Topic creation errors"). */
export function kafkaErrorTypes(err: unknown): string[] {
  const e = err as { type?: unknown; errors?: unknown; cause?: unknown };
  const own = typeof e?.type === 'string' ? [e.type] : [];
  const nested = Array.isArray(e?.errors) ? e.errors.flatMap((x) => kafkaErrorTypes(x)) : [];
  const cause = e?.cause && e.cause !== err ? kafkaErrorTypes(e.cause) : [];
  return [...new Set([...own, ...nested, ...cause])];
}

/**
 * A start-up error message that names the setting to check, without secrets. `facts.brokerCount`:
 * how many brokers the cluster has (from describeCluster), named when the replication factor is refused.
 */
export function describeKafkaError(
  err: unknown,
  settings: Pick<KafkaSettings, 'brokers' | 'sasl' | 'tls'> & Partial<Pick<KafkaSettings, 'replicationFactor' | 'topic'>>,
  facts: { brokerCount?: number } = {},
): string {
  const e = err as { name?: string; message?: string; type?: string };
  const types = kafkaErrorTypes(err);
  const reason = `${e.name ?? 'Error'}: ${(e.message ?? String(err)).slice(0, 200)}${types.length > 0 ? ` (${types.join(', ')})` : ''}`;
  if (types.includes('INVALID_REPLICATION_FACTOR') || /replication factor|replication-factor/i.test(reason)) {
    const factor = settings.replicationFactor === undefined ? '' : `=${settings.replicationFactor}`;
    const brokers = facts.brokerCount === undefined ? 'fewer brokers than that' : `${facts.brokerCount} broker${facts.brokerCount === 1 ? '' : 's'}`;
    const fix = facts.brokerCount === undefined ? 'at most the number of brokers' : `at most ${facts.brokerCount}`;
    const topic = settings.topic ? ` ${settings.topic}` : '';
    return `Kafka refused to create the topic${topic} with KAFKA_REPLICATION_FACTOR${factor}: the cluster has ${brokers}; set KAFKA_REPLICATION_FACTOR to ${fix} (1 on a single-broker cluster; 3 in production): ${reason}`;
  }
  if (/SASL|authenticat/i.test(reason)) return `Kafka refused the credentials (check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD): ${reason}`;
  if (/certificate|self.signed|SSL|TLS/i.test(reason)) return `TLS to Kafka failed (check KAFKA_TLS and KAFKA_TLS_CA_FILE): ${reason}`;
  return `Kafka brokers KAFKA_BROKERS=${settings.brokers.join(',')} are not reachable or not usable: ${reason}`;
}
