/**
 * `sequence` rules: steps in event-time order for the same group within `window`, e.g. at least 5
 * failed logins and then a successful one for the same account. Each step keeps its candidate
 * events; when an event completes the last step, the earlier steps are satisfied greedily from the
 * latest events backwards (which finds a match whenever one exists). A completed sequence consumes
 * the events up to it, so one burst raises one alert.
 *
 * Linked steps (`link` on every step): each buffered event keeps the values of its step's link
 * field (e.g. the name tokens a search looked for), and an earlier step's event counts only when it
 * shares a value with the completing event's link field (e.g. the opened patient's surname token).
 */
import { AccessEvent } from '@app/core';
import { CompiledRule } from '../compiled-rule';
import { EventRef, RefTableReader, RefTableWriter } from '../event-ref';
import { decodeTime, DetectorContext, encodeTime, stateError } from './detector';
import { GroupedDetector } from './grouped-detector';
import { TimeBuffer } from './time-buffer';

/** Link values of a buffered event (linked steps only). */
type LinkValues = string[] | undefined;

/** Per step, the group's candidate events; a step's buffer is made when its first event arrives. */
class SequenceGroup {
  readonly steps: (TimeBuffer<LinkValues> | null)[];
  lastTs = -Infinity;
  lastAlertAt = -Infinity;

  constructor(
    stepCount: number,
    private readonly linked: boolean,
  ) {
    this.steps = new Array<TimeBuffer<LinkValues> | null>(stepCount).fill(null);
  }

  step(k: number): TimeBuffer<LinkValues> {
    let buf = this.steps[k];
    if (buf === null) {
      buf = new TimeBuffer<LinkValues>(this.linked);
      this.steps[k] = buf;
    }
    return buf;
  }

  count(k: number): number {
    const buf = this.steps[k];
    return buf === null ? 0 : buf.size;
  }

  isEmpty(): boolean {
    return this.steps.every((s) => s === null || s.size === 0);
  }
}

type GroupState = [key: string, steps: [ts: number[], refs: number[], links?: string[][]][], lastTs: number | null, lastAlertAt: number | null];

/** A link field's value as the list of values it offers (a token list, or one value). */
function linkValuesOf(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.filter((v) => v !== undefined && v !== null).map(String);
  return [String(value)];
}

function sharesValue(a: LinkValues, b: LinkValues): boolean {
  if (!a || !b) return false;
  for (const v of a) if (b.includes(v)) return true;
  return false;
}

export class SequenceDetector extends GroupedDetector<SequenceGroup> {
  private readonly matched: boolean[];
  private readonly links: (LinkValues | undefined)[];
  private readonly linked: boolean;

  constructor(rule: CompiledRule, allowedLatenessMs: number) {
    super(rule, Math.max(rule.windowMs, rule.suppressMs), allowedLatenessMs);
    this.matched = rule.steps.map(() => false);
    this.links = rule.steps.map(() => undefined);
    this.linked = rule.steps.length > 0 && rule.steps.every((s) => s.link !== undefined);
  }

  onEvent(event: AccessEvent, ts: number, watermark: number, ctx: DetectorContext): void {
    const steps = this.rule.steps;
    let any = false;
    for (let k = 0; k < steps.length; k++) {
      let hit = steps[k].where(event, ts, ctx.facts);
      if (hit && this.linked) {
        // An event with nothing to link by can never be part of a linked sequence.
        const values = linkValuesOf(steps[k].link!(event, ts, ctx.facts));
        this.links[k] = values;
        if (values.length === 0) hit = false;
      }
      this.matched[k] = hit;
      if (hit) any = true;
    }
    if (!any) return;
    const key = this.rule.groupKeyOf(event);
    if (key === undefined) return;
    let group = this.groups.get(key);
    if (group === undefined) {
      group = new SequenceGroup(steps.length, this.linked);
      this.groups.set(key, group);
    }
    this.trim(group, watermark);
    const ref = ctx.ref();
    const late = ts < group.lastTs;
    const last = steps.length - 1;
    let earlierStepHit = false;
    for (let k = 0; k <= last; k++) {
      if (!this.matched[k]) continue;
      group.step(k).insert(ts, ref, this.linked ? this.links[k] : undefined);
      if (k < last) earlierStepHit = true;
    }
    if (ts > group.lastTs) group.lastTs = ts;
    if (this.matched[last] && this.tryComplete(event, key, group, ts, ref, ctx, this.links[last])) return;
    if (late && earlierStepHit) {
      // A late earlier step may complete sequences whose last step already arrived.
      const finals = group.step(last);
      const stop = finals.upperBound(ts + this.rule.windowMs);
      for (let i = finals.lowerBound(ts); i < stop; i++) {
        if (this.tryComplete(event, key, group, finals.ts[i], finals.refs[i], ctx, finals.vals?.[i])) return;
      }
    }
  }

