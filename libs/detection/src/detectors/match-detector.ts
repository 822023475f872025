/**
 * `match` rules: every event that passes `where` is an alert (break-glass access, after-hours
 * access …), deduplicated per group for `suppress`. Stateless apart from suppression, so it also
 * judges events that arrive later than the allowance: a late break-glass is still a break-glass.
 */
import { AccessEvent } from '@app/core';
import { buildAlert } from '../alert';
import { CompiledRule } from '../compiled-rule';
import { RefTableReader } from '../event-ref';
import { decodeTime, Detector, DetectorContext, DetectorCounters, encodeTime, isSuppressed, stateError, sweepInterval } from './detector';

export class MatchDetector implements Detector {
  readonly counters: DetectorCounters = { alerts: 0, suppressed: 0 };
  nextSweepAt = -Infinity;
  /** Group key -> time of its last alert (kept only while it can still suppress). */
  private lastAlertAt = new Map<string, number>();
  private readonly interval: number;

  constructor(
    readonly rule: CompiledRule,
    allowedLatenessMs: number,
  ) {
    this.interval = sweepInterval(rule.suppressMs, allowedLatenessMs);
  }

  onEvent(event: AccessEvent, ts: number, _watermark: number, ctx: DetectorContext): void {
    const key = this.rule.groupKeyOrNullOf(event);
    const suppressMs = this.rule.suppressMs;
    if (suppressMs > 0) {
      const last = this.lastAlertAt.get(key);
      if (last !== undefined && isSuppressed(last, ts, suppressMs)) {
        this.counters.suppressed++;
        return;
      }
      if (last === undefined || ts > last) this.lastAlertAt.set(key, ts);
    }
    this.counters.alerts++;
    ctx.emit(
      buildAlert(
        this.rule,
        {
          groupKey: key,
          groupValues: this.rule.groupValuesOf(event),
          windowStartMs: ts,
          windowEndMs: ts,
          refs: [ctx.ref()],
          position: ctx.position,
        },
        ctx.evidenceCap,
      ),
    );
  }

  sweep(watermark: number): void {
    const suppressMs = this.rule.suppressMs;
    for (const [key, last] of this.lastAlertAt) {
      if (!isSuppressed(last, watermark, suppressMs)) this.lastAlertAt.delete(key);
    }
    this.nextSweepAt = watermark + this.interval;
  }

  groupCount(): number {
    return this.lastAlertAt.size;
  }

  reset(): void {
    this.lastAlertAt = new Map();
    this.nextSweepAt = -Infinity;
  }

  snapshot(): unknown {
    return { nextSweepAt: encodeTime(this.nextSweepAt), groups: [...this.lastAlertAt] };
  }

  restore(state: unknown, _refs: RefTableReader): void {
    this.reset();
    const s = state as { nextSweepAt?: unknown; groups?: unknown };
    if (!s || !Array.isArray(s.groups)) throw stateError(this.rule, 'groups missing');
    this.nextSweepAt = decodeTime(s.nextSweepAt);
    this.lastAlertAt = new Map(s.groups as [string, number][]);
  }
}
