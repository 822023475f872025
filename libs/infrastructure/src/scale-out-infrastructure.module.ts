/**
 * The scale-out infrastructure (STORE=elasticsearch): every port bound to its adapter in the
 * Elasticsearch cluster, through the client of the one Elasticsearch event store (ES_EVENTS), so
 * that any instance can die and another continues. Global, so feature modules inject the ports by
 * token. Chosen in infrastructure.ts, the only place that reads STORE. The Elasticsearch client
 * loads lazily (about a second of start-up the embedded default does not pay).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { DynamicModule, Logger, Module, Provider } from '@nestjs/common';
import { CONSOLE_ACCOUNTS } from '@app/console/console-accounts.port';
import { SIGN_IN_FAILURES } from '@app/console/sign-in-failures.port';
import { CONTEXT_STORE } from '@app/context/context-store.port';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment, contextSettingsOf, detectionSettingsOf } from '@app/core';
import { ALERT_STORE, AlertStore, RULE_OVERRIDE_STORE, SHARED_ALERT_INDEX, SharedAlertIndex } from '@app/detection';
import { DELIVERY_OUTBOX, DeliveryOutboxOpener } from '@app/detection/delivery/delivery-outbox.port';
import { ALERT_OUTBOX, AlertImporter, AlertOutbox, DEFAULT_LEASE_MS, DETECTION_STATE, DetectionState, alertIndexing, legacySnapshot } from '@app/detection/service';
import { elasticsearchCheckpointStore, elasticsearchEventStore } from '@app/pipeline';
import { LEGAL_HOLD_STORE, LegalHoldStore } from '@app/retention/legal-hold-store.port';
import { ES_RETENTION_RUNNER, ES_RETENTION_RUN_RECORDS, HoldReconcileRunner, LEGAL_HOLD_ENFORCEMENT, logHoldReconcile } from '@app/retention/retention-enforcement.port';
import { loadRetentionPolicy } from '@app/retention/retention-policy-file';
import { retentionCutoffs } from '@app/retention/retention-policy';
import { holdPatientProtection } from '@app/retention/sqlite-legal-hold-store';
import { PolledRevocations } from '@app/security/credential-revocations';
import { REVOCATIONS, Revocations } from '@app/security/revocations.port';
import { embeddedFieldProtection, embeddedTextSealer } from '@app/security';
import { CHAIN_READERS, CHECKPOINT_STORE, CheckpointStore, EVENT_STORE, RevocationStore, SQLITE_DB, SqliteDb, databasePath, eventStoreChainReaders, openDatabase } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/scale-out-adapters';
import { INFRASTRUCTURE_EXPORTS, InfrastructureUnreachableError, OpenedInfrastructure } from './infrastructure-ports';

/** The Elasticsearch event store, typed: the other adapters of this module share its client and index layout. */
const ES_EVENTS = Symbol('ES_EVENTS');

/** The data dir's database an earlier version left (its leftover alerts and snapshot are shipped), or null: a new data dir never gets one. */
const LEGACY_DATABASE = Symbol('LEGACY_DATABASE');

