/**
 * The streaming detection engine. The service feeds it every committed event once, in commit
 * order, with its store position; it answers with the alerts that event raised. Everything is in
 * event time (occurredAt): windows slide per rule and group, events up to `allowedLateness` behind
 * the newest one are still placed correctly, and older ones are counted (`lateDropped`) and
 * skipped by windowed rules. State for a group is swept away once the watermark passes its window,
 * so memory follows the traffic inside the windows, not the history.
 *
 * Restarts: `snapshot()` captures state and `lastPosition`; `restore()` on a fresh engine resumes
 * exactly there, and events at or before `lastPosition` are ignored, so replaying from an earlier
 * position is harmless. Alert ids are deterministic, so the same events give the same alerts.
 * Persist the alerts an event raised before (or atomically with) a snapshot that includes it.
 */
import { AccessEvent } from '@app/core';
import { DetectionAlert } from './alert';
import { compileRuleOrThrow, CompiledRule } from './compiled-rule';
import { Detector, DetectorContext } from './detectors/detector';
import { DormantDetector } from './detectors/dormant-detector';
import { MatchDetector } from './detectors/match-detector';
import { NewValueDetector } from './detectors/new-value-detector';
import { SequenceDetector } from './detectors/sequence-detector';
import { WindowDetector } from './detectors/window-detector';
import { parseDuration } from './duration';
import { EventRef, eventRefOf, RefTableReader, RefTableWriter } from './event-ref';
import { parseEventTime } from './event-time';
import { DEFAULT_EVIDENCE_CAP } from './evidence';
import { RuleDefinition } from './rule.schema';
import { isValidTimeZone } from './zone-clock';

export interface DetectionEngineOptions {
  /** How far behind the newest event time an event may be and still count (default 2m). */
  allowedLateness?: string | number;
  /** IANA zone for time-of-day conditions of rules without `timeZone` (default UTC). */
  defaultTimeZone?: string;
  /** Most evidence event ids an alert carries; the first and last always included (default 50). */
  evidenceCap?: number;
  /**
   * When process() is given the server receive time, an occurredAt further than this in the future
   * of it is clamped to it (default 5m), so one event with a wild clock cannot push the watermark
   * ahead and blind the windows.
   */
  maxFutureSkew?: string | number;
}

export interface RuleStats {
  alerts: number;
  suppressed: number;
  groups: number;
}

export interface DetectionStats {
  /** Events evaluated (each position once). */
  processed: number;
  /** Calls for positions at or before lastPosition (replays), ignored. */
  replaysSkipped: number;
  /** Events older than the late allowance: only match rules judged them. */
  lateDropped: number;
  /** Events whose occurredAt could not be parsed (not evaluated). */
  invalidTime: number;
  /** Events whose occurredAt was too far ahead of their receive time and was clamped. */
  futureClamped: number;
  alerts: number;
  suppressed: number;
  /** Groups held in memory across all rules. */
  trackedGroups: number;
  watermark: string | null;
  rules: Record<string, RuleStats>;
}

export const SNAPSHOT_FORMAT = 'detection-engine/v1';

export interface DetectionSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  lastPosition: number;
  maxEventTime: number | null;
  counters: { processed: number; replaysSkipped: number; lateDropped: number; invalidTime: number; futureClamped: number };
  /** Event facts referenced by rule state (ids, times, patient, IP, source): PHI, store it like events. */
  events: unknown[];
  rules: Record<string, { fingerprint: string; state: unknown }>;
}

export interface RestoreReport {
  /** Rules whose state came back. */
  restored: string[];
  /** Rules that start empty: new, or changed since the snapshot (their fingerprint differs). */
  reset: string[];
}

const NO_ALERTS: readonly DetectionAlert[] = Object.freeze([]) as readonly DetectionAlert[];
/** Distinct (category, action) pairs the rule index remembers; beyond it, lookups are computed each time. */
const INDEX_LIMIT = 10_000;

function toMs(value: string | number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`${name} must be a duration of zero or more`);
  return ms;
}

function createDetector(rule: CompiledRule, allowedLatenessMs: number): Detector {
  switch (rule.kind) {
    case 'match':
      return new MatchDetector(rule, allowedLatenessMs);
    case 'threshold':
    case 'cardinality':
      return new WindowDetector(rule, allowedLatenessMs);
    case 'sequence':
      return new SequenceDetector(rule, allowedLatenessMs);
    case 'new_value':
      return new NewValueDetector(rule, allowedLatenessMs);
    case 'dormant':
      return new DormantDetector(rule, allowedLatenessMs);
  }
}

