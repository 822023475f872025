/**
 * Nest wiring of detection: loads the rules and runbooks at start-up (a bad rule file stops the
 * service, naming the file, the field and why), the SQLite AlertStore on the service's database,
 * the streaming DetectionWorker woken by the chain writer after each durable commit, its
 * metrics, and the AlertsService the HTTP controllers use. The worker runs only when
 * DETECTION_ENABLED and the event store can be tailed by position; the alert and rule endpoints
 * work either way. With STORE=elasticsearch nothing of detection stays in the instance: the event
 * store is tailed by commit position, alerts live in the cluster (es-alert-store.ts), the engine
 * snapshot and the lease that picks the one instance evaluating too (es-detection-state.ts,
 * detection-leadership.ts), so when that instance dies another resumes from the snapshot.
 * Alerts an earlier version left in the instance's embedded database are still shipped (alert-outbox.ts).
 */
import { BeforeApplicationShutdown, Inject, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { ACCESS_CONTEXT, ACCESS_LOG_CHAIN, AccessContext, APP_CONFIG, AppConfig, backgroundWalCheckpoints, detectionSettingsOf, EMPTY_ACCESS_CONTEXT } from '@app/core';
import { MetricsService } from '@app/pipeline';
import { embeddedTextSealer, patientTokenizerFor } from '@app/security';
import * as fs from 'node:fs';
import { COMMIT_FEED, CommitFeed, EVENT_STORE, EventStore, RecordSealer, SQLITE_DB, SqliteDb, databasePath, openDatabase } from '@app/storage';
import { ALERT_STORE, AlertIndexing, AlertStore } from '../alert-store.port';
import { AlertOutbox, AlertImporter } from './alert-outbox';
import { AlertEvidenceService } from './alert-evidence.service';
import { AlertsService } from './alerts.service';
import { CasesService } from './cases.service';
import { DetectionMetrics } from './detection-metrics';
import { DETECTION_RUNTIME, DetectionRuntime, loadDetectionRuntime } from './detection-runtime';
import type { CommittedEventSource } from './committed-event-source.port';
import type { DetectionProgressStore } from './detection-progress-store.port';
import { DetectionLog, DetectionWorker } from './detection-worker';
import { SqliteAlertStore } from './sqlite-alert-store';
import { SnapshotWriterThread } from './snapshot-writer-thread';
import { SqliteDetectionProgressStore } from './sqlite-detection-state';
import type { DetectionSnapshot } from '../detection-engine';
import { ClaimableProgress, DetectionLeadership, LeaseLike } from './detection-leadership';

/** DETECTION_LEASE_MS's default, for configs built by hand. */
const DEFAULT_LEASE_MS = 15_000;
import { withRuleOverrides } from '../rule-overrides';
import { RULE_OVERRIDE_STORE, RuleOverrideStore } from '../rule-override-store.port';
import { SqliteRuleOverrideStore } from './sqlite-rule-overrides';
import { RuleOverridesService } from './rule-overrides.service';
import { ServiceAlertsService } from './service-alerts.service';

export const DETECTION_WORKER = Symbol('DETECTION_WORKER');
/** STORE=elasticsearch: the lease that picks the one instance running detection (detection-leadership.ts); else null. */
export const DETECTION_LEADERSHIP = Symbol('DETECTION_LEADERSHIP');
/** STORE=elasticsearch: the detection progress store and lease in the cluster (es-detection-state.ts); else null. */
const SHARED_DETECTION_STATE = Symbol('SHARED_DETECTION_STATE');

interface SharedDetectionState {
  progress: DetectionProgressStore & ClaimableProgress & { onFenced?: () => void };
  lease: LeaseLike;
}
/** STORE=elasticsearch: ships the alerts the worker stores locally to the shared alert index (alert-outbox.ts); else null. */
export const ALERT_OUTBOX = Symbol('ALERT_OUTBOX');
/** STORE=elasticsearch: the data dir's database an earlier version left (its leftover alerts and snapshot are shipped), or null. */
const LEGACY_DATABASE = Symbol('LEGACY_DATABASE');

function tailable(store: EventStore): CommittedEventSource {
  return {
    readSince: (after, limit) => store.readSince(after, limit),
    lastPosition: () => store.lastPosition(),
    readIdsSince: (after, limit) => store.readIdsSince(after, limit),
  };
}

/** Facts only; Nest's logger goes to the service's JSON logger. */
function detectionLog(logger: Logger): DetectionLog {
  const text = (msg: string, fields?: Record<string, unknown>) =>
    fields ? `${msg} (${Object.entries(fields).map(([k, v]) => `${k}=${String(v)}`).join(', ')})` : msg;
  return { info: (msg, fields) => logger.log(text(msg, fields)), warn: (msg, fields) => logger.warn(text(msg, fields)) };
}

@Injectable()
export class DetectionLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Detection');

  constructor(
    @Inject(DETECTION_WORKER) private readonly worker: DetectionWorker | null,
    @Inject(DETECTION_RUNTIME) private readonly runtime: DetectionRuntime,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(COMMIT_FEED) private readonly commits: CommitFeed,
    @Inject(ALERT_OUTBOX) private readonly outbox: AlertOutbox | null,
    @Inject(DETECTION_LEADERSHIP) private readonly leadership: DetectionLeadership | null,
    @Inject(RULE_OVERRIDE_STORE) private readonly overrides: RuleOverrideStore & { stop?: () => void },
  ) {}

  onApplicationBootstrap(): void {
    const enabled = this.runtime.rules.filter((r) => r.enabled !== false).length;
    if (!this.worker) {
      this.logger.log(`streaming detection off (DETECTION_ENABLED=false); ${enabled} rules loaded`);
      return;
    }
    this.commits.onCommit((records) => {
      // The access log is not evaluated (the store's readSince skips it): keep only what will be read.
      this.worker?.remember(records.filter((r) => r.chain !== ACCESS_LOG_CHAIN));
      this.worker?.wake();
    });
    this.outbox?.start();
    if (this.leadership) {
      // STORE=elasticsearch: the instance holding the lease evaluates; the others take over when it dies.
      void this.leadership.start();
      this.logger.log(`streaming detection on the lease of the cluster (${enabled} rules, time zone ${this.runtime.settings.timeZone}): the holder evaluates, the others stand by`);
      return;
    }
    const report = this.worker.start();
    const resumed = report ? `resuming from a snapshot; rules reset since it: ${report.reset.length ? report.reset.join(' ') : 'none'}` : 'starting from the first event';
    this.logger.log(`streaming detection on: ${enabled} rules, time zone ${this.runtime.settings.timeZone}, ${resumed}`);
  }

  /** Runs before the pipeline drains and closes the store (it is a global module, shut down last). */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.leadership) await this.leadership.stop();
    else await this.worker?.stop();
    this.overrides.stop?.();
    await this.outbox?.stop();
  }
}

