/**
 * The scheduled retention run (@nestjs/schedule): on RETENTION_CRON (default daily at 03:00, server
 * local time), when RETENTION_ENABLED (default true) and the events are in the embedded store, runs
 * the same SqliteRetentionRunner as `auditctl retention run` at the current time. Runs never overlap;
 * each is recorded in retention_runs and logged with counts and chains only (never PHI). With
 * STORE=elasticsearch ILM applies the tiers; the schedule runs the legal-hold reconciler (backing
 * indices rolled over since the last run, holds placed on other instances), then the Elasticsearch
 * retention run (EsRetentionRunner: expired backing indices deleted after their chains' purged
 * prefixes are recorded), logged with index names, chains and counts.
 */
import { Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { APP_CONFIG, AppConfig, DEFAULT_RETENTION_CRON, DEPLOYMENT, Deployment } from '@app/core';
import { RETENTION_RUN_SERVICE, RetentionRunReport, RetentionRunService } from '@app/retention';
import type { HoldReconcileReport } from '@app/storage/scale-out-adapters';
import { ComplianceModule, HoldReconcileRunner, LEGAL_HOLD_ENFORCEMENT, logHoldReconcile } from './compliance.module';

export const RETENTION_JOB = 'retention';

@Injectable()
export class RetentionScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Retention');
  private running: Promise<RetentionRunReport | null> | null = null;
  private job: CronJob | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DEPLOYMENT) private readonly deployment: Deployment,
    @Inject(RETENTION_RUN_SERVICE) private readonly runs: RetentionRunService,
    private readonly registry: SchedulerRegistry,
    @Optional() @Inject(LEGAL_HOLD_ENFORCEMENT) private readonly holds: HoldReconcileRunner | null = null,
  ) {}

  onApplicationBootstrap(): void {
    const settings = this.config.compliance;
    if (settings?.retentionEnabled === false) return;
    const embedded = this.deployment.eventsInDataDir;
    if (!embedded && !this.holds) {
      this.logger.warn('scheduled retention needs the embedded store; not scheduled');
      return;
    }
    const cron = settings?.retentionCron ?? DEFAULT_RETENTION_CRON;
    // Elasticsearch: ILM applies the windows; the schedule re-applies legal holds (indices rolled over since, holds placed elsewhere).
    const onTick = embedded ? () => void this.runNow() : () => void this.reconcileHoldsNow().then(() => this.runElasticsearchNow());
    try {
      this.job = CronJob.from({ cronTime: cron, onTick, start: false });
    } catch {
      throw new Error('RETENTION_CRON: not a valid cron expression (e.g. "0 3 * * *")');
    }
    this.registry.addCronJob(RETENTION_JOB, this.job as never);
    this.job.start();
  }

  onModuleDestroy(): void {
    if (this.job) {
      void this.job.stop();
      if (this.registry.doesExist('cron', RETENTION_JOB)) this.registry.deleteCronJob(RETENTION_JOB);
      this.job = null;
    }
  }

  /** STORE=elasticsearch: moves held backing indices to the ILM hold policy and released ones back. */
  async reconcileHoldsNow(): Promise<HoldReconcileReport | null> {
    if (!this.holds) return null;
    try {
      const report = await this.holds.reconcile();
      logHoldReconcile(report);
      return report;
    } catch (err) {
      this.logger.error(JSON.stringify({ msg: 'legal hold reconcile failed', error: err instanceof Error ? err.constructor.name : 'unknown' }));
      return null;
    }
  }

  /**
   * STORE=elasticsearch: deletes the backing indices whose records are all past their window
   * (after recording the chains' purged prefixes), unless a legal hold covers them.
   */
  async runElasticsearchNow(now = Date.now()): Promise<RetentionRunReport | null> {
    try {
      // The same run service as POST /v1/retention/runs: runs never overlap and are recorded.
      const report = await this.runs.runNow(now, 'schedule');
      this.logger.log(
        JSON.stringify({
          msg: 'retention run',
          store: 'elasticsearch',
          runId: report.runId,
          deleted: report.deleted,
          indices: (report.elasticsearch?.deleted ?? []).map((d) => ({ index: d.index, records: d.records, chains: d.chains.map((c) => ({ chain: c.chain, fromSeq: c.fromSeq, toSeq: c.toSeq })) })),
          kept: report.elasticsearch?.kept ?? [],
        }),
      );
      return report;
    } catch (err) {
      this.logger.error(JSON.stringify({ msg: 'retention run failed', store: 'elasticsearch', error: err instanceof Error ? err.constructor.name : 'unknown' }));
      return null;
    }
  }

  /** Runs retention now (the scheduled path); a run already in progress is not started twice. */
  runNow(now = Date.now()): Promise<RetentionRunReport | null> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const report = await this.runs.runNow(now, 'schedule');
        this.logger.log(
          JSON.stringify({ msg: 'retention run', runId: report.runId, deleted: report.deleted, warmed: report.warmed, archived: report.archived, chains: report.chains.filter((c) => c.count > 0).map((c) => ({ chain: c.chain, deleted: c.count, fromSeq: c.fromSeq, toSeq: c.toSeq })) }),
        );
        return report;
      } catch (err) {
        this.logger.error(JSON.stringify({ msg: 'retention run failed', error: err instanceof Error ? err.constructor.name : 'unknown' }));
        return null;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }
}

@Module({
  imports: [ScheduleModule.forRoot(), ComplianceModule],
  providers: [RetentionScheduler],
  exports: [RetentionScheduler],
})
export class RetentionScheduleModule {}
