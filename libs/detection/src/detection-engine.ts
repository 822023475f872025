/**
 * The streaming detection engine. The service feeds it every committed event once, in commit
 * order, with its store position; it answers with the alerts that event raised. Everything is in
 * event time (occurredAt): windows slide per rule and group. State for a group is swept away once
 * the watermark passes its window, so memory follows the traffic inside the windows, not the history.
 *
 * Before any rule looks at an event, its context is joined (EventFacts: the actor and the patient
 * as of the event's time, the explanation of the access, the learned baselines); after the rules,
 * successful patient accesses by users teach the baselines (baselines.ts).
 *
 * Late and out-of-order data (watermarks per stream): every stream (a source's integration, or
 * system, and the event category, which is also the Kafka partition) keeps its own newest event
 * time. The engine's watermark is the lowest of the active streams' (those that sent within
 * `sourceIdle` of the processing clock and are at most `maxSourceLag` behind it) minus
 * `allowedLateness`, and it only moves forward; so no single stream can move another's clock (a
 * sender dated minutes ahead moves only its own), and a partition lagging by minutes holds the
 * watermark back instead of being dropped. An event behind the watermark (a nightly batch of
 * yesterday's log, an integration whose clock runs an hour slow) is evaluated in a late lane of its
 * stream: an engine of its own with the same rules, context and baselines, whose windows follow
 * that stream's time. Alert ids are deterministic either way. What still cannot be evaluated (no
 * parsable time, too late even for its lane, no lane free) is counted per source (`unevaluated`)
 * and raises a data-quality alert of its own (rule `data-quality-unevaluated`).
 *
 * Restarts: `snapshot()` captures state and `lastPosition`; `restore()` on a fresh engine resumes
 * exactly there, and events at or before `lastPosition` are ignored, so replaying from an earlier
 * position is harmless. Alert ids are deterministic, so the same events give the same alerts.
 * Persist the alerts an event raised before (or atomically with) a snapshot that includes it.
 */
import { AccessContext, AccessEvent, EMPTY_ACCESS_CONTEXT } from '@app/core';
import { DetectionAlert } from './alert';
import { BaselineBook } from './baselines';
import { compileRuleOrThrow, CompiledRule, GroupValue } from './compiled-rule';
import { EventFacts } from './event-facts';
import { Detector, DetectorContext } from './detectors/detector';
import { runToEnd } from './detectors/grouped-detector';
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
  /** Context joined with every event (default: none, EMPTY_ACCESS_CONTEXT). */
  context?: AccessContext;
  /** A stream further than this behind the processing clock no longer holds the watermark back (default 15m). */
  maxSourceLag?: string | number;
  /** A stream silent for this long (processing clock) no longer holds the watermark back, and its late lane closes (default 10m). */
  sourceIdle?: string | number;
  /** Most late lanes open at once (default 64); late events beyond are counted as unevaluated. */
  maxLanes?: number;
  /** Called with each rule id and event that passed the rule's conditions (rule examples check evidence with it). */
  onMatch?: (ruleId: string, event: AccessEvent) => void;
  /** @internal a late lane: shares its parent's baselines and opens no lanes of its own. */
  lane?: { baselines: BaselineBook };
}

/** Whether an alert of this rule and group will be dropped as it leaves the engine (rule overrides). */
export type AlertSilencer = (ruleId: string, groupKey: Record<string, GroupValue>) => boolean;

/** The built-in data-quality rule: events that could not be evaluated, per source. */
export const DATA_QUALITY_RULE_ID = 'data-quality-unevaluated';
const DATA_QUALITY_RULE = {
  id: DATA_QUALITY_RULE_ID,
  title: 'Audit events that could not be evaluated by detection',
  description:
    'Events from this source could not be evaluated by the detection rules: their time could not be read, or they arrived too late and out of order even for a late lane. Alerts they should have raised may be missing.',
  severity: 'medium',
  kind: 'match',
  enabled: true,
  groupBy: ['source.integration', 'source.system'],
  suppress: '1h',
  runbook: 'data-quality-unevaluated',
  tags: ['data-quality', 'hipaa-164.312(b)'],
  reasons: ['unevaluated-events'],
  examples: { fires: [], quiet: [] },
} as unknown as RuleDefinition;

