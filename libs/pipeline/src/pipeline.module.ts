/**
 * Wires the embedded pipeline: SQLite store, chain writer, ingest/query/verify services, and
 * their lifecycle (the writer starts before the server listens and drains on shutdown so every
 * in-flight commit finishes).
 */
import { BeforeApplicationShutdown, Global, Inject, Injectable, Module, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/core';
import { EVENT_STORE, EventStore, SQLITE_DB, SqliteDb, SqliteEventStore, openDatabase } from '@app/storage';
import { ChainWriter } from './chain-writer';
import { IngestService } from './ingest.service';
import { IntegrityService } from './integrity.service';
import { MetricsService } from './metrics.service';
import { QueryService } from './query.service';

@Injectable()
export class PipelineLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly writer: ChainWriter,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.writer.start();
  }

  /** Runs before the HTTP server closes: every queued commit finishes, then the store closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.writer.drain();
    await this.store.close();
  }
}

@Global()
@Module({
  providers: [
    MetricsService,
    { provide: SQLITE_DB, inject: [APP_CONFIG], useFactory: (config: AppConfig): SqliteDb => openDatabase(config.dataDir) },
    { provide: EVENT_STORE, inject: [SQLITE_DB], useFactory: (db: SqliteDb): EventStore => new SqliteEventStore(db) },
    {
      provide: ChainWriter,
      inject: [EVENT_STORE, APP_CONFIG, MetricsService],
      useFactory: (store: EventStore, config: AppConfig, metrics: MetricsService) =>
        new ChainWriter(store, { maxGroupEvents: config.groupCommitMaxEvents }, metrics),
    },
    {
      provide: IngestService,
      inject: [ChainWriter, APP_CONFIG, MetricsService],
      useFactory: (writer: ChainWriter, config: AppConfig, metrics: MetricsService) => new IngestService(writer, config.maxBatchEvents, metrics),
    },
    { provide: QueryService, inject: [EVENT_STORE], useFactory: (store: EventStore) => new QueryService(store) },
    { provide: IntegrityService, inject: [EVENT_STORE], useFactory: (store: EventStore) => new IntegrityService(store) },
    PipelineLifecycle,
  ],
  exports: [MetricsService, SQLITE_DB, EVENT_STORE, ChainWriter, IngestService, QueryService, IntegrityService],
})
export class PipelineModule {}
