/**
 * `dormant` rules (an extension to the CONTRACT kinds): alert when a group (an account) acts
 * again after at least `idle` without any matching activity. Each group is remembered for
 * `window` after its last activity; a group silent for longer than that is forgotten and its
 * return looks like a first appearance, so pick `window` well above `idle` (e.g. idle 30d,
 * window 400d). State is one timestamp and one event ref per remembered account.
 */
import { AccessEvent } from '@app/core';
import { CompiledRule } from '../compiled-rule';
import { EventRef, RefTableReader, RefTableWriter } from '../event-ref';
import { decodeTime, DetectorContext, encodeTime } from './detector';
import { GroupedDetector } from './grouped-detector';

interface DormantGroup {
  lastRef: EventRef;
  lastAlertAt: number;
}

type GroupState = [key: string, lastRef: number, lastAlertAt: number | null];

export class DormantDetector extends GroupedDetector<DormantGroup> {
  constructor(rule: CompiledRule, allowedLatenessMs: number) {
    super(rule, Math.max(rule.windowMs, rule.suppressMs), allowedLatenessMs);
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
    this.fireUnlessSuppressed(event, key, group, ts, ctx, () => ({
      windowStartMs: previous.ts,
      windowEndMs: ts,
      refs: [previous, group.lastRef],
      context: { previousActivityAt: new Date(previous.ts).toISOString(), idleMs: idle },
    }));
  }

  /**
   * Activity known only from a late event (judged in a late lane): an account not yet remembered
   * is remembered from it, so its return later counts the idle time from there. Never alerts.
   */
  remember(event: AccessEvent, ctx: DetectorContext): void {
    const key = this.rule.groupKeyOf(event);
    if (key === undefined || this.groups.has(key)) return;
    this.groups.set(key, { lastRef: ctx.ref(), lastAlertAt: -Infinity });
  }

  protected expire(group: DormantGroup, watermark: number): boolean {
    return group.lastRef.ts < watermark - this.rule.windowMs && !this.stillSuppressing(group, watermark);
  }

  protected encodeGroup(key: string, g: DormantGroup, refs: RefTableWriter): GroupState {
    return [key, refs.indexOf(g.lastRef), encodeTime(g.lastAlertAt)];
  }

  protected decodeGroup(entry: unknown[], refs: RefTableReader): [string, DormantGroup] {
    const [key, lastRef, lastAlertAt] = entry as GroupState;
    return [key, { lastRef: refs.get(lastRef), lastAlertAt: decodeTime(lastAlertAt) }];
  }
}
