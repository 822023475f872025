/**
 * What every rule kind's detector offers the engine: evaluate one event (already known to pass
 * the rule's `where`), expire state the watermark has passed, count its groups, and save/restore
 * its state. The bookkeeping all kinds share (groups, sweeps, suppression, snapshots) is in
 * grouped-detector.ts.
 */
import { AccessEvent } from '@app/core';
import { DetectionAlert } from '../alert';
import { CompiledRule, GroupValue } from '../compiled-rule';
import { EventFacts } from '../event-facts';
import { EventRef, RefTableReader, RefTableWriter } from '../event-ref';

/** What the engine lends a detector while it handles one event. */
export interface DetectorContext {
  readonly evidenceCap: number;
  /** Position of the event being processed. */
  readonly position: number;
  /** Context of the event being processed (actor, patient, explanation, baselines). */
  readonly facts: EventFacts;
  /** The compact ref of the event being processed (made on first use, shared across rules). */
  ref(): EventRef;
  emit(alert: DetectionAlert): void;
  /**
   * Whether an alert of this rule and group will be dropped as it leaves the engine (an admin's
   * rule exception or a disabled rule: rule-overrides.ts). Budgets such as a match rule's `burst`
   * are not spent on such alerts, so an excepted actor cannot use up (or stand for) a burst.
   */
  silenced(ruleId: string, groupKey: Record<string, GroupValue>): boolean;
}

export interface DetectorCounters {
  alerts: number;
  suppressed: number;
}

export interface Detector {
  readonly rule: CompiledRule;
  readonly counters: DetectorCounters;
  /** Next watermark at which sweep() is due (part of the snapshot so sweeps happen at the same points after a restore). */
  nextSweepAt: number;
  /**
   * Handles an event that passed the rule's where. `watermark` is the engine's (max event time
   * minus the late allowance); nothing older will reach a windowed detector again.
   */
  onEvent(event: AccessEvent, ts: number, watermark: number, ctx: DetectorContext): void;
  /** Drops every group and entry the watermark has made irrelevant. */
  sweep(watermark: number): void;
  groupCount(): number;
  snapshot(refs: RefTableWriter): unknown;
  /**
   * The same state as snapshot(), built in steps: the generator yields every few hundred groups so
   * that the engine can hand the event loop back in between (DetectionEngine.snapshotInTurns). The
   * detector must not change until the generator has returned.
   */
  snapshotSteps(refs: RefTableWriter): Generator<void, unknown, void>;
  restore(state: unknown, refs: RefTableReader): void;
  reset(): void;
}

/** Time since last alert is inside the suppress period (either side, for late events). */
export function isSuppressed(lastAlertAt: number, at: number, suppressMs: number): boolean {
  return lastAlertAt !== -Infinity && Math.abs(at - lastAlertAt) < suppressMs;
}

/** -Infinity (no alert yet) is not JSON; snapshots store null. */
export function encodeTime(ms: number): number | null {
  return Number.isFinite(ms) ? ms : null;
}

export function decodeTime(value: unknown, fallback = -Infinity): number {
  return typeof value === 'number' ? value : fallback;
}

/**
 * How often (in watermark time) a detector sweeps: a quarter of how long its state can live
 * (window or suppression, plus the late allowance), between 1 s and 1 h. A sweep visits every
 * group, so this keeps the cost near five group visits per event while holding at most a
 * quarter more state than strictly needed.
 */
export function sweepInterval(stateLifetimeMs: number, allowedLatenessMs: number): number {
  return Math.min(3_600_000, Math.max(1_000, Math.floor((stateLifetimeMs + allowedLatenessMs) / 4)));
}

export function stateError(rule: CompiledRule, what: string): Error {
  return new Error(`snapshot state for rule ${rule.id} is invalid: ${what}`);
}
