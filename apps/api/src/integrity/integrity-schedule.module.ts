/**
 * Runs the service's own verifications (IntegrityMonitor, @app/pipeline) with @nestjs/schedule:
 * each chain's tail at start (VERIFY_ON_START_RECORDS, before the server listens), incremental
 * checks every VERIFY_INTERVAL_SECONDS and a full one every VERIFY_FULL_INTERVAL_HOURS. Runs never
 * overlap. Each new break raises one `integrity-break` alert through the alert path (stored, listed,
 * delivered); an integration sending events dated far off the server clock raises one clock
 * data-quality alert per period. See docs/operations.md "Continuous verification" and "Clock quality".
 */
import { Inject, Injectable, Module, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { APP_CONFIG, AppConfig } from '@app/core';
import { clockSkewAlert, integrityBreakAlert } from '@app/detection';
import { DetectionModule, ServiceAlertsService } from '@app/detection/service';
import { ClockQualityMonitor, IntegrityMonitor } from '@app/pipeline';
import { RevocationSharing } from './revocation-sharing';

export const INCREMENTAL_VERIFY_JOB = 'integrity-incremental';
export const FULL_VERIFY_JOB = 'integrity-full';

@Injectable()
export class IntegrityScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly monitor: IntegrityMonitor,
    private readonly registry: SchedulerRegistry,
    private readonly alerts: ServiceAlertsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Chain, seq, kind and column only: the alert carries no record content.
    this.monitor.onNewBreak(async (breaks) => {
      const now = new Date();
      await this.alerts.raise(breaks.map((b) => integrityBreakAlert({ chain: b.chain, seq: b.seq, kind: b.kind, column: b.column }, now.toISOString())), now);
    });
    const settings = this.config.integrity;
    const tail = settings?.verifyOnStartRecords ?? 10_000;
    if (tail > 0) await this.monitor.run('start', tail);
    const every = (settings?.verifyIntervalSeconds ?? 300) * 1000;
    if (every > 0) this.schedule(INCREMENTAL_VERIFY_JOB, every, () => void this.monitor.run('incremental', tail || 10_000));
    const full = (settings?.verifyFullIntervalHours ?? 24) * 3_600_000;
    if (full > 0) this.schedule(FULL_VERIFY_JOB, full, () => void this.monitor.run('full'));
  }

  onModuleDestroy(): void {
    for (const name of [INCREMENTAL_VERIFY_JOB, FULL_VERIFY_JOB]) {
      if (this.registry.doesExist('interval', name)) {
        clearInterval(this.registry.getInterval(name));
        this.registry.deleteInterval(name);
      }
    }
  }

  private schedule(name: string, ms: number, tick: () => void): void {
    const timer = setInterval(tick, Math.min(ms, 2_147_483_647));
    timer.unref();
    this.registry.addInterval(name, timer);
  }
}

/** Raises the clock data-quality alert (one per integration per CLOCK_ALERT_PERIOD_SECONDS) through the alert path. */
@Injectable()
export class ClockQualityAlerts implements OnApplicationBootstrap {
  constructor(
    private readonly clock: ClockQualityMonitor,
    private readonly alerts: ServiceAlertsService,
  ) {}

  onApplicationBootstrap(): void {
    this.clock.onFlagged(async (notice) => {
      const now = new Date();
      await this.alerts.raise([clockSkewAlert(notice, now.toISOString())], now);
    });
  }
}

/** SchedulerRegistry comes from the app's one global ScheduleModule.forRoot() (RetentionScheduleModule): a second forRoot would make a second registry. */
@Module({
  imports: [DetectionModule],
  providers: [IntegrityScheduler, ClockQualityAlerts, RevocationSharing],
})
export class IntegrityScheduleModule {}
