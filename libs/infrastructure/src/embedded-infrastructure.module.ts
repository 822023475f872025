/**
 * The embedded infrastructure (STORE=sqlite, the default): every port bound to its adapter on the
 * data dir's SQLite database. Global, so feature modules inject the ports by token and never ask
 * which engine is behind them. Chosen in infrastructure.ts, the only place that reads STORE.
 */
import { DynamicModule, Module, Provider } from '@nestjs/common';
import { CONSOLE_ACCOUNTS } from '@app/console/console-accounts.port';
import { ConsoleStore } from '@app/console/console-store';
import { MemorySignInFailures } from '@app/console/memory-sign-in-failures';
import { SIGN_IN_FAILURES } from '@app/console/sign-in-failures.port';
import { CONTEXT_STORE } from '@app/context/context-store.port';
import { SqliteContextStore } from '@app/context/sqlite-context-store';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment } from '@app/core';
import { ALERT_STORE, RULE_OVERRIDE_STORE, SHARED_ALERT_INDEX } from '@app/detection';
import { DeliveryOutbox } from '@app/detection/delivery/delivery-outbox';
import { DELIVERY_OUTBOX, DeliveryOutboxOpener } from '@app/detection/delivery/delivery-outbox.port';
import {
  ALERT_OUTBOX,
  DETECTION_STATE,
  DetectionState,
  SqliteAlertStore,
  SqliteDetectionProgressStore,
  SqliteRuleOverrideStore,
  alertIndexing,
} from '@app/detection/service';
import { SnapshotWriterThread } from '@app/detection/service/snapshot-writer-thread';
import { MetricsService } from '@app/pipeline';
import { LEGAL_HOLD_STORE } from '@app/retention/legal-hold-store.port';
import { ES_RETENTION_RUNNER, ES_RETENTION_RUN_RECORDS, LEGAL_HOLD_ENFORCEMENT } from '@app/retention/retention-enforcement.port';
import { SqliteLegalHoldStore, holdPatientProtection } from '@app/retention/sqlite-legal-hold-store';
import { REVOCATIONS, Revocations } from '@app/security/revocations.port';
import { embeddedFieldProtection, embeddedFieldProtectionSource, embeddedTextSealer } from '@app/security';
import {
  CHAIN_READERS,
  CHECKPOINT_STORE,
  EVENT_STORE,
  SQLITE_DB,
  SqliteAppendThread,
  SqliteCheckpointStore,
  RevocationStore,
  SqliteDb,
  SqliteRevocationStore,
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
  const store = new TieredSqliteEventStore(db, embeddedFieldProtection(config), { maxPartitionRows: config.hotPartitionMaxRows });
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
      maxPartitionRows: config.hotPartitionMaxRows,
    });
    void thread.start().catch(() => undefined); // a failed start is retried by the first append (503 until then)
    store.useAppendThread(thread);
  }
  return store;
}

/** Snapshots are sealed and written on a thread of their own, except for an in-memory database (tests). */
function snapshotWriterFor(config: AppConfig, db: SqliteDb): SnapshotWriterThread | undefined {
  if (db.name === ':memory:' || !SnapshotWriterThread.available()) return undefined;
  return new SnapshotWriterThread({ dataDir: config.dataDir, dataKeysDir: config.dataKeysDir, backgroundCheckpoints: walCheckpointsInBackground(config) });
}

