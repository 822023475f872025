/**
 * Which instance runs streaming detection when several share one Elasticsearch (STORE=elasticsearch).
 * Detection must see every committed event once, in commit order, and keep one engine state: so
 * exactly one instance evaluates, the holder of a lease kept in the cluster (DetectionLease), and
 * every instance tries to take the lease every third of its duration. The holder claims the shared
 * snapshot, starts the worker from it, renews the lease, and wakes the worker every `pollMs`
 * (events another instance committed do not wake it otherwise). When the holder dies, its lease
 * runs out and another instance resumes from the last snapshot: alerts raised since are raised
 * again with the same ids and dropped by the alert store, so none is missed or duplicated. A
 * holder that finds the lease or the snapshot taken over (a long pause) stops evaluating at once.
 */
import type { ClaimableProgress, LeaseLike } from './detection-leadership.port';
import { DetectionWorker } from './detection-worker';

export interface LeadershipLog {
  info(msg: string, fields?: Record<string, string | number | boolean | null>): void;
  warn(msg: string, fields?: Record<string, string | number | boolean | null>): void;
}

export interface LeadershipOptions {
  leaseMs: number;
  /** While leading, the worker is woken this often to read what other instances committed. Default 1000 ms. */
  pollMs?: number;
  /** False until the shared store has declared its indices (the lease is not touched before). */
  ready?: () => boolean;
}

export class DetectionLeadership {
  private leading = false;
  private stopped = true;
  private stepping: Promise<void> | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private failing = false;
  private renewedAt = 0;

  constructor(
    private readonly lease: LeaseLike,
    private readonly progress: ClaimableProgress,
    private readonly worker: DetectionWorker,
    private readonly options: LeadershipOptions,
    private readonly log?: LeadershipLog,
  ) {}

  /** True while this instance runs detection. */
  get leader(): boolean {
    return this.leading;
  }

  get holder(): string {
    return this.lease.holder;
  }

  /** Tries to lead now, then again and again (see next()); resolves after the first attempt. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.step();
    this.schedule();
  }

  /**
   * Until the store is up it checks every 100 ms (no request), so the first instance up takes the
   * lease as soon as it can; standing by, an instance looks every second (one realtime get); the
   * holder renews every third of the lease.
   */
  private schedule(): void {
    if (this.stopped) return;
    const ready = this.options.ready?.() ?? true;
    const delay = !ready ? 100 : Math.max(100, Math.min(1000, Math.floor(this.options.leaseMs / 3)));
    this.leaseTimer = setTimeout(() => void this.step().finally(() => this.schedule()), delay);
    this.leaseTimer.unref();
  }

  /** The snapshot store found another instance's newer snapshot: step down at once. */
  fenced(): void {
    if (this.leading) void this.stepDown('fenced');
  }

  /** Stops evaluating (final snapshot) and gives the lease up, so another instance takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.leaseTimer = null;
    await this.stepping;
    if (this.leading) {
      this.stopPolling();
      await this.worker.stop();
      this.leading = false;
      await this.lease.release().catch(() => undefined);
    }
  }

  /** One round: renew the lease we hold, or try to take it. One round at a time. */
  step(): Promise<void> {
    this.stepping ??= this.round().finally(() => (this.stepping = null));
    return this.stepping;
  }

  private async round(): Promise<void> {
    if (this.stopped || !(this.options.ready?.() ?? true)) return;
    try {
      if (this.leading) {
        if (Date.now() - this.renewedAt < this.options.leaseMs / 3) return;
        if (!(await this.lease.renew())) await this.stepDown('lease-lost');
        else this.renewedAt = Date.now();
      } else if (await this.lease.acquire()) {
        if (this.stopped) return void (await this.lease.release());
        await this.progress.prepare();
        if (this.stopped) return void (await this.lease.release());
        const report = this.worker.start();
        this.leading = true;
        this.renewedAt = Date.now();
        this.startPolling();
        this.log?.info('detection lease taken; this instance runs detection', {
          resumedFrom: report ? 'snapshot' : 'first-event',
          rulesReset: report ? report.reset.length : 0,
        });
      }
      if (this.failing) this.log?.info('detection lease reachable again');
      this.failing = false;
    } catch (error) {
      // The cluster cannot be reached: keep what we have; the lease decides once it answers again.
      if (!this.failing) this.log?.warn('detection lease could not be read or written; retrying', { errorClass: (error as Error)?.constructor?.name ?? 'unknown' });
      this.failing = true;
    }
  }

  private async stepDown(reason: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.stopPolling();
    this.log?.warn('detection lease lost; this instance stops evaluating', { reason });
    await this.worker.stop();
  }

  private startPolling(): void {
    this.pollTimer = setInterval(() => this.worker.wake(), this.options.pollMs ?? 1000);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