export class DetectionEngine implements DetectorContext {
  readonly evidenceCap: number;
  readonly allowedLatenessMs: number;
  readonly rules: readonly CompiledRule[];
  private readonly detectors: Detector[];
  private readonly maxFutureSkewMs: number;
  private readonly index = new Map<string, Map<string, Detector[]>>();
  private indexSize = 0;

  private lastPos = -1;
  private maxTs = -Infinity;
  private nextSweepAt = -Infinity;
  private counters = { processed: 0, replaysSkipped: 0, lateDropped: 0, invalidTime: 0, futureClamped: 0 };
  /** Events of one group commit share their receive time: parse it once. */
  private lastReceivedText: string | null = null;
  private lastReceivedMs = NaN;

  // The event being processed (DetectorContext).
  private currentEvent: AccessEvent | null = null;
  private currentTs = 0;
  private currentRef: EventRef | null = null;
  position = -1;
  private out: DetectionAlert[] = [];

  constructor(rules: readonly RuleDefinition[], options: DetectionEngineOptions = {}) {
    const timeZone = options.defaultTimeZone ?? 'UTC';
    if (!isValidTimeZone(timeZone)) throw new Error('defaultTimeZone must be an IANA time zone');
    this.allowedLatenessMs = toMs(options.allowedLateness, 120_000, 'allowedLateness');
    this.maxFutureSkewMs = toMs(options.maxFutureSkew, 300_000, 'maxFutureSkew');
    this.evidenceCap = Math.max(2, Math.floor(options.evidenceCap ?? DEFAULT_EVIDENCE_CAP));
    const ids = new Set<string>();
    for (const def of rules) {
      if (ids.has(def.id)) throw new Error(`duplicate rule id ${def.id}`);
      ids.add(def.id);
    }
    this.rules = rules.filter((r) => r.enabled !== false).map((def) => compileRuleOrThrow(def, { defaultTimeZone: timeZone }));
    this.detectors = this.rules.map((rule) => createDetector(rule, this.allowedLatenessMs));
  }

  /** Position of the last event evaluated (-1 before any). */
  get lastPosition(): number {
    return this.lastPos;
  }

  /** Newest event time minus the late allowance (epoch ms), or null before any event. */
  get watermark(): number | null {
    return Number.isFinite(this.maxTs) ? this.maxTs - this.allowedLatenessMs : null;
  }

  /**
   * Evaluates one committed event. Positions must increase; an event at or before lastPosition
   * was already evaluated and is ignored. `receivedAt` (the server receive time) enables the
   * future-skew clamp. Returns the alerts it raised (usually none).
   */
  process(event: AccessEvent, position: number, receivedAt?: string | number): readonly DetectionAlert[] {
    if (position <= this.lastPos) {
      this.counters.replaysSkipped++;
      return NO_ALERTS;
    }
    this.lastPos = position;
    this.counters.processed++;
    let ts = parseEventTime(event.occurredAt);
    if (Number.isNaN(ts)) {
      this.counters.invalidTime++;
      return NO_ALERTS;
    }
    if (receivedAt !== undefined) {
      let received: number;
      if (typeof receivedAt === 'number') received = receivedAt;
      else if (receivedAt === this.lastReceivedText) received = this.lastReceivedMs;
      else {
        received = parseEventTime(receivedAt);
        this.lastReceivedText = receivedAt;
        this.lastReceivedMs = received;
      }
      if (!Number.isNaN(received) && ts > received + this.maxFutureSkewMs) {
        ts = received + this.maxFutureSkewMs;
        this.counters.futureClamped++;
      }
    }
    if (ts > this.maxTs) this.maxTs = ts;
    const watermark = this.maxTs - this.allowedLatenessMs;
    const tooLate = ts < watermark;
    if (tooLate) this.counters.lateDropped++;

    this.currentEvent = event;
    this.currentTs = ts;
    this.currentRef = null;
    this.position = position;
    const candidates = this.candidates(event.category, event.action);
    for (let i = 0; i < candidates.length; i++) {
      const detector = candidates[i];
      if (tooLate && detector.rule.kind !== 'match') continue;
      if (!detector.rule.where(event, ts)) continue;
      detector.onEvent(event, ts, watermark, this);
    }
    this.currentEvent = null;
    this.currentRef = null;
    if (watermark >= this.nextSweepAt) this.sweepDue(watermark);
    if (this.out.length === 0) return NO_ALERTS;
    const alerts = this.out;
    this.out = [];
    return alerts;
  }