/** The source an event is counted under (its integration, else its system); bounded text, no PHI. */
export function sourceOf(event: AccessEvent): string {
  return (event.source?.integration ?? event.source?.system ?? 'unknown').slice(0, 100);
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
  /** Events that could not be evaluated by windowed rules (see `unevaluated`; match rules still judged those with a time). */
  lateDropped: number;
  /** Events evaluated in a late lane (behind the watermark of the engine). */
  lateLaned: number;
  /** Open late lanes. */
  lanes: number;
  /** Per source: events that could not be evaluated. */
  unevaluated: Record<string, number>;
  /** Users with learned baselines. */
  baselineUsers: number;
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

export const SNAPSHOT_FORMAT = 'detection-engine/v2';
const SNAPSHOT_FORMAT_V1 = 'detection-engine/v1';

type Counters = { processed: number; replaysSkipped: number; lateDropped: number; invalidTime: number; futureClamped: number; lateLaned?: number };
type StreamState = [key: string, maxTs: number, lastProc: number];

export interface DetectionSnapshot {
  format: typeof SNAPSHOT_FORMAT | typeof SNAPSHOT_FORMAT_V1;
  lastPosition: number;
  maxEventTime: number | null;
  counters: Counters;
  /** Event facts referenced by rule state (ids, times, patient, IP, source): PHI, store it like events. */
  events: unknown[];
  rules: Record<string, { fingerprint: string; state: unknown }>;
  /** v2: the watermark, the processing clock and every stream's newest event time. */
  watermark?: number | null;
  maxProcessed?: number | null;
  streams?: StreamState[];
  unevaluated?: Record<string, number>;
  dataQuality?: unknown;
  /** v2: learned baselines (main engine only). */
  baselines?: unknown;
  /** v2: open late lanes, each an engine snapshot of its own. */
  lanes?: [key: string, lastProc: number, snapshot: DetectionSnapshot][];
}

export interface RestoreReport {
  /** Rules whose state came back. */
  restored: string[];
  /** Rules that start empty: new, or changed since the snapshot (their fingerprint differs). */
  reset: string[];
}

const NO_ALERTS: readonly DetectionAlert[] = Object.freeze([]) as readonly DetectionAlert[];
/** Distinct streams remembered; beyond, the longest-silent ones are forgotten. */
const MAX_STREAMS = 10_000;
/** Distinct sources counted in `unevaluated`; beyond, counted under "other". */
const MAX_SOURCES = 100;

interface Stream {
  maxTs: number;
  lastProc: number;
}

interface Lane {
  engine: DetectionEngine;
  lastProc: number;
}
/** Distinct (category, action, outcome, actor type) keys the rule index remembers; beyond it, lookups are computed each time. */
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
  readonly facts: EventFacts;
  private readonly detectors: Detector[];
  private readonly dataQuality: MatchDetector;
  private readonly maxFutureSkewMs: number;
  private readonly maxSourceLagMs: number;
  private readonly sourceIdleMs: number;
  private readonly maxLanes: number;
  /** The rule index: category -> action -> outcome -> actor type -> detectors (see candidates). */
  private readonly index = new Map<unknown, Map<unknown, Map<unknown, Map<unknown, Detector[]>>>>();
  private indexSize = 0;
  private readonly baselines: BaselineBook;
  private readonly isLane: boolean;
  private readonly onMatch?: (ruleId: string, event: AccessEvent) => void;
  private readonly definitions: readonly RuleDefinition[];
  private readonly options: DetectionEngineOptions;

  private lastPos = -1;
  private maxTs = -Infinity;
  /** Newest processing time seen (receive time, or event time without one). */
  private maxProc = -Infinity;
  private low = -Infinity;
  private streams = new Map<string, Stream>();
  /** Source -> category -> stream key. */
  private readonly streamKeys = new Map<string, Map<string, string>>();
  private lanes = new Map<string, Lane>();
  /** A snapshot is being built in turns (snapshotInTurns): the state must not change meanwhile. */
  private snapshotting = false;
  private alertSilencer: AlertSilencer | null = null;
  private unevaluated = new Map<string, number>();
  private eventsSinceLow = 0;
  private nextSweepAt = -Infinity;
  private counters: Required<Counters> = { processed: 0, replaysSkipped: 0, lateDropped: 0, invalidTime: 0, futureClamped: 0, lateLaned: 0 };
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
    this.options = options;
    this.definitions = rules;
    this.allowedLatenessMs = toMs(options.allowedLateness, 120_000, 'allowedLateness');
    this.maxFutureSkewMs = toMs(options.maxFutureSkew, 300_000, 'maxFutureSkew');
    this.maxSourceLagMs = toMs(options.maxSourceLag, 900_000, 'maxSourceLag');
    this.sourceIdleMs = toMs(options.sourceIdle, 600_000, 'sourceIdle');
    this.maxLanes = Math.max(0, Math.floor(options.maxLanes ?? 64));
    this.isLane = options.lane !== undefined;
    this.baselines = options.lane?.baselines ?? new BaselineBook(timeZone);
    this.facts = new EventFacts(options.context ?? EMPTY_ACCESS_CONTEXT, this.baselines);
    this.onMatch = options.onMatch;
    this.evidenceCap = Math.max(2, Math.floor(options.evidenceCap ?? DEFAULT_EVIDENCE_CAP));
    const ids = new Set<string>();
    for (const def of rules) {
      if (ids.has(def.id)) throw new Error(`duplicate rule id ${def.id}`);
      ids.add(def.id);
    }
    this.rules = rules.filter((r) => r.enabled !== false).map((def) => compileRuleOrThrow(def, { defaultTimeZone: timeZone }));
    this.detectors = this.rules.map((rule) => createDetector(rule, this.allowedLatenessMs));
    this.dataQuality = new MatchDetector(compileRuleOrThrow(DATA_QUALITY_RULE), this.allowedLatenessMs);
  }

  /** Position of the last event evaluated (-1 before any). */
  get lastPosition(): number {
    return this.lastPos;
  }

  /** The lowest active stream's newest event time minus the late allowance (epoch ms), or null before any event. */
  get watermark(): number | null {
    return Number.isFinite(this.low) ? this.low : null;
  }

  /**
   * Evaluates one committed event. Positions must increase; an event at or before lastPosition
   * was already evaluated and is ignored. `receivedAt` (the server receive time) enables the
   * future-skew clamp. Returns the alerts it raised (usually none).
   */
  process(event: AccessEvent, position: number, receivedAt?: string | number): readonly DetectionAlert[] {
    if (this.snapshotting) throw new Error('the engine cannot take events while a snapshot of it is being built');
    if (position <= this.lastPos) {
      this.counters.replaysSkipped++;
      return NO_ALERTS;
    }
    this.lastPos = position;
    this.counters.processed++;
    let received = NaN;
    if (receivedAt !== undefined) {
      if (typeof receivedAt === 'number') received = receivedAt;
      else if (receivedAt === this.lastReceivedText) received = this.lastReceivedMs;
      else {
        received = parseEventTime(receivedAt);
        this.lastReceivedText = receivedAt;
        this.lastReceivedMs = received;
      }
    }
    let ts = parseEventTime(event.occurredAt);
    if (Number.isNaN(ts)) {
      this.counters.invalidTime++;
      // The data-quality alert is dated by the receive time (or the newest time seen); with neither, only counted.
      const at = !Number.isNaN(received) ? received : Number.isFinite(this.maxProc) ? this.maxProc : undefined;
      this.countUnevaluated(event, at, at === undefined);
      return this.flush();
    }
    if (!Number.isNaN(received) && ts > received + this.maxFutureSkewMs) {
      ts = received + this.maxFutureSkewMs;
      this.counters.futureClamped++;
    }
    // Lanes keep the time of their own stream: their processing clock is event time.
    const proc = this.isLane || Number.isNaN(received) ? ts : received;
    if (proc > this.maxProc) this.maxProc = proc;
    if (ts > this.maxTs) this.maxTs = ts;
    const streamKey = this.streamKeyOf(event);
    let stream = this.streams.get(streamKey);
    if (stream === undefined) {
      stream = { maxTs: ts, lastProc: proc };
      this.streams.set(streamKey, stream);
      if (this.streams.size > MAX_STREAMS) this.forgetSilentStreams();
      this.eventsSinceLow = Infinity;
    } else {
      if (ts > stream.maxTs) stream.maxTs = ts;
      if (proc > stream.lastProc) stream.lastProc = proc;
    }
    this.updateWatermark();
    const watermark = this.low;
    if (ts < watermark) {
      if (!this.isLane) return this.processLate(event, position, ts, streamKey, proc);
      this.counters.lateDropped++;
      this.countUnevaluated(event, ts);
    }
    this.evaluate(event, ts, position, ts < watermark);
    if (watermark >= this.nextSweepAt) this.sweepDue(watermark);
    return this.flush();
  }

  /** The stream an event belongs to: its source and category (the key string is made once per pair and reused). */
  private streamKeyOf(event: AccessEvent): string {
    const source = event.source?.integration ?? event.source?.system ?? 'unknown';
    let byCategory = this.streamKeys.get(source);
    if (byCategory === undefined) {
      if (this.streamKeys.size >= MAX_STREAMS) this.streamKeys.clear();
      byCategory = new Map();
      this.streamKeys.set(source, byCategory);
    }
    let key = byCategory.get(event.category);
    if (key === undefined) {
      key = `${sourceOf(event)}\u0000${event.category}`;
      byCategory.set(event.category, key);
    }
    return key;
  }

  /** Runs the rules on one event (`tooLate`: only match rules, windows have moved on) and teaches the baselines. */
  private evaluate(event: AccessEvent, ts: number, position: number, tooLate: boolean): void {
    const watermark = this.low;
    this.currentEvent = event;
    this.currentTs = ts;
    this.currentRef = null;
    this.position = position;
    const facts = this.facts.reset(event, ts);
    const candidates = this.candidates(event);
    // Most accesses are explained: the rules about unexplained ones are skipped without running their conditions.
    let explained: boolean | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const detector = candidates[i];
      if (tooLate && detector.rule.kind !== 'match') continue;
      if (detector.rule.requiresUnexplained && (explained ??= facts.explanation().explained)) continue;
      if (!detector.rule.whereAfterIndex(event, ts, facts)) continue;
      if (this.onMatch) this.onMatch(detector.rule.id, event);
      detector.onEvent(event, ts, watermark, this);
    }
    if (event.patient !== undefined && event.outcome === 'success' && event.actor.type === 'user' && (event.category === 'data_access' || event.category === 'data_modification')) {
      this.baselines.learnAt(event.actor.id, facts.peerKey(), event.patient.id, facts.localDay(), facts.localHour());
    }
    this.currentEvent = null;
    this.currentRef = null;
  }

  /** An event behind the watermark: evaluated in its stream's late lane (opened on demand). */
  private processLate(event: AccessEvent, position: number, ts: number, streamKey: string, proc: number): readonly DetectionAlert[] {
    let lane = this.lanes.get(streamKey);
    if (lane === undefined) {
      this.closeIdleLanes();
      if (this.lanes.size >= this.maxLanes) {
        this.counters.lateDropped++;
        this.countUnevaluated(event, ts);
        // Match rules need no window: they still judge it here.
        this.evaluate(event, ts, position, true);
        return this.flush();
      }
      lane = { engine: this.newLane(), lastProc: proc };
      this.lanes.set(streamKey, lane);
    }
    if (proc > lane.lastProc) lane.lastProc = proc;
    this.counters.lateLaned++;
    const raised = lane.engine.process(event, position, ts);
    this.absorbLane(lane.engine);
    this.rememberActivity(event, ts, position);
    if (raised.length > 0) this.out.push(...raised);
    return this.flush();
  }

  /**
   * A late event is history the main windows need too: an account's activity seen only by a late
   * lane (its stream's partition delivered after the others, e.g. Kafka partitions consumed
   * interleaved) would make its return, on time in the main engine, look like a first appearance.
   * Dormant rules remember it here (no alert from this call; the lane judged the event itself).
   */
  private rememberActivity(event: AccessEvent, ts: number, position: number): void {
    const candidates = this.candidates(event);
    if (!candidates.some((d) => d instanceof DormantDetector)) return;
    this.currentEvent = event;
    this.currentTs = ts;
    this.currentRef = null;
    this.position = position;
    const facts = this.facts.reset(event, ts);
    for (const detector of candidates) {
      if (!(detector instanceof DormantDetector)) continue;
      if (detector.rule.requiresUnexplained && facts.explanation().explained) continue;
      if (detector.rule.whereAfterIndex(event, ts, facts)) detector.remember(event, this);
    }
    this.currentEvent = null;
    this.currentRef = null;
  }

  private newLane(): DetectionEngine {
    const lane = new DetectionEngine(this.definitions, { ...this.options, lane: { baselines: this.baselines }, onMatch: this.onMatch });
    lane.setAlertSilencer(this.alertSilencer);
    return lane;
  }

  /** A lane's unevaluated counts are the engine's (counted once, in the lane). */
  private absorbLane(lane: DetectionEngine): void {
    const counts = lane.takeUnevaluated();
    for (const [source, n] of counts) {
      this.unevaluated.set(source, (this.unevaluated.get(source) ?? 0) + n);
      this.counters.lateDropped += n;
    }
  }

  /** Lane side: hands over (and forgets) what it counted since the last call. */
  private takeUnevaluated(): Map<string, number> {
    const out = this.unevaluated;
    this.unevaluated = new Map();
    return out;
  }

  private closeIdleLanes(): void {
    for (const [key, lane] of this.lanes) if (lane.lastProc < this.maxProc - this.sourceIdleMs) this.lanes.delete(key);
  }

  /**
   * The watermark: lowest newest-event-time of the active streams (and at most the processing
   * clock), minus the allowance; never moves back. Recomputed every event while there are few streams, else every 64 events (a stale, lower
   * watermark only keeps state a little longer).
   */
  private updateWatermark(): void {
    if (this.streams.size > 16 && ++this.eventsSinceLow < 64) return;
    this.eventsSinceLow = 0;
    let min = Infinity;
    let minActive = Infinity;
    const activeSince = this.maxProc - this.sourceIdleMs;
    const behind = this.maxProc - this.maxSourceLagMs;
    for (const s of this.streams.values()) {
      if (s.lastProc < activeSince) continue;
      if (s.maxTs < minActive) minActive = s.maxTs;
      if (s.maxTs >= behind && s.maxTs < min) min = s.maxTs;
    }
    // Nothing current (a replay of history, every stream behind the clock): the lowest sending stream.
    if (min === Infinity) min = minActive === Infinity ? this.maxTs : minActive;
    // Never ahead of the processing clock (the receive time): a sender's future dates cannot move it.
    const low = Math.min(min, this.maxProc) - this.allowedLatenessMs;
    if (low > this.low) this.low = low;
  }

  private forgetSilentStreams(): void {
    const byAge = [...this.streams].sort((a, b) => a[1].lastProc - b[1].lastProc);
    for (let i = 0; i < byAge.length - MAX_STREAMS * 0.9; i++) this.streams.delete(byAge[i][0]);
  }

  /** Counts an event no rule could evaluate under its source, and raises the data-quality alert. */
  private countUnevaluated(event: AccessEvent, at: number | undefined, countOnly = false): void {
    let source = sourceOf(event);
    if (!this.unevaluated.has(source) && this.unevaluated.size >= MAX_SOURCES) source = 'other';
    this.unevaluated.set(source, (this.unevaluated.get(source) ?? 0) + 1);
    if (countOnly || at === undefined) return;
    this.currentEvent = event;
    this.currentTs = at;
    this.currentRef = null;
    this.facts.reset(event, at);
    const before = this.out.length;
    this.dataQuality.onEvent(event, at, this.low, this);
    // The alert is about the source, not about the user or patient of the event that showed the problem.
    for (let i = before; i < this.out.length; i++) {
      delete this.out[i].actor;
      delete this.out[i].patient;
      delete this.out[i].explanation;
    }
    this.currentEvent = null;
  }

  private flush(): readonly DetectionAlert[] {
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

  /** DetectorContext: whether the alert silencer (rule overrides) will drop this rule and group's alert. */
  silenced(ruleId: string, groupKey: Record<string, GroupValue>): boolean {
    return this.alertSilencer !== null && this.alertSilencer(ruleId, groupKey);
  }

  /**
   * Tells the engine (and its late lanes) which alerts will be dropped as they leave it (rule
   * overrides: withRuleOverrides), so budgets such as `burst` are not spent on them.
   */
  setAlertSilencer(silencer: AlertSilencer | null): void {
    this.alertSilencer = silencer;
    for (const lane of this.lanes.values()) lane.engine.setAlertSilencer(silencer);
  }

  /** Groups held in memory across all rules (late lanes included). */
  trackedGroups(): number {
    let n = 0;
    for (const d of this.detectors) n += d.groupCount();
    for (const lane of this.lanes.values()) n += lane.engine.trackedGroups();
    return n;
  }

  /** What the streaming worker reads after every slice for its metrics: the late and unevaluated counters, as stats() has them. */
  progressCounters(): { lateDropped: number; lateLaned: number; unevaluated: ReadonlyMap<string, number> } {
    return { lateDropped: this.counters.lateDropped, lateLaned: this.counters.lateLaned ?? 0, unevaluated: this.unevaluated };
  }

  stats(): DetectionStats {
    const rules: Record<string, RuleStats> = {};
    let alerts = 0;
    let suppressed = 0;
    for (const d of [...this.detectors, this.dataQuality]) {
      rules[d.rule.id] = { alerts: d.counters.alerts, suppressed: d.counters.suppressed, groups: d.groupCount() };
      alerts += d.counters.alerts;
      suppressed += d.counters.suppressed;
    }
    // Alerts raised in lanes count with their rule.
    for (const lane of this.lanes.values()) {
      for (const [id, r] of Object.entries(lane.engine.stats().rules)) {
        const mine = rules[id];
        if (!mine) continue;
        mine.alerts += r.alerts;
        mine.suppressed += r.suppressed;
        alerts += r.alerts;
        suppressed += r.suppressed;
      }
    }
    const watermark = this.watermark;
    return {
      ...this.counters,
      alerts,
      suppressed,
      trackedGroups: this.trackedGroups(),
      watermark: watermark === null ? null : new Date(watermark).toISOString(),
      lanes: this.lanes.size,
      unevaluated: Object.fromEntries(this.unevaluated),
      baselineUsers: this.isLane ? 0 : this.baselines.size,
      rules,
    };
  }

  /** Everything needed to resume after lastPosition. JSON-safe; contains event facts and baselines (PHI). */
  snapshot(): DetectionSnapshot {
    return runToEnd(this.snapshotSteps());
  }

  /**
   * The same snapshot, built in turns of the event loop: after about `budgetMs` of building it
   * yields (setImmediate) so that requests and commits run in between, instead of holding the loop
   * for the whole state (tens of ms with a busy day's windows). Until it resolves the engine must not
   * be fed: process() and restore() throw meanwhile (the streaming worker awaits it in its own loop).
   * The result shares nothing the engine changes later, so it can be serialized while events flow again.
   */
  async snapshotInTurns(budgetMs = 4): Promise<DetectionSnapshot> {
    if (this.snapshotting) throw new Error('a snapshot of this engine is already being built');
    this.snapshotting = true;
    try {
      const steps = this.snapshotSteps();
      let turnStart = performance.now();
      for (;;) {
        const next = steps.next();
        if (next.done) return next.value;
        if (performance.now() - turnStart >= budgetMs) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          turnStart = performance.now();
        }
      }
    } finally {
      this.snapshotting = false;
    }
  }

  /** snapshot() as steps: a yield every few hundred groups or users (see Detector.snapshotSteps). */
  private *snapshotSteps(refs = new RefTableWriter()): Generator<void, DetectionSnapshot, void> {
    const rules: DetectionSnapshot['rules'] = {};
    for (const d of this.detectors) {
      rules[d.rule.id] = { fingerprint: d.rule.fingerprint, state: yield* d.snapshotSteps(refs) };
      yield;
    }
    const dataQuality = yield* this.dataQuality.snapshotSteps(refs);
    const baselines = this.isLane ? undefined : yield* this.baselines.snapshotSteps();
    const lanes: [string, number, DetectionSnapshot][] = [];
    for (const [key, lane] of this.lanes) lanes.push([key, lane.lastProc, yield* lane.engine.snapshotSteps()]);
    return {
      format: SNAPSHOT_FORMAT,
      lastPosition: this.lastPos,
      maxEventTime: Number.isFinite(this.maxTs) ? this.maxTs : null,
      counters: { ...this.counters },
      events: refs.rows,
      rules,
      watermark: Number.isFinite(this.low) ? this.low : null,
      maxProcessed: Number.isFinite(this.maxProc) ? this.maxProc : null,
      streams: [...this.streams].map(([key, st]) => [key, st.maxTs, st.lastProc]),
      unevaluated: Object.fromEntries(this.unevaluated),
      dataQuality,
      ...(this.isLane ? {} : { baselines }),
      lanes,
    };
  }

  /**
   * Replaces this engine's state with a snapshot's. Rules added or changed since the snapshot start
   * empty (listed in `reset`); a rebuild for them means replaying their window from the store.
   * A v1 snapshot (one watermark for every source, no baselines) is taken over as one stream.
   */
  restore(snapshot: DetectionSnapshot): RestoreReport {
    if (this.snapshotting) throw new Error('the engine cannot be restored while a snapshot of it is being built');
    if (!snapshot || (snapshot.format !== SNAPSHOT_FORMAT && snapshot.format !== SNAPSHOT_FORMAT_V1)) throw new Error(`not a ${SNAPSHOT_FORMAT} snapshot`);
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
    this.counters = { lateLaned: 0, ...snapshot.counters };
    this.streams = new Map((snapshot.streams ?? []).map(([key, maxTs, lastProc]) => [key, { maxTs, lastProc }]));
    this.maxProc = snapshot.maxProcessed ?? this.maxTs;
    this.low = snapshot.watermark ?? (Number.isFinite(this.maxTs) ? this.maxTs - this.allowedLatenessMs : -Infinity);
    this.unevaluated = new Map(Object.entries(snapshot.unevaluated ?? {}));
    this.dataQuality.reset();
    if (snapshot.dataQuality !== undefined) this.dataQuality.restore(snapshot.dataQuality, refs);
    if (!this.isLane) this.baselines.restore(snapshot.baselines);
    this.lanes = new Map();
    for (const [key, lastProc, saved] of snapshot.lanes ?? []) {
      const engine = this.newLane();
      engine.restore(saved);
      this.lanes.set(key, { engine, lastProc });
    }
    this.eventsSinceLow = Infinity;
    this.nextSweepAt = Math.min(...this.detectors.map((d) => d.nextSweepAt), this.dataQuality.nextSweepAt, Infinity);
    return report;
  }

  private sweepDue(watermark: number): void {
    let next = Infinity;
    for (const d of [...this.detectors, this.dataQuality]) {
      if (watermark >= d.nextSweepAt) d.sweep(watermark);
      if (d.nextSweepAt < next) next = d.nextSweepAt;
    }
    this.nextSweepAt = next;
    if (!this.isLane) this.closeIdleLanes();
  }

  /**
   * Detectors whose rules can match the event's category, action, outcome and actor type (the rule
   * index): the conditions on those fields that the index decides are not checked again
   * (CompiledRule.whereAfterIndex).
   */
  private candidates(event: AccessEvent): readonly Detector[] {
    const category: unknown = event.category;
    const action: unknown = event.action;
    const outcome: unknown = event.outcome;
    const actorType: unknown = (event.actor as { type?: unknown } | undefined)?.type;
    let byAction = this.index.get(category);
    let byOutcome = byAction?.get(action);
    let byType = byOutcome?.get(outcome);
    const cached = byType?.get(actorType);
    if (cached) return cached;
    const list = this.detectors.filter((d) => d.rule.mayMatch(category, action, outcome, actorType));
    if (this.indexSize < INDEX_LIMIT) {
      if (!byAction) this.index.set(category, (byAction = new Map()));
      if (!byOutcome) byAction.set(action, (byOutcome = new Map()));
      if (!byType) byOutcome.set(outcome, (byType = new Map()));
      byType.set(actorType, list);
      this.indexSize++;
    }
    return list;
  }
}