  protected expire(group: SequenceGroup, watermark: number): boolean {
    this.trim(group, watermark);
    return group.isEmpty() && !this.stillSuppressing(group, watermark);
  }

  protected override entriesOf(g: SequenceGroup): number {
    let n = 0;
    for (const b of g.steps) if (b !== null) n += b.size;
    return n;
  }

  protected encodeGroup(key: string, g: SequenceGroup, refs: RefTableWriter): GroupState {
    return [
      key,
      g.steps.map((b) => {
        if (b === null) return this.linked ? [[], [], []] : [[], []];
        const entry: [number[], number[], string[][]?] = [b.ts.slice(b.head), b.refs.slice(b.head).map((r) => refs.indexOf(r))];
        if (this.linked) entry.push(b.vals!.slice(b.head).map((v) => v ?? []));
        return entry;
      }),
      encodeTime(g.lastTs),
      encodeTime(g.lastAlertAt),
    ];
  }

  protected decodeGroup(entry: unknown[], refs: RefTableReader): [string, SequenceGroup] {
    const [key, steps, lastTs, lastAlertAt] = entry as GroupState;
    if (!Array.isArray(steps) || steps.length !== this.rule.steps.length) throw stateError(this.rule, 'step count differs');
    const g = new SequenceGroup(steps.length, this.linked);
    steps.forEach(([ts, refIdx, links], k) => {
      if (this.linked && (!Array.isArray(links) || links.length !== ts.length)) throw stateError(this.rule, 'link values missing');
      for (let i = 0; i < ts.length; i++) g.step(k).push(ts[i], refs.get(refIdx[i]), this.linked ? links![i] : undefined);
    });
    g.lastTs = decodeTime(lastTs);
    g.lastAlertAt = decodeTime(lastAlertAt);
    return [key, g];
  }

  private trim(group: SequenceGroup, watermark: number): void {
    const horizon = watermark - this.rule.windowMs;
    const last = group.steps.length - 1;
    for (let k = 0; k <= last; k++) {
      const buf = group.steps[k];
      if (buf === null) continue;
      // Last-step events are kept only for late earlier steps, which are never older than the watermark.
      const cutoff = k === last ? watermark : horizon;
      while (buf.head < buf.end && buf.ts[buf.head] < cutoff) buf.head++;
      buf.compact();
    }
  }

  /** Tries to complete the sequence with `finalRef` (at `end`) as its last step. */
  private tryComplete(event: AccessEvent, key: string, group: SequenceGroup, end: number, finalRef: EventRef, ctx: DetectorContext, finalLinks: LinkValues): boolean {
    const steps = this.rule.steps;
    for (let k = 0; k < steps.length - 1; k++) if (group.count(k) < steps[k].gte) return false;
    const start = end - this.rule.windowMs;
    const used = new Set<EventRef>([finalRef]);
    const picked: EventRef[][] = [];
    let boundary = end;
    for (let k = steps.length - 2; k >= 0; k--) {
      const buf = group.step(k);
      const chosen: EventRef[] = [];
      for (let i = buf.upperBound(boundary) - 1; i >= buf.head && chosen.length < steps[k].gte; i--) {
        if (buf.ts[i] < start) break;
        const ref = buf.refs[i];
        if (used.has(ref)) continue;
        if (this.linked && !sharesValue(buf.vals![i], finalLinks)) continue;
        used.add(ref);
        chosen.push(ref);
      }
      if (chosen.length < steps[k].gte) return false;
      picked[k] = chosen;
      boundary = chosen[chosen.length - 1].ts;
    }
    // Matched: consume everything up to the completing event, alert or not.
    for (const buf of group.steps) {
      if (buf === null) continue;
      buf.head = buf.upperBound(end);
      buf.compact();
    }
    this.fireUnlessSuppressed(event, key, group, end, ctx, () => ({
      windowStartMs: start,
      windowEndMs: end,
      refs: [...picked.flat(), finalRef].sort((a, b) => a.ts - b.ts || a.position - b.position),
      context: { steps: steps.map((s, k) => ({ name: s.name, count: k === steps.length - 1 ? 1 : picked[k].length })) },
    }));
    return true;
  }
}