  /** DetectorContext: the current event's ref, made once and shared by every rule that keeps it. */
  ref(): EventRef {
    if (this.currentRef === null) this.currentRef = eventRefOf(this.currentEvent!, this.currentTs, this.position);
    return this.currentRef;
  }

  /** DetectorContext: collects an alert for the current process() call. */
  emit(alert: DetectionAlert): void {
    this.out.push(alert);
  }

  /** Groups held in memory across all rules. */
  trackedGroups(): number {
    let n = 0;
    for (const d of this.detectors) n += d.groupCount();
    return n;
  }

  stats(): DetectionStats {
    const rules: Record<string, RuleStats> = {};
    let alerts = 0;
    let suppressed = 0;
    for (const d of this.detectors) {
      rules[d.rule.id] = { alerts: d.counters.alerts, suppressed: d.counters.suppressed, groups: d.groupCount() };
      alerts += d.counters.alerts;
      suppressed += d.counters.suppressed;
    }
    const watermark = this.watermark;
    return {
      ...this.counters,
      alerts,
      suppressed,
      trackedGroups: this.trackedGroups(),
      watermark: watermark === null ? null : new Date(watermark).toISOString(),
      rules,
    };
  }

  /** Everything needed to resume after lastPosition. JSON-safe; contains event facts (PHI). */
  snapshot(): DetectionSnapshot {
    const refs = new RefTableWriter();
    const rules: DetectionSnapshot['rules'] = {};
    for (const d of this.detectors) {
      rules[d.rule.id] = { fingerprint: d.rule.fingerprint, state: d.snapshot(refs) };
    }
    return {
      format: SNAPSHOT_FORMAT,
      lastPosition: this.lastPos,
      maxEventTime: Number.isFinite(this.maxTs) ? this.maxTs : null,
      counters: { ...this.counters },
      events: refs.rows,
      rules,
    };
  }

  /**
   * Replaces this engine's state with a snapshot's. Rules added or changed since the snapshot start
   * empty (listed in `reset`); a rebuild for them means replaying their window from the store.
   */
  restore(snapshot: DetectionSnapshot): RestoreReport {
    if (!snapshot || snapshot.format !== SNAPSHOT_FORMAT) throw new Error(`not a ${SNAPSHOT_FORMAT} snapshot`);
    const refs = new RefTableReader(snapshot.events);
    const report: RestoreReport = { restored: [], reset: [] };
    for (const d of this.detectors) {
      const saved = snapshot.rules[d.rule.id];
      if (saved && saved.fingerprint === d.rule.fingerprint) {
        d.restore(saved.state, refs);
        report.restored.push(d.rule.id);
      } else {
        d.reset();
        report.reset.push(d.rule.id);
      }
    }
    this.lastPos = snapshot.lastPosition;
    this.maxTs = snapshot.maxEventTime ?? -Infinity;
    this.counters = { ...snapshot.counters };
    this.nextSweepAt = Math.min(...this.detectors.map((d) => d.nextSweepAt), Infinity);
    return report;
  }

  private sweepDue(watermark: number): void {
    let next = Infinity;
    for (const d of this.detectors) {
      if (watermark >= d.nextSweepAt) d.sweep(watermark);
      if (d.nextSweepAt < next) next = d.nextSweepAt;
    }
    this.nextSweepAt = next;
  }

  /** Detectors whose rules can match this category and action (the rule index). */
  private candidates(category: string, action: string): readonly Detector[] {
    let byAction = this.index.get(category);
    const cached = byAction?.get(action);
    if (cached) return cached;
    const list = this.detectors.filter((d) => d.rule.mayMatch(category, action));
    if (this.indexSize < INDEX_LIMIT) {
      if (!byAction) {
        byAction = new Map();
        this.index.set(category, byAction);
      }
      byAction.set(action, list);
      this.indexSize++;
    }
    return list;
  }
}
