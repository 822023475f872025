/**
 * Clock quality at ingest (issue 15): an event dated far ahead of the server clock
 * (EVENT_MAX_FUTURE_SECONDS) or far behind it (EVENT_MAX_PAST_SECONDS) is still stored (an audit
 * record is never lost) but flagged: the sender is told in its receipt (`warnings`), the event
 * reads back with `flags: ["clock-ahead" | "clock-behind"]` (derived from its hashed occurredAt and
 * receivedAt, so nothing outside the hash is needed), it is counted per source integration (metric
 * and GET /v1/integrity/clock), and listeners (the service raises the clock data-quality alert
 * there) hear of each integration at most once per CLOCK_ALERT_PERIOD_SECONDS. Only integration
 * names, directions and counts leave this module: never event content.
 */
import { AccessEvent } from '@app/core';
import { MetricsService } from './metrics.service';

export type ClockDirection = 'ahead' | 'behind';

export interface ClockPolicy {
  /** Seconds ahead of the reference clock beyond which an event is flagged (0: never). */
  maxFutureSeconds: number;
  /** Seconds behind it beyond which an event is flagged (0: never). */
  maxPastSeconds: number;
}

/** The flag an event's read-back view carries. */
export type ClockFlag = 'clock-ahead' | 'clock-behind';

/** How far off an event's time is from a reference time (the server clock at ingest, or the stored receivedAt), or null when within the policy. */
export function clockSkewOf(occurredAt: string, referenceMs: number, policy: ClockPolicy): ClockDirection | null {
  const at = Date.parse(occurredAt);
  if (Number.isNaN(at) || Number.isNaN(referenceMs)) return null;
  if (policy.maxFutureSeconds > 0 && at > referenceMs + policy.maxFutureSeconds * 1000) return 'ahead';
  if (policy.maxPastSeconds > 0 && at < referenceMs - policy.maxPastSeconds * 1000) return 'behind';
  return null;
}

/** What a receipt tells the sender (no value echoed). */
export function clockWarning(direction: ClockDirection, policy: ClockPolicy): string {
  return direction === 'ahead'
    ? `occurredAt is more than ${policy.maxFutureSeconds} s ahead of the server clock: stored and flagged clock-ahead; check the sender's clock`
    : `occurredAt is more than ${policy.maxPastSeconds} s behind the server clock: stored and flagged clock-behind; check the sender's clock, or raise EVENT_MAX_PAST_SECONDS for a backfill`;
}

/** The source an event is counted under: its integration, else its system (bounded, no PHI). */
export function clockSourceOf(event: AccessEvent): string {
  return (event.source?.integration ?? event.source?.system ?? 'unknown').slice(0, 100);
}

/** One integration's flagged events in one alert period, told to listeners once. */
export interface ClockSkewNotice {
  integration: string;
  /** Start of the alert period (epoch ms, a multiple of the period). */
  periodStartMs: number;
  ahead: number;
  behind: number;
}

export type ClockSkewListener = (notice: ClockSkewNotice) => Promise<void> | void;

export interface ClockSourceStatus {
  ahead: number;
  behind: number;
  lastFlaggedAt: string;
}

export interface ClockStatus {
  maxFutureSeconds: number;
  maxPastSeconds: number;
  alertPeriodSeconds: number;
  /** Flagged events since start, per source integration (or system); at most 100 sources, then "other". */
  sources: Record<string, ClockSourceStatus>;
}

const MAX_SOURCES = 100;

export class ClockQualityMonitor {
  private readonly sources = new Map<string, ClockSourceStatus>();
  /** Integration -> start of the last period a listener was told about it. */
  private readonly notified = new Map<string, number>();
  private readonly listeners: ClockSkewListener[] = [];

  constructor(
    readonly policy: ClockPolicy,
    private readonly alertPeriodSeconds = 3600,
    private readonly metrics?: MetricsService,
    private readonly now: () => number = Date.now,
  ) {}

  onFlagged(listener: ClockSkewListener): void {
    this.listeners.push(listener);
  }

  /** The flag of each event against the server clock now (null: within the policy). */
  classify(events: readonly AccessEvent[]): (ClockDirection | null)[] {
    const now = this.now();
    return events.map((e) => clockSkewOf(e.occurredAt, now, this.policy));
  }

  /** Counts stored events that were flagged, and tells listeners about integrations not told this period. */
  record(events: readonly AccessEvent[], directions: readonly (ClockDirection | null)[]): void {
    const now = this.now();
    const periodMs = this.alertPeriodSeconds * 1000;
    const periodStartMs = Math.floor(now / periodMs) * periodMs;
    const fresh = new Map<string, ClockSkewNotice>();
    for (let i = 0; i < events.length; i++) {
      const direction = directions[i];
      if (direction === null) continue;
      let source = clockSourceOf(events[i]);
      if (!this.sources.has(source) && this.sources.size >= MAX_SOURCES) source = 'other';
      const s = this.sources.get(source) ?? { ahead: 0, behind: 0, lastFlaggedAt: '' };
      s[direction]++;
      s.lastFlaggedAt = new Date(now).toISOString();
      this.sources.set(source, s);
      this.metrics?.clockSkewEvents.inc({ integration: source, direction });
      if (direction === 'ahead') this.metrics?.futureEvents.inc();
      if (this.notified.get(source) === periodStartMs) continue;
      const n = fresh.get(source) ?? { integration: source, periodStartMs, ahead: 0, behind: 0 };
      n[direction]++;
      fresh.set(source, n);
    }
    for (const notice of fresh.values()) {
      this.notified.set(notice.integration, periodStartMs);
      for (const listener of this.listeners) {
        // A listener's failure must not fail the ingest that already stored the events.
        void Promise.resolve()
          .then(() => listener(notice))
          .catch(() => this.notified.delete(notice.integration));
      }
    }
  }

  status(): ClockStatus {
    return {
      maxFutureSeconds: this.policy.maxFutureSeconds,
      maxPastSeconds: this.policy.maxPastSeconds,
      alertPeriodSeconds: this.alertPeriodSeconds,
      sources: Object.fromEntries([...this.sources].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
    };
  }
}
