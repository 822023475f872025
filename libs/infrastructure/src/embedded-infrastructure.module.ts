/**
 * The embedded infrastructure (STORE=sqlite, the default): every port bound to its adapter on the
 * data dir's SQLite database. Global, so feature modules inject the ports by token and never ask
 * which engine is behind them. Chosen in infrastructure.ts, the only place that reads STORE.
 */
import { DynamicModule, Module, Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment } from '@app/core';
import { MetricsService } from '@app/pipeline';
import { embeddedFieldProtection, embeddedFieldProtectionSource } from '@app/security';
import {
  CHAIN_READERS,
  CHECKPOINT_STORE,
  EVENT_STORE,
  SQLITE_DB,
  SqliteAppendThread,
  SqliteCheckpointStore,
  SqliteDb,
  SqliteWalCheckpointer,
  TieredSqliteEventStore,
  openDatabase,
} from '@app/storage';
import { embeddedChainReaders } from './embedded-chain-readers';
import { INFRASTRUCTURE_EXPORTS, OpenedInfrastructure } from './infrastructure-ports';

/** WAL_CHECKPOINT_INTERVAL_MS > 0: a background thread checkpoints the WAL; committing connections leave it to that thread. */
export function walCheckpointsInBackground(config: AppConfig): boolean {
  return (config.walCheckpointIntervalMs ?? 0) > 0;
}

/**
 * The embedded store; with WRITER_THREAD its appends commit on a worker thread (sqlite-append-thread.ts),
 * with WAL_CHECKPOINT_INTERVAL_MS another thread checkpoints the WAL (sqlite-wal-checkpointer.ts).
 */
function embeddedEventStore(config: AppConfig, db: SqliteDb, metrics: MetricsService): TieredSqliteEventStore {
  const store = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
  if (db.name === ':memory:') return store;
  if (walCheckpointsInBackground(config)) {
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
      protection: embeddedFieldProtectionSource(config),
      backgroundCheckpoints: walCheckpointsInBackground(config),
    });
    void thread.start().catch(() => undefined); // a failed start is retried by the first append (503 until then)
    store.useAppendThread(thread);
  }
  return store;
}

@Module({})
export class EmbeddedInfrastructureModule {
  /** `bus`: the event bus and consumer providers (event-bus.providers.ts). */
  static forRoot(deployment: Deployment, bus: Provider[]): DynamicModule {
    return {
      module: EmbeddedInfrastructureModule,
      global: true,
      providers: [
        { provide: DEPLOYMENT, useValue: deployment },
        {
          provide: SQLITE_DB,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig): SqliteDb => openDatabase(config.dataDir, { backgroundCheckpoints: walCheckpointsInBackground(config) }),
        },
        {
          provide: EVENT_STORE,
          inject: [APP_CONFIG, SQLITE_DB, MetricsService],
          useFactory: (config: AppConfig, db: SqliteDb, metrics: MetricsService) => embeddedEventStore(config, db, metrics),
        },
        // Signed checkpoints in the same file as the events.
        { provide: CHECKPOINT_STORE, inject: [SQLITE_DB], useFactory: (db: SqliteDb) => new SqliteCheckpointStore(db) },
        // Verification reads the data dir over connections of its own (in worker threads too).
        { provide: CHAIN_READERS, inject: [APP_CONFIG], useFactory: (config: AppConfig) => embeddedChainReaders(config) },
        ...bus,
      ],
      exports: INFRASTRUCTURE_EXPORTS,
    };
  }
}

/** The CLI's view of the embedded infrastructure: the data dir's database, read with the service's keys (sealed fields opened on read). */
export function openEmbeddedInfrastructure(config: AppConfig): OpenedInfrastructure {
  const db = openDatabase(config.dataDir);
  const events = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
  return { kind: 'sqlite', events, checkpoints: new SqliteCheckpointStore(db), chainReaders: embeddedChainReaders(config), db, close: () => events.close() };
}