/** Names the instance in claims and leases (operators: who holds what); no PHI. */
const instanceName = () => `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

/**
 * Detection and delivery in the cluster: alerts in their own index, the progress and snapshot with
 * the lease that picks the one instance evaluating, the trail of rule overrides, the outbox every
 * instance's dispatcher shares (an instance may die, another delivers what it left).
 */
function detectionProviders(): Provider[] {
  return [
    {
      provide: ALERT_STORE,
      inject: [ES_EVENTS, APP_CONFIG],
      useFactory: async (es: ElasticsearchEventStore, config: AppConfig): Promise<AlertStore> => {
        const { elasticsearchAlertStoreFor } = await import('@app/detection/service/es-alert-store');
        return elasticsearchAlertStoreFor(es, embeddedTextSealer(config), alertIndexing(config));
      },
    },
    { provide: SHARED_ALERT_INDEX, inject: [ES_EVENTS], useFactory: (es: ElasticsearchEventStore): SharedAlertIndex => ({ client: es.client, index: es.options.alertsIndex }) },
    {
      provide: DETECTION_STATE,
      inject: [ES_EVENTS, ALERT_STORE, LEGACY_DATABASE, APP_CONFIG],
      useFactory: async (es: ElasticsearchEventStore, alerts: AlertStore, legacy: SqliteDb | null, config: AppConfig): Promise<DetectionState> => {
        const { elasticsearchDetectionStateFor } = await import('@app/detection/service/es-detection-state');
        const sealer = embeddedTextSealer(config);
        // The first holder of the cluster resumes from the snapshot a version before kept in this instance's database, if any.
        return elasticsearchDetectionStateFor(es, alerts, sealer, detectionSettingsOf(config).leaseMs ?? DEFAULT_LEASE_MS, () => (legacy ? legacySnapshot(legacy, sealer) : null));
      },
    },
    {
      // Alerts a previous version stored in this instance's database are still shipped (nothing new goes there).
      provide: ALERT_OUTBOX,
      inject: [LEGACY_DATABASE, ALERT_STORE, APP_CONFIG],
      useFactory: (db: SqliteDb | null, alerts: AlertStore & AlertImporter, config: AppConfig): AlertOutbox | null => {
        if (!db) return null;
        const logger = new Logger('Detection');
        return new AlertOutbox(db, alerts, embeddedTextSealer(config), {
          onError: (err) => logger.warn(`shipping alerts to Elasticsearch failed (${(err as Error)?.constructor?.name ?? 'error'}); retrying`),
        });
      },
    },
    {
      // The trail of changes in the cluster, read by every instance every second.
      provide: RULE_OVERRIDE_STORE,
      inject: [ES_EVENTS],
      useFactory: async (es: ElasticsearchEventStore) => {
        const { elasticsearchRuleOverrideStoreFor } = await import('@app/detection/service/es-rule-overrides');
        const logger = new Logger('RuleOverrides');
        let failing = false;
        const store = elasticsearchRuleOverrideStoreFor(es, {
          onSyncError: (err) => {
            if (!failing) logger.warn(`rule overrides could not be read from Elasticsearch (${(err as Error)?.constructor?.name ?? 'error'}); retrying every second`);
            failing = true;
          },
          onSynced: () => {
            if (failing) logger.log('rule overrides read from Elasticsearch again');
            failing = false;
          },
        });
        store.start(() => es.isReady());
        return store;
      },
    },
    {
      provide: DELIVERY_OUTBOX,
      inject: [ES_EVENTS],
      useFactory: async (es: ElasticsearchEventStore): Promise<DeliveryOutboxOpener> => {
        const { elasticsearchDeliveryOutboxFor } = await import('@app/detection/delivery/es-delivery-outbox');
        return (claimMs) => elasticsearchDeliveryOutboxFor(es, instanceName(), claimMs);
      },
    },
  ];
}

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
          // The database an earlier version left in the data dir, opened only if it exists, to ship its leftover alerts and snapshot.
          provide: LEGACY_DATABASE,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig): SqliteDb | null => (fs.existsSync(databasePath(config.dataDir)) ? openDatabase(config.dataDir) : null),
        },
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
        ...detectionProviders(),
        {
          provide: CONTEXT_STORE,
          inject: [ES_EVENTS, APP_CONFIG],
          useFactory: async (es: ElasticsearchEventStore, config: AppConfig) => {
            const { elasticsearchContextStoreFor } = await import('@app/context/es-context-store');
            return elasticsearchContextStoreFor(es, embeddedTextSealer(config), contextSettingsOf(config).syncLookbackMs);
          },
        },
        {
          // Accounts and sessions in the cluster, so any instance serves any signed-in person.
          provide: CONSOLE_ACCOUNTS,
          inject: [ES_EVENTS],
          useFactory: async (es: ElasticsearchEventStore) => (await import('@app/console/es-console-store')).elasticsearchConsoleStoreFor(es),
        },
        {
          // The cluster is the store of record of revocations (no local copy), read by every instance every REVOCATION_SYNC_MS.
          provide: REVOCATIONS,
          inject: [APP_CONFIG],
          useFactory: async (config: AppConfig): Promise<Revocations> => {
            const { store } = await openScaleOutRevocations(config);
            const polled = new PolledRevocations(store);
            return { store, source: polled, polled };
          },
        },
        {
          // Legal holds in the cluster, seen by every instance.
          provide: LEGAL_HOLD_STORE,
          inject: [ES_EVENTS, APP_CONFIG],
          useFactory: async (es: ElasticsearchEventStore, config: AppConfig) => {
            const { EsLegalHoldStore } = await import('@app/retention/es-legal-hold-store');
            return new EsLegalHoldStore(es.client, { index: es.layout.legalHoldsIndex, patientIds: holdPatientProtection(embeddedFieldProtection(config)) });
          },
        },
        {
          // Keeps held backing indices on the ILM hold policy (before placements and releases are answered, and on the schedule).
          provide: LEGAL_HOLD_ENFORCEMENT,
          inject: [ES_EVENTS, LEGAL_HOLD_STORE, APP_CONFIG],
          useFactory: async (es: ElasticsearchEventStore, store: LegalHoldStore, config: AppConfig): Promise<HoldReconcileRunner> => {
            const { EsLegalHoldReconciler } = await import('@app/storage/scale-out-adapters');
            const protection = embeddedFieldProtection(config);
            const reconciler = new EsLegalHoldReconciler(es.client, es.layout, () => store.list('active'), { patientToken: (id) => protection.patientToken(id) });
            return {
              reconcile: () => reconciler.reconcile(),
              applyHolds: async () => logHoldReconcile(await reconciler.reconcile()),
            };
          },
        },
        {
          // Deletes expired backing indices after recording their chains' purged prefixes (windows from RETENTION_CONFIG), unless held.
          provide: ES_RETENTION_RUNNER,
          inject: [ES_EVENTS, LEGAL_HOLD_STORE, CHECKPOINT_STORE, APP_CONFIG],
          useFactory: async (es: ElasticsearchEventStore, holds: LegalHoldStore, checkpoints: CheckpointStore, config: AppConfig) => {
            const { EsRetentionRunner } = await import('@app/storage/scale-out-adapters');
            const { policy } = loadRetentionPolicy(config.compliance?.retentionConfigFile);
            const protection = embeddedFieldProtection(config);
            const logger = new Logger('Retention');
            return new EsRetentionRunner(es.client, es.layout, checkpoints, (category, now) => retentionCutoffs(policy, category, now).deleteIfReceivedBefore, {
              activeHolds: () => holds.list('active'),
              patientToken: (id) => protection.patientToken(id),
              log: (level, msg, fields) => logger[level === 'info' ? 'log' : level](JSON.stringify({ msg, ...fields })),
            });
          },
        },
        {
          provide: ES_RETENTION_RUN_RECORDS,
          inject: [ES_EVENTS],
          useFactory: async (es: ElasticsearchEventStore) => {
            const { EsRetentionRunRecords } = await import('@app/retention/es-retention-run-records');
            return new EsRetentionRunRecords(es.client, es.layout.retentionRunsIndex);
          },
        },
        {
          // Failed sign-ins counted in the cluster, so N instances do not give N times the attempts.
          provide: SIGN_IN_FAILURES,
          inject: [ES_EVENTS],
          useFactory: async (es: ElasticsearchEventStore) => (await import('@app/console/es-sign-in-failures')).elasticsearchSignInFailuresFor(es),
        },
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
  return {
    kind: 'elasticsearch',
    events,
    checkpoints: await elasticsearchCheckpointStore(events),
    chainReaders: eventStoreChainReaders(events),
    db: null,
    alerts: async () => (await import('@app/detection/service/es-alert-store')).elasticsearchAlertStoreFor(events, embeddedTextSealer(config), alertIndexing(config)),
    consoleAccounts: async () => (await import('@app/console/es-console-store')).elasticsearchConsoleStoreFor(events),
    close: () => events.close(),
  };
}

/** The cluster's revocation indices, the store of record every instance reads (no local file opened). */
export async function openScaleOutRevocations(config: AppConfig): Promise<{ store: RevocationStore; close: () => Promise<void> }> {
  const es = config.scaleOut?.elasticsearch;
  if (!es) throw new Error('ELASTICSEARCH_URL: required when STORE=elasticsearch');
  const { createElasticsearchClient, ElasticsearchRevocationStore, revocationIndices } = await import('@app/storage/scale-out-adapters');
  const client = createElasticsearchClient(es);
  return { store: new ElasticsearchRevocationStore(client, revocationIndices(es.indexPrefix)), close: () => client.close() };
}
