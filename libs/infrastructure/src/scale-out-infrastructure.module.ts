/**
 * The scale-out infrastructure (STORE=elasticsearch): every port bound to its adapter in the
 * Elasticsearch cluster, through the client of the one Elasticsearch event store (ES_EVENTS), so
 * that any instance can die and another continues. Global, so feature modules inject the ports by
 * token. Chosen in infrastructure.ts, the only place that reads STORE. The Elasticsearch client
 * loads lazily (about a second of start-up the embedded default does not pay).
 */
import { DynamicModule, Module, Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment } from '@app/core';
import { elasticsearchCheckpointStore, elasticsearchEventStore } from '@app/pipeline';
import { embeddedFieldProtection } from '@app/security';
import { CHAIN_READERS, CHECKPOINT_STORE, EVENT_STORE, SQLITE_DB, eventStoreChainReaders } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/scale-out-adapters';
import { INFRASTRUCTURE_EXPORTS, InfrastructureUnreachableError, OpenedInfrastructure } from './infrastructure-ports';

/** The Elasticsearch event store, typed: the other adapters of this module share its client and index layout. */
const ES_EVENTS = Symbol('ES_EVENTS');

@Module({})
export class ScaleOutInfrastructureModule {
  /** `bus`: the event bus and consumer providers (event-bus.providers.ts). */
  static forRoot(deployment: Deployment, bus: Provider[]): DynamicModule {
    return {
      module: ScaleOutInfrastructureModule,
      global: true,
      providers: [
        { provide: DEPLOYMENT, useValue: deployment },
        // No local database: everything the service keeps lives in the cluster (test/no-local-state.e2e-spec.ts lists the data dir).
        { provide: SQLITE_DB, useValue: null },
        {
          provide: ES_EVENTS,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig): Promise<ElasticsearchEventStore> => elasticsearchEventStore(config, embeddedFieldProtection(config)),
        },
        { provide: EVENT_STORE, useExisting: ES_EVENTS },
        // Checkpoints in the cluster, next to the events.
        { provide: CHECKPOINT_STORE, inject: [ES_EVENTS], useFactory: (es: ElasticsearchEventStore) => elasticsearchCheckpointStore(es) },
        // Verification reads the cluster through the event store's own readChain, in-process.
        { provide: CHAIN_READERS, inject: [ES_EVENTS], useFactory: (es: ElasticsearchEventStore) => eventStoreChainReaders(es) },
        ...bus,
      ],
      exports: INFRASTRUCTURE_EXPORTS,
    };
  }
}

/** The CLI's view of the scale-out infrastructure: the cluster the service writes to, through the same adapters; unreachable: InfrastructureUnreachableError. */
export async function openScaleOutInfrastructure(config: AppConfig): Promise<OpenedInfrastructure> {
  const events = await elasticsearchEventStore(config, embeddedFieldProtection(config));
  try {
    await events.client.info();
  } catch (err) {
    await events.close();
    const { describeEsError } = await import('@app/storage/scale-out-adapters');
    throw new InfrastructureUnreachableError(describeEsError(err, config.scaleOut?.elasticsearch?.url));
  }
  return { kind: 'elasticsearch', events, checkpoints: await elasticsearchCheckpointStore(events), chainReaders: eventStoreChainReaders(events), db: null, close: () => events.close() };
}
