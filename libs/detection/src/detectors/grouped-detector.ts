/**
 * The bookkeeping every rule kind's detector shares: state kept per group key, swept on a
 * schedule once the watermark has made it irrelevant, suppression of repeated alerts per group,
 * and the snapshot envelope `{ nextSweepAt, groups: [...] }`. A rule kind says only how one
 * group expires and how it is written to and read from a snapshot.
 */
import { AccessEvent } from '@app/core';
import { AlertFacts, buildAlert } from '../alert';
import { CompiledRule } from '../compiled-rule';
import { RefTableReader, RefTableWriter } from '../event-ref';
import { decodeTime, Detector, DetectorContext, DetectorCounters, encodeTime, isSuppressed, stateError, sweepInterval } from './detector';

/** A group that remembers when it last alerted (for suppression). */
export interface AlertingGroup {
  lastAlertAt: number;
}

/** What a rule kind says about an alert; the group's identity and the position are filled in. */
export type AlertDraft = Omit<AlertFacts, 'groupKey' | 'groupValues' | 'position' | 'actor' | 'patient' | 'explanation'>;

/**
 * Groups plus their entries encoded between two steps of snapshotSteps (well under a millisecond
 * of work: a window group of a thousand events counts a thousand).
 */
export const SNAPSHOT_STEP_WORK = 256;

/** Runs a step generator to its end and returns its result (the synchronous snapshot). */
export function runToEnd<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

export abstract class GroupedDetector<G> implements Detector {
  readonly counters: DetectorCounters = { alerts: 0, suppressed: 0 };
  nextSweepAt = -Infinity;
  protected groups = new Map<string, G>();
  private readonly interval: number;

  /** `stateLifetimeMs`: how long a group's state can matter (window or suppression). */
  protected constructor(
    readonly rule: CompiledRule,
    stateLifetimeMs: number,
    allowedLatenessMs: number,
  ) {
    this.interval = sweepInterval(stateLifetimeMs, allowedLatenessMs);
  }

  abstract onEvent(event: AccessEvent, ts: number, watermark: number, ctx: DetectorContext): void;

  /** Drops what the watermark has made irrelevant inside the group; true when the whole group can go. */
  protected abstract expire(group: G, watermark: number): boolean;

  /** One group as a JSON-safe tuple that starts with its key. */
  protected abstract encodeGroup(key: string, group: G, refs: RefTableWriter): unknown[];

  /** Entries a group holds (events in its windows): how much encoding it costs, for snapshot steps. */
  protected entriesOf(_group: G): number {
    return 0;
  }

  /**
   * encodeGroup in steps, for kinds whose groups can hold thousands of entries (a window of a busy
   * actor): by default in one step.
   */
  protected *encodeGroupSteps(key: string, group: G, refs: RefTableWriter): Generator<void, unknown[], void> {
    return this.encodeGroup(key, group, refs);
  }

  /** The inverse of encodeGroup. */
  protected abstract decodeGroup(entry: unknown[], refs: RefTableReader): [key: string, group: G];

  sweep(watermark: number): void {
    for (const [key, group] of this.groups) if (this.expire(group, watermark)) this.groups.delete(key);
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
    return runToEnd(this.snapshotSteps(refs));
  }

  *snapshotSteps(refs: RefTableWriter): Generator<void, unknown, void> {
    const groups: unknown[][] = [];
    let work = 0;
    for (const [key, group] of this.groups) {
      groups.push(yield* this.encodeGroupSteps(key, group, refs));
      work += 1 + this.entriesOf(group);
      if (work >= SNAPSHOT_STEP_WORK) {
        work = 0;
        yield;
      }
    }
    return { nextSweepAt: encodeTime(this.nextSweepAt), groups };
  }

  restore(state: unknown, refs: RefTableReader): void {
    this.reset();
    const s = state as { nextSweepAt?: unknown; groups?: unknown };
    if (!s || !Array.isArray(s.groups)) throw stateError(this.rule, 'groups missing');
    this.nextSweepAt = decodeTime(s.nextSweepAt);
    for (const entry of s.groups as unknown[][]) {
      const [key, group] = this.decodeGroup(entry, refs);
      this.groups.set(key, group);
    }
  }

  /** True while the group's last alert still suppresses the rule at `at`. */
  protected stillSuppressing(group: AlertingGroup, at: number): boolean {
    return isSuppressed(group.lastAlertAt, at, this.rule.suppressMs);
  }

  /**
   * Emits an alert for the group completed at `at`, unless its last alert still suppresses it
   * (then it only counts the suppression). `draft` is built only when the alert is emitted.
   */
  protected fireUnlessSuppressed(event: AccessEvent, key: string, group: AlertingGroup, at: number, ctx: DetectorContext, draft: () => AlertDraft): boolean {
    if (!this.rule.when(event, at, ctx.facts)) return false;
    if (this.stillSuppressing(group, at)) {
      this.counters.suppressed++;
      return false;
    }
    if (at > group.lastAlertAt) group.lastAlertAt = at;
    this.emit(event, key, ctx, draft());
    return true;
  }

  /** Emits an alert for the event's group (which completed it). */
  protected emit(event: AccessEvent, key: string, ctx: DetectorContext, draft: AlertDraft): void {
    this.counters.alerts++;
    const facts: AlertFacts = { ...draft, groupKey: key, groupValues: this.rule.groupValuesOf(event), position: ctx.position, actor: event.actor.id };
    // An alert about one access to a patient names the patient and how (un)explained the access was.
    const patient = event.patient?.id;
    if (patient !== undefined && (this.rule.kind === 'match' || this.rule.groupBy.includes('patient.id'))) {
      facts.patient = patient;
      facts.explanation = { ...ctx.facts.explanation() };
    }
    ctx.emit(buildAlert(this.rule, facts, ctx.evidenceCap));
  }
}
