/**
 * Nest wiring of detection: loads the rules and runbooks at start-up (a bad rule file stops the
 * service, naming the file, the field and why), the streaming DetectionWorker woken by the chain
 * writer after each durable commit, its metrics, and the AlertsService the HTTP controllers use.
 * The worker runs only when DETECTION_ENABLED and the event store can be tailed by position; the
 * alert and rule endpoints work either way. Stores come from the infrastructure module
 * (libs/infrastructure): ALERT_STORE, RULE_OVERRIDE_STORE, DETECTION_STATE (progress, and where
 * instances share it the lease that picks the one instance evaluating, detection-leadership.ts,
 * so when that instance dies another resumes from the snapshot) and ALERT_OUTBOX (alerts an
 * earlier version left in the instance's own database, shipped to the shared store).
 */
import { BeforeApplicationShutdown, Inject, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { ACCESS_CONTEXT, ACCESS_LOG_CHAIN, AccessContext, APP_CONFIG, AppConfig, detectionSettingsOf, EMPTY_ACCESS_CONTEXT } from '@app/core';
import { MetricsService } from '@app/pipeline';
import { patientTokenizerFor } from '@app/security';
import { COMMIT_FEED, CommitFeed, EVENT_STORE, EventStore, PositionedEvent } from '@app/storage';
import { AlertIndexing } from '../alert-store.port';
import { AlertOutbox } from './alert-outbox';
import { AlertEvidenceService } from './alert-evidence.service';
import { AlertsService } from './alerts.service';
import { CasesService } from './cases.service';
import { DetectionMetrics } from './detection-metrics';
import { DETECTION_RUNTIME, DetectionRuntime, loadDetectionRuntime } from './detection-runtime';
import type { CommittedEventSource } from './committed-event-source.port';
import { ALERT_OUTBOX, DETECTION_STATE, DetectionState } from './detection-state.port';
import { DetectionLog, DetectionWorker } from './detection-worker';
import { DetectionLeadership } from './detection-leadership';

/** DETECTION_LEASE_MS's default, for configs built by hand. */
export const DEFAULT_LEASE_MS = 15_000;
import { withRuleOverrides } from '../rule-overrides';
import { RULE_OVERRIDE_STORE, RuleOverrideStore } from '../rule-override-store.port';
import { RuleOverridesService } from './rule-overrides.service';
import { ServiceAlertsService } from './service-alerts.service';

export const DETECTION_WORKER = Symbol('DETECTION_WORKER');
/** Where instances share detection: the lease that picks the one instance running it (detection-leadership.ts); else null. */
export const DETECTION_LEADERSHIP = Symbol('DETECTION_LEADERSHIP');
/** Bound by the infrastructure module (detection-state.port.ts); re-exported for the modules that inject it from here. */
export { ALERT_OUTBOX } from './detection-state.port';

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
    this.commits.onCommit((records, firstPosition) => {
      // The access log is not evaluated (the store's readSince skips it): keep only what will be read.
      if (firstPosition === undefined) this.worker?.remember(records.filter((r) => r.chain !== ACCESS_LOG_CHAIN));
      else {
        // With the positions the store gave the group, nothing needs reading back (the access log's still count).
        const events: PositionedEvent[] = [];
        for (let i = 0; i < records.length; i++) {
          const r = records[i];
          if (r.chain !== ACCESS_LOG_CHAIN) events.push({ position: firstPosition + i, receivedAt: r.receivedAt, event: r.event });
        }
        this.worker?.rememberAt(events, firstPosition, firstPosition + records.length - 1);
      }
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
    if (this.worker) await this.outbox?.stop(); // shipped only where detection runs, as started above
  }
}

/** How alert stores index patients: the service's tokenization key (the same tokens events use). */
export function alertIndexing(config: AppConfig): AlertIndexing {
  const tokenizer = patientTokenizerFor(config);
  return { patientToken: (id) => tokenizer.token(id) };
}

@Module({
  providers: [
    {
      // The context module binds ACCESS_CONTEXT; without it, engines judge events alone (EMPTY_ACCESS_CONTEXT).
      provide: DETECTION_RUNTIME,
      inject: [APP_CONFIG, { token: ACCESS_CONTEXT, optional: true }],
      useFactory: (config: AppConfig, context?: AccessContext | null) => loadDetectionRuntime(detectionSettingsOf(config), context ?? EMPTY_ACCESS_CONTEXT),
    },
    { provide: DetectionMetrics, inject: [MetricsService], useFactory: (metrics: MetricsService) => new DetectionMetrics(metrics.registry, metrics.restrictedRegistry) },
    {
      provide: DETECTION_WORKER,
      inject: [DETECTION_RUNTIME, EVENT_STORE, DetectionMetrics, RULE_OVERRIDE_STORE, DETECTION_STATE],
      useFactory: (runtime: DetectionRuntime, store: EventStore, metrics: DetectionMetrics, overrides: RuleOverrideStore, state: DetectionState): DetectionWorker | null => {
        if (!runtime.settings.enabled) return null;
        const source = tailable(store);
        const { snapshotEveryEvents, snapshotEveryMs } = runtime.settings;
        return new DetectionWorker(
          // Rules an admin switched off or gave exceptions (rule-overrides.ts) drop their alerts as they leave the engine.
          () => withRuleOverrides(runtime.createEngine(), overrides),
          source,
          state.progress,
          { snapshotEveryEvents, snapshotEveryMs },
          metrics,
          detectionLog(new Logger('Detection')),
        );
      },
    },
    {
      provide: DETECTION_LEADERSHIP,
      inject: [DETECTION_WORKER, DETECTION_STATE, EVENT_STORE, APP_CONFIG, RULE_OVERRIDE_STORE],
      useFactory: (worker: DetectionWorker | null, state: DetectionState, store: EventStore, config: AppConfig, overrides: RuleOverrideStore): DetectionLeadership | null => {
        if (!worker || !state.lease) return null;
        const leadership = new DetectionLeadership(
          state.lease,
          state.progress,
          worker,
          // Not before the rule overrides of the cluster are read: a rule switched off must stay quiet from the first event.
          { leaseMs: detectionSettingsOf(config).leaseMs ?? DEFAULT_LEASE_MS, ready: () => store.isReady() && (overrides as { loaded?: boolean }).loaded !== false },
          detectionLog(new Logger('Detection')),
        );
        state.progress.onFenced = () => leadership.fenced();
        return leadership;
      },
    },
    DetectionLifecycle,
    AlertsService,
    RuleOverridesService,
    CasesService,
    AlertEvidenceService,
    ServiceAlertsService,
  ],
  exports: [AlertsService, CasesService, AlertEvidenceService, ServiceAlertsService, DETECTION_RUNTIME, DETECTION_WORKER, DETECTION_LEADERSHIP, RuleOverridesService],
})
export class DetectionModule {}
