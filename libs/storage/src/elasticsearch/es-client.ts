/**
 * Builds the Elasticsearch client and the store's options from the typed settings: URL, API key,
 * private CA file, index names and ILM ages. The client's own retries cover connection errors and
 * 502/503/504; the store adds back-off for 429.
 */
import * as fs from 'node:fs';
import { Client } from '@elastic/elasticsearch';
import type { ElasticsearchSettings } from '@app/core';
import type { EventCategory } from '@app/core';
import type { ElasticsearchEventStoreOptions } from './es-event-store';
import type { RetentionClass } from './es-schema';

export function createElasticsearchClient(settings: ElasticsearchSettings): Client {
  let ca: string | undefined;
  if (settings.caFile) {
    try {
      ca = fs.readFileSync(settings.caFile, 'utf8');
    } catch (err) {
      throw new Error(`ELASTICSEARCH_CA_FILE: cannot read ${settings.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return new Client({
    node: settings.url,
    ...(settings.apiKey ? { auth: { apiKey: settings.apiKey } } : {}),
    ...(ca ? { tls: { ca, rejectUnauthorized: true } } : {}),
    maxRetries: 3,
    requestTimeout: 30_000,
    compression: false,
  });
}

/**
 * The store's options. `retention` are the classes' windows from the retention configuration
 * (es-retention-classes.ts in libs/retention) and the tier ages of the legal-hold policy.
 */
export function elasticsearchStoreOptions(
  settings: ElasticsearchSettings,
  retention?: { classes: Record<EventCategory, RetentionClass>; warmAfter: string; coldAfter: string },
): ElasticsearchEventStoreOptions {
  return {
    url: settings.url,
    indexPrefix: settings.indexPrefix,
    alertsIndex: settings.alertsIndex,
    checkpointsIndex: settings.checkpointsIndex,
    rolloverMaxAge: settings.rolloverMaxAge,
    rolloverMaxPrimaryShardSize: settings.rolloverMaxPrimaryShardSize,
    warmAfter: settings.warmAfter ?? retention?.warmAfter ?? '90d',
    coldAfter: settings.coldAfter ?? retention?.coldAfter ?? '366d',
    ...(retention ? { classes: retention.classes } : {}),
  };
}
