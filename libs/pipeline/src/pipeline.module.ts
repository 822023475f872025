/**
 * Wires the pipeline on the ports the infrastructure module binds (libs/infrastructure: event
 * store, event bus, chain-writer consumer): chain writer, ingest/query/verify services, and their
 * lifecycle. Embedded default: the writer starts before the server listens and drains on shutdown
 * so every in-flight commit finishes. With remote servers (Kafka, Elasticsearch) the adapters
 * connect in the background (readiness false until they are up; see scale-out.ts).
 */
import { BeforeApplicationShutdown, Global, Inject, Injectable, Module, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment, faultSettingsOf } from '@app/core';
import { PatientIdentifiers } from '@app/security';
import { BUS_CONSUMER, BusConsumer, COMMIT_FEED, EVENT_BUS, EVENT_STORE, EventBus, EventStore } from '@app/storage';
import { KEY_PROVIDER, KeyProvider } from '@app/security/key-provider.port';
import { CHAIN_READERS, CHECKPOINT_STORE, ChainReaderSource, CheckpointStore } from '@app/storage';
import { ChainWriter } from './chain-writer';
import { ClockPolicy, ClockQualityMonitor } from './clock-quality';
import { CheckpointService } from './checkpoints/checkpoint.service';
import { IngestService } from './ingest.service';
import { IntegrityService, integrityOptionsFor } from './integrity.service';
import { IntegrityMonitor } from './integrity-monitor';
import { MetricsService } from './metrics.service';
import { QueryService } from './query.service';
import { DurabilityMonitor } from './durability-monitor';
import { PipelineHealth } from './pipeline-health';
import { ReadinessService } from './readiness.service';
import { ScaleOutRunner } from './scale-out';

@Injectable()
export class PipelineLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly scaleOut: ScaleOutRunner | null;

  constructor(
    private readonly writer: ChainWriter,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(DEPLOYMENT) deployment: Deployment,
    @Inject(EVENT_BUS) bus: EventBus,
    @Optional() @Inject(BUS_CONSUMER) consumer: BusConsumer | null,
    metrics: MetricsService,
    @Optional() private readonly checkpoints?: CheckpointService,
  ) {
    this.scaleOut = deployment.remoteServers ? new ScaleOutRunner(store, writer, bus, consumer ?? null, metrics, undefined, checkpoints) : null;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.scaleOut) return this.scaleOut.start();
    await this.writer.start();
    // Resumes every chain from its last checkpoint and seals what a crash left unsealed.
    await this.checkpoints?.start();
  }

  /** Runs before the HTTP server closes: every queued commit finishes, then the store closes. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.scaleOut) return this.scaleOut.stop();
    await this.writer.drain();
    await this.checkpoints?.stop(); // seal what the last commits added, before the store closes
    await this.store.close();
  }
}

// What /health/ready reports of the store and the bus (its own file: readiness.service.ts needs it too).
export { PipelineHealth } from './pipeline-health';

/** EVENT_MAX_FUTURE_SECONDS / EVENT_MAX_PAST_SECONDS (defaults 300 s and 10 years). */
export function clockPolicyOf(config: AppConfig): ClockPolicy {
  return { maxFutureSeconds: config.integrity?.eventMaxFutureSeconds ?? 300, maxPastSeconds: config.integrity?.eventMaxPastSeconds ?? 315_360_000 };
}

@Global()
@Module({
  providers: [
    MetricsService,
    {
      provide: ChainWriter,
      inject: [EVENT_STORE, APP_CONFIG, MetricsService],
      useFactory: (store: EventStore, config: AppConfig, metrics: MetricsService) =>
        new ChainWriter(store, { maxGroupEvents: config.groupCommitMaxEvents, windowMs: config.groupCommitWindowMs, windowMinEvents: config.groupCommitWindowMinEvents, stallMs: faultSettingsOf(config).writerStallMs, chainShards: config.integrity?.chainShards ?? 1 }, metrics),
    },
    // What followers of the store (streaming detection) see of the writer: the records of each durable commit.
    { provide: COMMIT_FEED, useExisting: ChainWriter },
    {
      provide: IngestService,
      inject: [EVENT_BUS, APP_CONFIG, MetricsService, EVENT_STORE, ClockQualityMonitor],
      useFactory: (bus: EventBus, config: AppConfig, metrics: MetricsService, store: EventStore, clock: ClockQualityMonitor) =>
        new IngestService(bus, config.maxBatchEvents, metrics, bus.acknowledges === 'queued' ? store : undefined, { clock }),
    },
    {
      provide: ClockQualityMonitor,
      inject: [APP_CONFIG, MetricsService],
      useFactory: (config: AppConfig, metrics: MetricsService) => new ClockQualityMonitor(clockPolicyOf(config), config.integrity?.clockAlertPeriodSeconds ?? 3600, metrics),
    },
    {
      provide: QueryService,
      inject: [EVENT_STORE, PatientIdentifiers, IntegrityMonitor, APP_CONFIG],
      useFactory: (store: EventStore, patients: PatientIdentifiers, monitor: IntegrityMonitor, config: AppConfig) =>
        new QueryService(store, patients, () => monitor.knownBreak(), clockPolicyOf(config)),
    },
    {
      provide: IntegrityService,
      inject: [EVENT_STORE, APP_CONFIG, CHAIN_READERS, { token: CHECKPOINT_STORE, optional: true }, { token: KEY_PROVIDER, optional: true }],
      useFactory: (store: EventStore, config: AppConfig, chains: ChainReaderSource, checkpoints?: CheckpointStore, keys?: KeyProvider) =>
        new IntegrityService(store, integrityOptionsFor(config, chains, checkpoints, keys)),
    },
    PipelineLifecycle,
    PipelineHealth,
    IntegrityMonitor,
    DurabilityMonitor,
    ReadinessService,
  ],
  exports: [MetricsService, ChainWriter, COMMIT_FEED, PipelineHealth, IngestService, QueryService, IntegrityService, IntegrityMonitor, DurabilityMonitor, ReadinessService, ClockQualityMonitor],
})
export class PipelineModule {}
