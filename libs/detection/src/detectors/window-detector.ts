/**
 * Sliding-window aggregation per group: `threshold` (count, or `sum` of a field such as
 * recordCount) and `cardinality` (distinct values such as patient.id). A rule fires for a group
 * when some window of length `window` ending at an event holds >= gte. In-order events update a
 * running aggregate in O(1) amortised; a late event (within the allowance) is inserted in place and
 * the windows it joins are re-evaluated, so the result does not depend on arrival order.
 */
import { AccessEvent } from '@app/core';
import { CompiledRule } from '../compiled-rule';
import { EventRef, RefTableReader, RefTableWriter } from '../event-ref';
import { decodeTime, DetectorContext, encodeTime } from './detector';
import { GroupedDetector, SNAPSHOT_STEP_WORK } from './grouped-detector';
import { TimeBuffer } from './time-buffer';

const enum Mode {
  Count,
  Sum,
  Distinct,
}

type Value = string | number;

/** A group's entries (it is its own time buffer: one object less per group) and running aggregate. */
class WindowGroup extends TimeBuffer<Value> {
  /** Index of the first entry inside the current window (entries before it are kept only for late events). */
  active = 0;
  sum = 0;
  distinct: Map<Value, number> | null;
  lastAlertAt = -Infinity;

  constructor(mode: Mode) {
    super(mode !== Mode.Count);
    this.distinct = mode === Mode.Distinct ? new Map() : null;
  }
}

/** Count mode keeps no per-entry values; everything else reads them. */
function valueAt(buf: TimeBuffer<Value>, i: number): Value {
  return buf.vals === null ? 0 : buf.vals[i];
}

type GroupState = [key: string, ts: number[], refs: number[], vals: Value[], activeOffset: number, lastAlertAt: number | null];

export class WindowDetector extends GroupedDetector<WindowGroup> {
  private readonly mode: Mode;
  private readonly windowMs: number;
  private readonly gte: number;

  constructor(rule: CompiledRule, allowedLatenessMs: number) {
    super(rule, Math.max(rule.windowMs, rule.suppressMs), allowedLatenessMs);
    this.mode = rule.kind === 'cardinality' ? Mode.Distinct : rule.definition.sum ? Mode.Sum : Mode.Count;
    this.windowMs = rule.windowMs;
    this.gte = rule.gte;
  }

  onEvent(event: AccessEvent, ts: number, watermark: number, ctx: DetectorContext): void {
    const key = this.rule.groupKeyOf(event);
    if (key === undefined) return;
    let value: Value = 0;
    if (this.mode !== Mode.Count) {
      const raw = this.rule.valueOf!(event);
      if (this.mode === Mode.Distinct) {
        if (raw === undefined || raw === null) return;
        value = typeof raw === 'number' || typeof raw === 'string' ? raw : JSON.stringify(raw);
      } else {
        value = typeof raw === 'number' && Number.isFinite(raw) ? raw : 0;
      }
    }
    let group = this.groups.get(key);
    if (group === undefined) {
      group = new WindowGroup(this.mode);
      this.groups.set(key, group);
    }
    this.trim(group, watermark);
    const buf = group;
    const ref = ctx.ref();
    if (ts >= buf.lastTs) {
      buf.push(ts, ref, value);
      this.add(group, value);
      const cutoff = ts - this.windowMs;
      while (group.active < buf.end && buf.ts[group.active] < cutoff) {
        this.remove(group, valueAt(buf, group.active));
        group.active++;
      }
      if (this.current(group) >= this.gte) this.fire(event, key, group, group.active, buf.end, ts, ctx);
      return;
    }
    // Late, within the allowance: place it, keep the running window consistent, re-check the windows it joins.
    const windowEnd = buf.lastTs;
    buf.insert(ts, ref, value);
    if (ts >= windowEnd - this.windowMs) this.add(group, value);
    else group.active++;
    this.recheckFrom(event, key, group, ts, ctx);
  }

  protected expire(group: WindowGroup, watermark: number): boolean {
    this.trim(group, watermark);
    return group.size === 0 && !this.stillSuppressing(group, watermark);
  }

  protected override entriesOf(g: WindowGroup): number {
    return g.size;
  }

  protected encodeGroup(key: string, g: WindowGroup, refs: RefTableWriter): GroupState {
    return [
      key,
      g.ts.slice(g.head),
      g.refs.slice(g.head).map((r) => refs.indexOf(r)),
      this.mode === Mode.Count ? [] : g.vals!.slice(g.head),
      g.active - g.head,
      encodeTime(g.lastAlertAt),
    ];
  }