/** Detection and delivery: alerts, progress, rule overrides and the delivery outbox in the data dir's database. */
function detectionProviders(): Provider[] {
  return [
    // Alert records and the engine snapshot name patients and IPs: sealed at rest with the data keys.
    // The patients an alert names are indexed as their keyed-HMAC tokens (the actor / patient / case filters).
    { provide: SqliteAlertStore, inject: [SQLITE_DB, APP_CONFIG], useFactory: (db: SqliteDb, config: AppConfig) => new SqliteAlertStore(db, embeddedTextSealer(config), alertIndexing(config)) },
    { provide: ALERT_STORE, useExisting: SqliteAlertStore },
    { provide: SHARED_ALERT_INDEX, useValue: null },
    {
      // Alerts and the engine snapshot in one transaction; this instance alone evaluates (no lease).
      provide: DETECTION_STATE,
      inject: [SQLITE_DB, SqliteAlertStore, APP_CONFIG],
      useFactory: (db: SqliteDb, alerts: SqliteAlertStore, config: AppConfig): DetectionState => ({
        progress: new SqliteDetectionProgressStore(db, alerts, 'engine', embeddedTextSealer(config), snapshotWriterFor(config, db)),
        lease: null,
      }),
    },
    { provide: ALERT_OUTBOX, useValue: null },
    { provide: RULE_OVERRIDE_STORE, inject: [SQLITE_DB], useFactory: (db: SqliteDb) => new SqliteRuleOverrideStore(db) },
    // SqliteAlertStore first: the outbox trigger needs the alerts table. It stays even with no destination: every stored alert still gets its "alert raised" line.
    { provide: DELIVERY_OUTBOX, inject: [SQLITE_DB, SqliteAlertStore], useFactory: (db: SqliteDb): DeliveryOutboxOpener => () => new DeliveryOutbox(db, true) },
  ];
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
        ...detectionProviders(),
        { provide: CONTEXT_STORE, inject: [SQLITE_DB, APP_CONFIG], useFactory: (db: SqliteDb, config: AppConfig) => new SqliteContextStore(db, embeddedTextSealer(config)) },
        { provide: CONSOLE_ACCOUNTS, inject: [SQLITE_DB], useFactory: (db: SqliteDb) => new ConsoleStore(db) },
        {
          // Legal holds beside the events they hold; patients by their tokens, their ids sealed.
          provide: LEGAL_HOLD_STORE,
          inject: [SQLITE_DB, APP_CONFIG],
          useFactory: (db: SqliteDb, config: AppConfig) => {
            const protection = embeddedFieldProtection(config);
            return new SqliteLegalHoldStore(db, { eventsInThisDatabase: true, patientIndexValue: (id) => protection.patientToken(id), patientIds: holdPatientProtection(protection) });
          },
        },
        // Retention runs delete from this database themselves (the run service): no cluster to enforce.
        { provide: LEGAL_HOLD_ENFORCEMENT, useValue: null },
        { provide: ES_RETENTION_RUNNER, useValue: null },
        { provide: ES_RETENTION_RUN_RECORDS, useValue: null },
        {
          // Revocations in the data dir's database, which the RevocationList polls.
          provide: REVOCATIONS,
          inject: [SQLITE_DB],
          useFactory: (db: SqliteDb): Revocations => {
            const store = new SqliteRevocationStore(db);
            return { store, source: store, polled: null };
          },
        },
        // One instance: failed sign-ins counted in memory.
        { provide: SIGN_IN_FAILURES, useFactory: () => new MemorySignInFailures() },
      ],
      exports: INFRASTRUCTURE_EXPORTS,
    };
  }
}

/** The CLI's view of the embedded infrastructure: the data dir's database, read with the service's keys (sealed fields opened on read). */
export function openEmbeddedInfrastructure(config: AppConfig): OpenedInfrastructure {
  const db = openDatabase(config.dataDir);
  const events = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
  return {
    kind: 'sqlite',
    events,
    checkpoints: new SqliteCheckpointStore(db),
    chainReaders: embeddedChainReaders(config),
    db,
    alerts: async () => new SqliteAlertStore(db, embeddedTextSealer(config), alertIndexing(config)),
    consoleAccounts: async () => new ConsoleStore(db),
    close: () => events.close(),
  };
}

/** The data dir's revocation table (the service polls it). */
export async function openEmbeddedRevocations(config: AppConfig): Promise<{ store: RevocationStore; close: () => Promise<void> }> {
  const db = openDatabase(config.dataDir);
  return { store: new SqliteRevocationStore(db), close: async () => void db.close() };
}
