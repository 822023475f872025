/** Elasticsearch adapters on EsFake for the contract specs: a started event store declares every index the other stores use. */
import { ElasticsearchEventStore, ElasticsearchEventStoreOptions } from '@app/storage/elasticsearch/es-event-store';
import { EsFake } from '@app/storage/elasticsearch/es-fake';

export const ES_OPTIONS: ElasticsearchEventStoreOptions = {
  indexPrefix: 'audit',
  alertsIndex: 'audit-alerts',
  checkpointsIndex: 'audit-checkpoints',
  rolloverMaxAge: '30d',
  rolloverMaxPrimaryShardSize: '50gb',
  warmAfter: '30d',
  coldAfter: '365d',
  sleep: async () => undefined,
  healthIntervalMs: 3_600_000,
};

export async function startedEsEventStore(fake: EsFake, options: Partial<ElasticsearchEventStoreOptions> = {}): Promise<ElasticsearchEventStore> {
  const store = new ElasticsearchEventStore(fake.client(), { ...ES_OPTIONS, ...options });
  await store.init();
  return store;
}
