/**
 * `dormant` rules (an extension to the CONTRACT kinds): alert when a group (an account) acts
 * again after at least `idle` without any matching activity. Each group is remembered for
 * `window` after its last activity; a group silent for longer than that is forgotten and its
 * return looks like a first appearance, so pick `window` well above `idle` (e.g. idle 30d,
 * window 400d). State is one timestamp and one event ref per remembered account.
 */
import { AccessEvent } from '@app/core';
import { buildAlert } from '../alert';
import { CompiledRule } from '../compiled-rule';
import { EventRef, RefTableReader, RefTableWriter } from '../event-ref';
import { decodeTime, Detector, DetectorContext, DetectorCounters, encodeTime, isSuppressed, stateError, sweepInterval } from './detector';

interface DormantGroup {
  lastRef: EventRef;
  lastAlertAt: number;
}

type GroupState = [key: string, lastRef: number, lastAlertAt: number | null];

export class DormantDetector implements Detector {
  readonly counters: DetectorCounters = { alerts: 0, suppressed: 0 };
  nextSweepAt = -Infinity;
  private groups = new Map<string, DormantGroup>();
  private readonly interval: number;

  constructor(
    readonly rule: CompiledRule,
    allowedLatenessMs: number,
  ) {
    this.interval = sweepInterval(Math.max(rule.windowMs, rule.suppressMs), allowedLatenessMs);
  }

  onEvent(event: AccessEvent, ts: number, _watermark: number, ctx: DetectorContext): void {
    const key = this.rule.groupKeyOf(event);
    if (key === undefined) return;
    const group = this.groups.get(key);
    if (group === undefined) {
      this.groups.set(key, { lastRef: ctx.ref(), lastAlertAt: -Infinity });
      return;
    }
    const previous = group.lastRef;
    if (ts < previous.ts) return; // late within the allowance: activity already accounted for
    const idle = ts - previous.ts;
    group.lastRef = ctx.ref();
    // Beyond the memory window the account counts as forgotten (as if evicted): no alert.
    if (idle < this.rule.idleMs || idle > this.rule.windowMs) return;
    if (isSuppressed(group.lastAlertAt, ts, this.rule.suppressMs)) {
      this.counters.suppressed++;
      return;
    }
    if (ts > group.lastAlertAt) group.lastAlertAt = ts;
    this.counters.alerts++;
    ctx.emit(
      buildAlert(
        this.rule,
        {
          groupKey: key,
          groupValues: this.rule.groupValuesOf(event),
          windowStartMs: previous.ts,
          windowEndMs: ts,
          refs: [previous, group.lastRef],
          context: { previousActivityAt: new Date(previous.ts).toISOString(), idleMs: idle },
          position: ctx.position,
        },
        ctx.evidenceCap,
      ),
    );
  }

  sweep(watermark: number): void {
    const horizon = watermark - this.rule.windowMs;
    for (const [key, group] of this.groups) {
      if (group.lastRef.ts < horizon && !isSuppressed(group.lastAlertAt, watermark, this.rule.suppressMs)) this.groups.delete(key);
    }
    this.nextSweepAt = watermark + this.interval;
  }

  groupCount(): number {
    return this.groups.size;
  }

  reset(): void {
    this.groups = new Map();
    this.nextSweepAt = -Infinity;
  }

  snapshot(refs: RefTableWriter): unknown {
    const groups: GroupState[] = [];
    for (const [key, g] of this.groups) groups.push([key, refs.indexOf(g.lastRef), encodeTime(g.lastAlertAt)]);
    return { nextSweepAt: encodeTime(this.nextSweepAt), groups };
  }

  restore(state: unknown, refs: RefTableReader): void {
    this.reset();
    const s = state as { nextSweepAt?: unknown; groups?: unknown };
    if (!s || !Array.isArray(s.groups)) throw stateError(this.rule, 'groups missing');
    this.nextSweepAt = decodeTime(s.nextSweepAt);
    for (const [key, lastRef, lastAlertAt] of s.groups as GroupState[]) {
      this.groups.set(key, { lastRef: refs.get(lastRef), lastAlertAt: decodeTime(lastAlertAt) });
    }
  }
}
