/**
 * `match` rules: every event that passes `where` is an alert (break-glass access, after-hours
 * access …), deduplicated per group for `suppress`. Stateless apart from suppression, so it also
 * judges events that arrive later than the allowance: a late break-glass is still a break-glass.
 *
 * With `burst`, a rule raises at most `max` alerts per value of `burst.by` (e.g. the posting
 * integration) within `burst.window` of event time; the next one of that burst raises one alert that
 * stands for the rest (context.burst), and the burst's further events are counted as suppressed.
 * One request of hundreds of break-glass events then cannot bury the queue (or a pager) in alerts.
 * Events whose alert rule overrides will drop (an admin's exception) are left out of the count.
 */
import { AccessEvent } from '@app/core';
import { CompiledRule } from '../compiled-rule';
import { RefTableReader, RefTableWriter } from '../event-ref';
import { DetectorContext, isSuppressed } from './detector';
import { GroupedDetector } from './grouped-detector';

/** One burst key's current window: when it started, alerts raised in it, whether the rest was folded. */
interface BurstWindow {
  startMs: number;
  alerts: number;
  folded: boolean;
}

/** Per group key: the time of its last alert (kept only while it can still suppress). */
export class MatchDetector extends GroupedDetector<number> {
  private bursts = new Map<string, BurstWindow>();

  constructor(rule: CompiledRule, allowedLatenessMs: number) {
    super(rule, Math.max(rule.suppressMs, rule.burst?.windowMs ?? 0), allowedLatenessMs);
  }

  onEvent(event: AccessEvent, ts: number, _watermark: number, ctx: DetectorContext): void {
    if (!this.rule.when(event, ts, ctx.facts)) return;
    const key = this.rule.groupKeyOrNullOf(event);
    const suppressMs = this.rule.suppressMs;
    if (suppressMs > 0) {
      const last = this.groups.get(key);
      if (last !== undefined && isSuppressed(last, ts, suppressMs)) {
        this.counters.suppressed++;
        return;
      }
      if (last === undefined || ts > last) this.groups.set(key, ts);
    }
    const burst = this.rule.burst;
    // An alert rule overrides will drop (an excepted actor) neither spends the burst nor stands for it.
    if (burst && !ctx.silenced(this.rule.id, this.rule.groupValuesOf(event))) {
      const raw = burst.by(event);
      const value = raw === undefined || raw === null ? null : String(raw);
      const burstKey = value ?? '\u0000';
      let window = this.bursts.get(burstKey);
      // A new window only once event time has left the current one: a late event of the same
      // source counts into the current burst (interleaving old timestamps cannot reopen it).
      if (!window || ts >= window.startMs + burst.windowMs) {
        window = { startMs: ts, alerts: 0, folded: false };
        this.bursts.set(burstKey, window);
      }
      if (window.alerts >= burst.max) {
        if (window.folded) {
          this.counters.suppressed++;
          return;
        }
        window.folded = true;
        this.emit(event, `\u0001burst\u0000${burstKey}`, ctx, {
          windowStartMs: window.startMs,
          windowEndMs: window.startMs + burst.windowMs,
          refs: [ctx.ref()],
          context: { burst: { field: burst.byPath, value, max: burst.max, window: burst.window } },
        });
        return;
      }
      window.alerts++;
    }
    this.emit(event, key, ctx, { windowStartMs: ts, windowEndMs: ts, refs: [ctx.ref()] });
  }

  override sweep(watermark: number): void {
    super.sweep(watermark);
    const windowMs = this.rule.burst?.windowMs ?? 0;
    for (const [key, window] of this.bursts) if (watermark - window.startMs >= windowMs) this.bursts.delete(key);
  }

  override groupCount(): number {
    return super.groupCount() + this.bursts.size;
  }

  override reset(): void {
    super.reset();
    this.bursts = new Map();
  }

  override *snapshotSteps(refs: RefTableWriter): Generator<void, unknown, void> {
    const base = (yield* super.snapshotSteps(refs)) as Record<string, unknown>;
    if (this.bursts.size === 0) return base;
    return { ...base, bursts: [...this.bursts].map(([key, w]) => [key, w.startMs, w.alerts, w.folded]) };
  }

  override restore(state: unknown, refs: RefTableReader): void {
    super.restore(state, refs);
    const bursts = (state as { bursts?: unknown }).bursts;
    if (!Array.isArray(bursts)) return;
    for (const entry of bursts as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || typeof entry[2] !== 'number') continue;
      this.bursts.set(entry[0], { startMs: entry[1], alerts: entry[2], folded: entry[3] === true });
    }
  }

  protected expire(lastAlertAt: number, watermark: number): boolean {
    return !isSuppressed(lastAlertAt, watermark, this.rule.suppressMs);
  }

  protected encodeGroup(key: string, lastAlertAt: number): [string, number] {
    return [key, lastAlertAt];
  }

  protected decodeGroup(entry: unknown[]): [string, number] {
    return entry as [string, number];
  }
}
