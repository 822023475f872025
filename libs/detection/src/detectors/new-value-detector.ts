/**
 * `new_value` rules (an extension to the CONTRACT kinds): alert when a group shows a value of the
 * `distinct` field it has not shown within `window`, e.g. a service account calling from an IP it
 * has not used in 30 days. A group needs a baseline first: at least one other value still
 * remembered, and (with `learn`) history at least that old; a group's very first value only
 * teaches. Values are forgotten `window` after they were last seen, so state stays bounded.
 */
import { AccessEvent } from '@app/core';
import { CompiledRule } from '../compiled-rule';
import { EventRef, RefTableReader, RefTableWriter } from '../event-ref';
import { decodeTime, DetectorContext, encodeTime } from './detector';
import { GroupedDetector } from './grouped-detector';

const KNOWN_VALUES_SHOWN = 10;

interface NewValueGroup {
  /** Start of the group's current unbroken history (reset when every value was forgotten). */
  first: number;
  /** Value -> last time seen. */
  values: Map<string, number>;
  lastRef: EventRef;
  lastAlertAt: number;
}

type GroupState = [key: string, first: number, values: [string, number][], lastRef: number, lastAlertAt: number | null];

export class NewValueDetector extends GroupedDetector<NewValueGroup> {
  constructor(rule: CompiledRule, allowedLatenessMs: number) {
    super(rule, Math.max(rule.windowMs, rule.suppressMs), allowedLatenessMs);
  }

  onEvent(event: AccessEvent, ts: number, _watermark: number, ctx: DetectorContext): void {
    const raw = this.rule.valueOf!(event);
    if (raw === undefined || raw === null) return;
    const key = this.rule.groupKeyOf(event);
    if (key === undefined) return;
    const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
    const group = this.groups.get(key);
    if (group === undefined) {
      this.groups.set(key, { first: ts, values: new Map([[value, ts]]), lastRef: ctx.ref(), lastAlertAt: -Infinity });
      return;
    }
    const horizon = ts - this.rule.windowMs;
    const seen = group.values.get(value);
    if (seen !== undefined && seen >= horizon) {
      if (ts > seen) group.values.set(value, ts);
      if (ts >= group.lastRef.ts) group.lastRef = ctx.ref();
      return;
    }
    const known: [string, number][] = [];
    for (const entry of group.values) if (entry[0] !== value && entry[1] >= horizon) known.push(entry);
    if (known.length === 0) {
      // Everything was forgotten: this is a fresh start, exactly as if the group had been evicted.
      group.first = ts;
    } else if (group.first <= ts - this.rule.learnMs) {
      this.alert(event, key, group, ts, value, known, ctx);
    }
    group.values.set(value, ts);
    if (ts < group.first) group.first = ts;
    if (ts >= group.lastRef.ts) group.lastRef = ctx.ref();
  }

  protected expire(group: NewValueGroup, watermark: number): boolean {
    const horizon = watermark - this.rule.windowMs;
    for (const [value, last] of group.values) if (last < horizon) group.values.delete(value);
    return group.values.size === 0 && !this.stillSuppressing(group, watermark);
  }

  protected override entriesOf(g: NewValueGroup): number {
    return g.values.size;
  }

  protected encodeGroup(key: string, g: NewValueGroup, refs: RefTableWriter): GroupState {
    return [key, g.first, [...g.values], refs.indexOf(g.lastRef), encodeTime(g.lastAlertAt)];
  }

  protected decodeGroup(entry: unknown[], refs: RefTableReader): [string, NewValueGroup] {
    const [key, first, values, lastRef, lastAlertAt] = entry as GroupState;
    return [key, { first, values: new Map(values), lastRef: refs.get(lastRef), lastAlertAt: decodeTime(lastAlertAt) }];
  }

  private alert(event: AccessEvent, key: string, group: NewValueGroup, ts: number, value: string, known: [string, number][], ctx: DetectorContext): void {
    this.fireUnlessSuppressed(event, key, group, ts, ctx, () => {
      const current = ctx.ref();
      // Evidence: the group's latest earlier event (its known behaviour) and the one with the new value.
      const refs = group.lastRef.ts <= ts ? [group.lastRef, current] : [current, group.lastRef];
      const knownValues = known
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, KNOWN_VALUES_SHOWN)
        .map(([v]) => v);
      return { windowStartMs: ts - this.rule.windowMs, windowEndMs: ts, refs, context: { newValue: value, knownValues } };
    });
  }
}