/** How alert stores index patients: the service's tokenization key (the same tokens events use). */
export function alertIndexing(config: AppConfig): AlertIndexing {
  const tokenizer = patientTokenizerFor(config);
  return { patientToken: (id) => tokenizer.token(id) };
}

/**
 * The engine snapshot a version before the shared one kept in this instance's database (it tailed
 * the same cluster, so its position is a commit position of the same store); null when none.
 */
function legacySnapshot(db: SqliteDb, sealer: RecordSealer): DetectionSnapshot | null {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'detection_state'").get()) return null;
  const row = db.prepare("SELECT snapshot FROM detection_state WHERE name = 'engine'").get() as { snapshot: string | Buffer } | undefined;
  if (!row) return null;
  try {
    return JSON.parse(sealer.open(row.snapshot)) as DetectionSnapshot;
  } catch {
    return null; // unreadable (other keys): the cluster's first holder starts from the first event
  }
}

/** Snapshots are sealed and written on a thread of their own, except for an in-memory database (tests). */
function snapshotWriterFor(config: AppConfig, db: SqliteDb): SnapshotWriterThread | undefined {
  if (db.name === ':memory:' || !SnapshotWriterThread.available()) return undefined;
  return new SnapshotWriterThread({
    dataDir: config.dataDir,
    dataKeysDir: config.dataKeysDir,
    backgroundCheckpoints: backgroundWalCheckpoints(config),
  });
}