  /** A group of thousands of entries yields every SNAPSHOT_STEP_WORK of them while its refs are written. */
  protected override *encodeGroupSteps(key: string, g: WindowGroup, refs: RefTableWriter): Generator<void, unknown[], void> {
    if (g.size <= SNAPSHOT_STEP_WORK) return this.encodeGroup(key, g, refs);
    const refIdx: number[] = new Array<number>(g.size);
    for (let i = g.head; i < g.end; i++) {
      refIdx[i - g.head] = refs.indexOf(g.refs[i]);
      if ((i - g.head + 1) % SNAPSHOT_STEP_WORK === 0) yield;
    }
    return [key, g.ts.slice(g.head), refIdx, this.mode === Mode.Count ? [] : g.vals!.slice(g.head), g.active - g.head, encodeTime(g.lastAlertAt)] satisfies GroupState;
  }

  protected decodeGroup(entry: unknown[], refs: RefTableReader): [string, WindowGroup] {
    const [key, ts, refIdx, vals, activeOffset, lastAlertAt] = entry as GroupState;
    const g = new WindowGroup(this.mode);
    for (let i = 0; i < ts.length; i++) g.push(ts[i], refs.get(refIdx[i]), this.mode === Mode.Count ? 0 : vals[i]);
    g.active = activeOffset;
    for (let i = g.active; i < g.end; i++) this.add(g, valueAt(g, i));
    g.lastAlertAt = decodeTime(lastAlertAt);
    return [key, g];
  }

  private add(group: WindowGroup, value: Value): void {
    if (this.mode === Mode.Sum) group.sum += value as number;
    else if (this.mode === Mode.Distinct) group.distinct!.set(value, (group.distinct!.get(value) ?? 0) + 1);
  }

  private remove(group: WindowGroup, value: Value): void {
    if (this.mode === Mode.Sum) group.sum -= value as number;
    else if (this.mode === Mode.Distinct) {
      const map = group.distinct!;
      const n = map.get(value)!;
      if (n <= 1) map.delete(value);
      else map.set(value, n - 1);
    }
  }

  private current(group: WindowGroup): number {
    if (this.mode === Mode.Count) return group.end - group.active;
    if (this.mode === Mode.Sum) return group.sum;
    return group.distinct!.size;
  }

  /** Forgets entries no accepted event can share a window with any more. */
  private trim(group: WindowGroup, watermark: number): void {
    const buf = group;
    const horizon = watermark - this.windowMs;
    while (buf.head < buf.end && buf.ts[buf.head] < horizon) {
      if (buf.head === group.active) {
        this.remove(group, valueAt(buf, buf.head));
        group.active++;
      }
      buf.head++;
    }
    const shift = buf.compact();
    group.active -= shift;
    if (buf.size === 0) {
      // Keeps float drift of running sums from outliving the window.
      group.sum = 0;
    }
  }

  /** Windows ending at times in [ts, ts + window] now also hold the late event; find the first that reaches gte. */
  private recheckFrom(event: AccessEvent, key: string, group: WindowGroup, ts: number, ctx: DetectorContext): void {
    const buf = group;
    const stop = buf.upperBound(ts + this.windowMs);
    let e = buf.lowerBound(ts);
    let left = buf.lowerBound(buf.ts[e] - this.windowMs);
    let right = left;
    let sum = 0;
    const distinct = this.mode === Mode.Distinct ? new Map<Value, number>() : null;
    while (e < stop) {
      const end = buf.ts[e];
      while (right < buf.end && buf.ts[right] <= end) {
        const v = valueAt(buf, right++);
        if (this.mode === Mode.Sum) sum += v as number;
        else if (distinct) distinct.set(v, (distinct.get(v) ?? 0) + 1);
      }
      while (buf.ts[left] < end - this.windowMs) {
        const v = valueAt(buf, left++);
        if (this.mode === Mode.Sum) sum -= v as number;
        else if (distinct) {
          const n = distinct.get(v)!;
          if (n <= 1) distinct.delete(v);
          else distinct.set(v, n - 1);
        }
      }
      const value = this.mode === Mode.Count ? right - left : this.mode === Mode.Sum ? sum : distinct!.size;
      if (value >= this.gte) {
        this.fire(event, key, group, left, right, end, ctx);
        return;
      }
      e = right;
    }
  }

  private fire(event: AccessEvent, key: string, group: WindowGroup, from: number, to: number, end: number, ctx: DetectorContext): void {
    this.fireUnlessSuppressed(event, key, group, end, ctx, () => {
      const refs: EventRef[] = group.refs.slice(from, to);
      let distinctCount: number | undefined;
      let sum: number | undefined;
      let priority: number[] | undefined;
      if (this.mode === Mode.Distinct) {
        // Evidence favours the first event of each distinct value: one id per patient touched.
        const seen = new Set<Value>();
        priority = [];
        for (let i = from; i < to; i++) {
          if (!seen.has(group.vals![i])) {
            seen.add(group.vals![i]);
            priority.push(i - from);
          }
        }
        distinctCount = seen.size;
      } else if (this.mode === Mode.Sum) {
        sum = 0;
        for (let i = from; i < to; i++) sum += group.vals![i] as number;
      }
      return { windowStartMs: end - this.windowMs, windowEndMs: end, refs, priority, distinctCount, sum };
    });
  }
}
