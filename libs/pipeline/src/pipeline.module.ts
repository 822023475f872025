/**
 * Wires the pipeline: event store (SQLite, or Elasticsearch with STORE=elasticsearch), chain
 * writer, event bus (in-process, or Kafka with BUS=kafka, plus the chain-writer consumer),
 * ingest/query/verify services, and their lifecycle. Embedded default: the writer starts before
 * the server listens and drains on shutdown so every in-flight commit finishes. Scale-out: the
 * adapters connect in the background (readiness false until they are up; see scale-out.ts).
 */
import { BeforeApplicationShutdown, Global, Inject, Injectable, Module, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig, backgroundWalCheckpoints, faultSettingsOf } from '@app/core';
import { PatientIdentifiers, embeddedFieldProtection } from '@app/security';
import { BUS_CONSUMER, BusConsumer, EVENT_BUS, EVENT_STORE, EventBus, EventStore, SQLITE_DB, SqliteAppendThread, SqliteDb, SqliteWalCheckpointer, TieredSqliteEventStore, openDatabase } from '@app/storage';
import { KEY_PROVIDER, KeyProvider } from '@app/security/key-provider.port';
import { CHECKPOINT_STORE, CheckpointStore } from '@app/storage';
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
import { ScaleOutRunner, createBusConsumer, createEventBus, createEventStore, isScaleOut } from './scale-out';

@Injectable()
export class PipelineLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly scaleOut: ScaleOutRunner | null;

  constructor(
    private readonly writer: ChainWriter,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(EVENT_BUS) bus: EventBus,
    @Optional() @Inject(BUS_CONSUMER) consumer: BusConsumer | null,
    metrics: MetricsService,
    @Optional() private readonly checkpoints?: CheckpointService,
  ) {
    this.scaleOut = isScaleOut(config) ? new ScaleOutRunner(store, writer, bus, consumer ?? null, metrics, undefined, checkpoints) : null;
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

/**
 * The embedded store; with WRITER_THREAD its appends commit on a worker thread (sqlite-append-thread.ts),
 * with WAL_CHECKPOINT_INTERVAL_MS another thread checkpoints the WAL (sqlite-wal-checkpointer.ts).
 */
function embeddedEventStore(config: AppConfig, db: SqliteDb, metrics: MetricsService): TieredSqliteEventStore {
  const store = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
  if (db.name === ':memory:') return store;
  if (backgroundWalCheckpoints(config)) {
    store.useWalCheckpointer(
      new SqliteWalCheckpointer(
        { dataDir: config.dataDir, intervalMs: config.walCheckpointIntervalMs! },
        {
          checkpoint: (r) => {
            metrics.walCheckpointDuration.observe(r.seconds);
            metrics.walPendingFrames.set(r.walFrames - r.checkpointedFrames);
          },
          error: () => metrics.walCheckpointFailures.inc(),
        },
      ),
    );
  }
  if (config.writerThread) {
    const thread = new SqliteAppendThread({
      dataDir: config.dataDir,
      dataKeysDir: config.dataKeysDir,
      tokenizationKeyFile: config.tokenizationKeyFile,
      backgroundCheckpoints: backgroundWalCheckpoints(config),
    });
    void thread.start().catch(() => undefined); // a failed start is retried by the first append (503 until then)
    store.useAppendThread(thread);
  }
  return store;
}

/** EVENT_MAX_FUTURE_SECONDS / EVENT_MAX_PAST_SECONDS (defaults 300 s and 10 years). */
export function clockPolicyOf(config: AppConfig): ClockPolicy {
  return { maxFutureSeconds: config.integrity?.eventMaxFutureSeconds ?? 300, maxPastSeconds: config.integrity?.eventMaxPastSeconds ?? 315_360_000 };
}

@Global()
@Module({
  providers: [
    MetricsService,
    {
      provide: SQLITE_DB,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): SqliteDb => openDatabase(config.dataDir, { backgroundCheckpoints: backgroundWalCheckpoints(config) }),
    },
    {
      provide: EVENT_STORE,
      inject: [APP_CONFIG, SQLITE_DB, MetricsService],
      useFactory: (config: AppConfig, db: SqliteDb, metrics: MetricsService): Promise<EventStore> =>
        createEventStore(config, () => embeddedEventStore(config, db, metrics), () => embeddedFieldProtection(config)),
    },
    {
      provide: ChainWriter,
      inject: [EVENT_STORE, APP_CONFIG, MetricsService],
      useFactory: (store: EventStore, config: AppConfig, metrics: MetricsService) =>
        new ChainWriter(store, { maxGroupEvents: config.groupCommitMaxEvents, stallMs: faultSettingsOf(config).writerStallMs, chainShards: config.integrity?.chainShards ?? 1 }, metrics),
    },
    { provide: EVENT_BUS, inject: [APP_CONFIG, ChainWriter], useFactory: (config: AppConfig, writer: ChainWriter): Promise<EventBus> => createEventBus(config, writer, () => embeddedFieldProtection(config)) },
    { provide: BUS_CONSUMER, inject: [APP_CONFIG], useFactory: (config: AppConfig): Promise<BusConsumer | null> => createBusConsumer(config, () => embeddedFieldProtection(config)) },
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
      inject: [EVENT_STORE, APP_CONFIG, { token: CHECKPOINT_STORE, optional: true }, { token: KEY_PROVIDER, optional: true }],
      useFactory: (store: EventStore, config: AppConfig, checkpoints?: CheckpointStore, keys?: KeyProvider) =>
        new IntegrityService(store, integrityOptionsFor(config, store, checkpoints, keys)),
    },
    PipelineLifecycle,
    PipelineHealth,
    IntegrityMonitor,
    DurabilityMonitor,
    ReadinessService,
  ],
  exports: [MetricsService, SQLITE_DB, EVENT_STORE, EVENT_BUS, ChainWriter, PipelineHealth, IngestService, QueryService, IntegrityService, IntegrityMonitor, DurabilityMonitor, ReadinessService, ClockQualityMonitor],
})
export class PipelineModule {}