@Module({
  providers: [
    {
      // The context module binds ACCESS_CONTEXT; without it, engines judge events alone (EMPTY_ACCESS_CONTEXT).
      provide: DETECTION_RUNTIME,
      inject: [APP_CONFIG, { token: ACCESS_CONTEXT, optional: true }],
      useFactory: (config: AppConfig, context?: AccessContext | null) => loadDetectionRuntime(detectionSettingsOf(config), context ?? EMPTY_ACCESS_CONTEXT),
    },
    // Alert records and the engine snapshot name patients and IPs: sealed at rest with the data keys.
    // The patients an alert names are indexed as their keyed-HMAC tokens (the actor / patient / case filters).
    // No local database (STORE=elasticsearch): null.
    {
      provide: SqliteAlertStore,
      inject: [SQLITE_DB, APP_CONFIG],
      useFactory: (db: SqliteDb | null, config: AppConfig) => (db ? new SqliteAlertStore(db, embeddedTextSealer(config), alertIndexing(config)) : null),
    },
    {
      // STORE=elasticsearch: the database an earlier version left in the data dir, opened only if it exists, to ship
      // its leftover alerts and snapshot to the cluster; a new data dir never gets one.
      provide: LEGACY_DATABASE,
      inject: [APP_CONFIG, SQLITE_DB],
      useFactory: (config: AppConfig, db: SqliteDb | null): SqliteDb | null =>
        config.scaleOut?.store === 'elasticsearch' && !db && fs.existsSync(databasePath(config.dataDir)) ? openDatabase(config.dataDir) : null,
    },
    {
      // STORE=elasticsearch: alerts in their own index of the cluster (loaded lazily); else the embedded store.
      provide: ALERT_STORE,
      inject: [APP_CONFIG, EVENT_STORE, SqliteAlertStore],
      useFactory: async (config: AppConfig, events: EventStore, embedded: SqliteAlertStore | null): Promise<AlertStore> => {
        if (config.scaleOut?.store !== 'elasticsearch' && embedded) return embedded;
        const { elasticsearchAlertStoreFor } = await import('./es-alert-store');
        return elasticsearchAlertStoreFor(events, embeddedTextSealer(config), alertIndexing(config));
      },
    },
    { provide: DetectionMetrics, inject: [MetricsService], useFactory: (metrics: MetricsService) => new DetectionMetrics(metrics.registry, metrics.restrictedRegistry) },
    {
      // STORE=elasticsearch: progress and snapshot in the cluster, alerts straight to the shared alert store.
      provide: SHARED_DETECTION_STATE,
      inject: [APP_CONFIG, EVENT_STORE, ALERT_STORE, LEGACY_DATABASE],
      useFactory: async (config: AppConfig, events: EventStore, alerts: AlertStore, legacy: SqliteDb | null): Promise<SharedDetectionState | null> => {
        if (config.scaleOut?.store !== 'elasticsearch') return null;
        const { elasticsearchDetectionStateFor } = await import('./es-detection-state');
        const sealer = embeddedTextSealer(config);
        return elasticsearchDetectionStateFor(events, alerts, sealer, detectionSettingsOf(config).leaseMs ?? DEFAULT_LEASE_MS, () => (legacy ? legacySnapshot(legacy, sealer) : null));
      },
    },
    {
      provide: DETECTION_WORKER,
      inject: [DETECTION_RUNTIME, EVENT_STORE, SQLITE_DB, SqliteAlertStore, DetectionMetrics, APP_CONFIG, RULE_OVERRIDE_STORE, SHARED_DETECTION_STATE],
      useFactory: (
        runtime: DetectionRuntime,
        store: EventStore,
        db: SqliteDb | null,
        alerts: SqliteAlertStore | null,
        metrics: DetectionMetrics,
        config: AppConfig,
        overrides: RuleOverrideStore,
        shared: SharedDetectionState | null,
      ): DetectionWorker | null => {
        if (!runtime.settings.enabled) return null;
        const source = tailable(store);
        const { snapshotEveryEvents, snapshotEveryMs } = runtime.settings;
        const embeddedProgress = (): DetectionProgressStore => {
          if (!db || !alerts) throw new Error('detection progress: neither a shared store nor the embedded database is bound');
          return new SqliteDetectionProgressStore(db, alerts, 'engine', embeddedTextSealer(config), snapshotWriterFor(config, db));
        };
        return new DetectionWorker(
          // Rules an admin switched off or gave exceptions (rule-overrides.ts) drop their alerts as they leave the engine.
          () => withRuleOverrides(runtime.createEngine(), overrides),
          source,
          shared?.progress ?? embeddedProgress(),
          { snapshotEveryEvents, snapshotEveryMs },
          metrics,
          detectionLog(new Logger('Detection')),
        );
      },
    },
    {
      provide: DETECTION_LEADERSHIP,
      inject: [DETECTION_WORKER, SHARED_DETECTION_STATE, EVENT_STORE, APP_CONFIG, RULE_OVERRIDE_STORE],
      useFactory: (worker: DetectionWorker | null, shared: SharedDetectionState | null, store: EventStore, config: AppConfig, overrides: RuleOverrideStore): DetectionLeadership | null => {
        if (!worker || !shared) return null;
        const leadership = new DetectionLeadership(
          shared.lease,
          shared.progress,
          worker,
          // Not before the rule overrides of the cluster are read: a rule switched off must stay quiet from the first event.
          { leaseMs: detectionSettingsOf(config).leaseMs ?? DEFAULT_LEASE_MS, ready: () => store.isReady() && (overrides as { loaded?: boolean }).loaded !== false },
          detectionLog(new Logger('Detection')),
        );
        shared.progress.onFenced = () => leadership.fenced();
        return leadership;
      },
    },
    {
      // Alerts a previous version stored in this instance's database are still shipped (nothing new goes there).
      provide: ALERT_OUTBOX,
      inject: [DETECTION_WORKER, ALERT_STORE, LEGACY_DATABASE, APP_CONFIG],
      useFactory: (worker: DetectionWorker | null, alerts: AlertStore, db: SqliteDb | null, config: AppConfig): AlertOutbox | null => {
        if (!worker || !db || config.scaleOut?.store !== 'elasticsearch' || !('importRecords' in alerts)) return null;
        const logger = new Logger('Detection');
        return new AlertOutbox(db, alerts as AlertStore & AlertImporter, embeddedTextSealer(config), {
          onError: (err) => logger.warn(`shipping alerts to Elasticsearch failed (${(err as Error)?.constructor?.name ?? 'error'}); retrying`),
        });
      },
    },
    {
      // STORE=elasticsearch: the trail of changes in the cluster, read by every instance every second; else the embedded tables.
      provide: RULE_OVERRIDE_STORE,
      inject: [SQLITE_DB, APP_CONFIG, EVENT_STORE],
      useFactory: async (db: SqliteDb | null, config: AppConfig, events: EventStore): Promise<RuleOverrideStore> => {
        if (config.scaleOut?.store !== 'elasticsearch' && db) return new SqliteRuleOverrideStore(db);
        const { elasticsearchRuleOverrideStoreFor } = await import('./es-rule-overrides');
        const logger = new Logger('RuleOverrides');
        let failing = false;
        const store = elasticsearchRuleOverrideStoreFor(events, {
          onSyncError: (err) => {
            if (!failing) logger.warn(`rule overrides could not be read from Elasticsearch (${(err as Error)?.constructor?.name ?? 'error'}); retrying every second`);
            failing = true;
          },
          onSynced: () => {
            if (failing) logger.log('rule overrides read from Elasticsearch again');
            failing = false;
          },
        });
        store.start(() => events.isReady());
        return store;
      },
    },
    DetectionLifecycle,
    AlertsService,
    RuleOverridesService,
    CasesService,
    AlertEvidenceService,
    ServiceAlertsService,
  ],
  exports: [ALERT_STORE, SqliteAlertStore, AlertsService, CasesService, AlertEvidenceService, ServiceAlertsService, DETECTION_RUNTIME, DETECTION_WORKER, DETECTION_LEADERSHIP, RULE_OVERRIDE_STORE, RuleOverridesService],
})
export class DetectionModule {}
