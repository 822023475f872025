/**
 * `match` rules: every event that passes `where` is an alert (break-glass access, after-hours
 * access …), deduplicated per group for `suppress`. Stateless apart from suppression, so it also
 * judges events that arrive later than the allowance: a late break-glass is still a break-glass.
 */
import { AccessEvent } from '@app/core';
import { CompiledRule } from '../compiled-rule';
import { DetectorContext, isSuppressed } from './detector';
import { GroupedDetector } from './grouped-detector';

/** Per group key: the time of its last alert (kept only while it can still suppress). */
export class MatchDetector extends GroupedDetector<number> {
  constructor(rule: CompiledRule, allowedLatenessMs: number) {
    super(rule, rule.suppressMs, allowedLatenessMs);
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
    this.emit(event, key, ctx, { windowStartMs: ts, windowEndMs: ts, refs: [ctx.ref()] });
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
