/**
 * Streaming detection: tails the event store by global commit position and feeds every committed
 * event to the engine exactly once, in commit order (the engine works in event time). Woken by the
 * chain writer right after each durable group commit, so there is no polling delay; it reads in
 * slices and yields to the event loop (setImmediate) after at most `turnBudgetMs` of work, so
 * ingest and HTTP stay responsive while it catches up.
 *
 * Exactly once across crashes: each slice's alerts are stored (idempotently, by deterministic id)
 * and, every `snapshotEveryEvents` events or `snapshotEveryMs` (and on stop), the engine snapshot
 * with the position it covers, in ONE transaction. A restart restores the snapshot and replays
 * from its position; the replayed alerts have the same ids and are dropped by the store. If a
 * commit fails, the engine is rebuilt from the last stored snapshot and the slice is retried, so
 * no alert is skipped because the engine moved ahead of what was stored.
 *
 * Snapshots are big (the state of every window). The engine builds them in turns of the event
 * loop (DetectionEngine.snapshotInTurns: the worker feeds it nothing meanwhile), the store
 * serializes them in turns too and writes them off it when it can (DetectionProgressStore.saveSnapshot),
 * after the alerts they cover were committed; one is in flight at a time, and stop() waits for it
 * before writing the final one.
 *
 * Reading events back from the store costs more than evaluating them (decrypting sealed fields,
 * parsing JSON), so the worker also keeps the events the writer just committed (`remember`, fed by
 * the CommitFeed, ChainWriter.onCommit): it reads only positions and ids from the store and takes each event from
 * there, reading full records only for what it did not see committed (after a restart, a backlog
 * beyond `recentCap`, or rows another process wrote). Commit order and positions still come from
 * the store, so the result is the same either way.
 *
 * When the store tells the positions it gave a group (the embedded store does: `rememberAt`), the
 * worker does not even read positions and ids: a group that starts right after what the worker has
 * consumed is evaluated as it was handed over. A group after a gap (positions the worker was not
 * told about: a restart, a group dropped beyond `recentCap`, another process) makes it read the
 * store from its position as above, pairing what it reads with the handed events by position.
 */
import { AccessEvent } from '@app/core';
import { PositionedEvent } from '@app/storage';
import { DetectionAlert } from '../alert';
import { DetectionEngine, DetectionSnapshot, RestoreReport } from '../detection-engine';
import { DetectionMetrics } from './detection-metrics';
import type { CommittedEventSource } from './committed-event-source.port';
import type { DetectionProgressStore } from './detection-progress-store.port';

/** A committed event as the chain writer reports it (ChainedRecord). */
export interface CommittedEvent {
  event: AccessEvent;
  receivedAt: string;
}

/** A committed group with its positions (rememberAt); `next`: the first of `events` not taken yet. */
interface HandedGroup {
  first: number;
  last: number;
  events: readonly PositionedEvent[];
  next: number;
}

/** Facts only (no PHI): for logs. */
export interface DetectionLog {
  info(msg: string, fields?: Record<string, string | number | boolean | null>): void;
  warn(msg: string, fields?: Record<string, string | number | boolean | null>): void;
}

export interface DetectionWorkerOptions {
  /** Events read and evaluated per slice (default 1000). */
  sliceEvents?: number;
  /**
   * While behind, slices follow each other without yielding until this much time (ms) has passed
   * in one turn of the event loop (default 20): enough to keep up with group commits that each
   * carry thousands of events, short enough for HTTP to stay responsive.
   */
  turnBudgetMs?: number;
  /** Persist a snapshot after at most this many evaluated events ... */
  snapshotEveryEvents: number;
  /** ... or this long (ms) after the previous one, whichever first. */
  snapshotEveryMs: number;
  /** Wait before retrying after a failed read or commit (default 1000 ms). */
  retryDelayMs?: number;
  /**
   * The engine snapshot is built in turns of the event loop of at most about this long (ms, default 4;
   * 0 yields after every step).
   */
  snapshotTurnMs?: number;
  /** Most committed events kept in memory for evaluation (default 100,000); beyond, they are read back. */
  recentCap?: number;
  clock?: () => number;
}

export interface DetectionStatus {
  running: boolean;
  /** Global position of the last evaluated event (-1 before any). */
  position: number;
  /** Last committed position of the store, as of the last slice or status call. */
  headPosition: number;
  lagEvents: number;
  /** Engine watermark (newest event time minus the allowed lateness), RFC 3339. */
  watermark: string | null;
  evaluated: number;
  lateDropped: number;
  /** Events evaluated in late lanes, and lanes open now. */
  lateLaned: number;
  lanes: number;
  /** Per source: events that could not be evaluated (no PHI: integration or system names). */
  unevaluated: Record<string, number>;
  alertsStored: number;
  lastSnapshotPosition: number | null;
}

/** A stable error code (SQLITE_FULL, ECONNREFUSED …) or null: never a message, which could carry content. */
function errorCodeOf(error: unknown): string | null {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
  const fromMessage = /\b(SQLITE_[A-Z_]+)\b/.exec((error as Error)?.message ?? '');
  return fromMessage ? fromMessage[1] : null;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A snapshot serializes (and seals) the whole engine state: with big windows at high rates that
 * takes a while on the event loop. Whatever the settings, snapshots are spaced at least this many
 * times their last cost apart (at most ~2% of the time), and replay after a crash stays bounded.
 */
const SNAPSHOT_COST_FACTOR = 50;

/** Longest stretch (ms) the engine snapshot is built in before the event loop gets a turn (default). */
const SNAPSHOT_TURN_MS = 4;

export class DetectionWorker {
  private engine: DetectionEngine;
  private readonly sliceEvents: number;
  private readonly turnBudgetMs: number;
  private readonly retryDelayMs: number;
  private readonly snapshotTurnMs: number;
  private readonly clock: () => number;
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wakeRequested = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** The failure being retried (logged once), until a slice succeeds again. */
  private failing: { errorClass: string; code: string | null; attempts: number } | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private sinceSnapshot = 0;
  private lastSnapshotAt = 0;
  /** Duration (ms) of the last snapshot: serialize, seal and write. */
  private snapshotCostMs = 0;
  private lastSnapshotPosition: number | null = null;
  /** The snapshot being saved in the background (DetectionProgressStore.saveSnapshot), if any. */
  private snapshotInFlight: Promise<void> | null = null;
  private headPosition = -1;
  private lateSeen = 0;
  private lanedSeen = 0;
  private unevaluatedSeen = new Map<string, number>();
  private alertsStored = 0;
  private idleWaiters: (() => void)[] = [];
  /** Events committed but not evaluated yet, by id (see `remember`). */
  private readonly recent = new Map<string, CommittedEvent>();
  private readonly recentCap: number;
  /** Groups committed with their positions, oldest first, not fully evaluated yet (see `rememberAt`). */
  private handed: HandedGroup[] = [];
  private handedEvents = 0;
  /**
   * The last position whose record the worker has consumed (evaluated, or known not to be evaluated:
   * the access log), when it is at or after the engine's position and every position in between
   * came in handed groups; -1 when unknown.
   */
  private consumedThrough = -1;

  /** `createEngine` builds a fresh engine with the loaded rules (also used to rebuild after a failed commit). */
  constructor(
    private readonly createEngine: () => DetectionEngine,
    private readonly source: CommittedEventSource,
    private readonly progress: DetectionProgressStore,
    private readonly options: DetectionWorkerOptions,
    private readonly metrics?: DetectionMetrics,
    private readonly log?: DetectionLog,
  ) {
    this.engine = createEngine();
    this.sliceEvents = Math.max(1, options.sliceEvents ?? 1000);
    this.turnBudgetMs = Math.max(0, options.turnBudgetMs ?? 20);
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.snapshotTurnMs = Math.max(0, options.snapshotTurnMs ?? SNAPSHOT_TURN_MS);
    this.clock = options.clock ?? Date.now;
    this.recentCap = options.recentCap ?? 100_000;
  }

  /**
   * Events the writer just committed (only those the source returns: not the access log). Saves
   * reading them back; ignored when the worker is far behind.
   */
  remember(records: readonly CommittedEvent[]): void {
    if (this.stopped || this.recent.size + records.length > this.recentCap) return;
    for (const r of records) this.recent.set(r.event.id, r);
  }

  /**
   * A group the writer just committed, with the positions the store gave it: `events` are the ones
   * the worker evaluates (positions ascending, within first..last; the access log's records left
   * out), `first`..`last` every position the group took. Saves reading anything back while the
   * groups follow each other; ignored when the worker is far behind (it reads the store then).
   */
  rememberAt(events: readonly PositionedEvent[], first: number, last: number): void {
    if (this.stopped || last < first || this.handedEvents + this.recent.size + events.length > this.recentCap) return;
    const newest = this.handed.length > 0 ? this.handed[this.handed.length - 1].last : -1;
    if (first <= newest) return; // not after what is held: the store is read for it instead
    this.handed.push({ first, last, events, next: 0 });
    this.handedEvents += events.length;
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** Restores the last snapshot (if any) and starts catching up. */
  start(): RestoreReport | null {
    const report = this.restoreFromStore();
    this.stopped = false;
    this.lastSnapshotAt = this.clock();
    this.wake();
    return report;
  }

  /** New events were committed (CommitFeed.onCommit): evaluate them as soon as the loop can. */
  wake(): void {
    if (this.stopped) return;
    if (this.loop) {
      this.wakeRequested = true;
      return;
    }
    if (this.retryTimer) return; // a retry is scheduled; it will read everything new
    this.loop = this.drain();
  }

  /** Stops after the slice in progress and persists a final snapshot. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    this.recent.clear();
    this.forgetHanded();
    if (this.loop) await this.loop;
    if (this.snapshotInFlight) await this.snapshotInFlight;
    // The last one is written right here: nothing else runs any more, and it must be on disk before close.
    if (this.sinceSnapshot > 0) await this.persistSnapshot('stop', false);
    await this.progress.close();
  }

  /** Resolves once every event committed before the call has been evaluated (or the worker stops). */
  async caughtUp(): Promise<void> {
    const target = await this.source.lastPosition();
    while (!this.stopped && this.engine.lastPosition < target) {
      this.wake();
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async status(): Promise<DetectionStatus> {
    try {
      this.headPosition = Math.max(this.headPosition, await this.source.lastPosition());
    } catch {
      /* store closed: report what we know */
    }
    const stats = this.engine.stats();
    const position = this.engine.lastPosition;
    return {
      running: !this.stopped,
      position,
      headPosition: this.headPosition,
      lagEvents: Math.max(0, this.headPosition - position),
      watermark: stats.watermark,
      evaluated: stats.processed,
      lateDropped: stats.lateDropped,
      lateLaned: stats.lateLaned,
      lanes: stats.lanes,
      unevaluated: stats.unevaluated,
      alertsStored: this.alertsStored,
      lastSnapshotPosition: this.lastSnapshotPosition,
    };
  }

  private async drain(): Promise<void> {
    let turnStarted = performance.now();
    try {
      for (;;) {
        if (this.stopped) return;
        this.wakeRequested = false;
        const { page, exhausted } = await this.readPage(this.engine.lastPosition);
        if (page.length === 0) {
          if (this.wakeRequested) continue;
          // Everything committed is evaluated: whatever is left was never going to be read.
          this.recent.clear();
          this.forgetHanded();
          this.headPosition = Math.max(this.headPosition, this.engine.lastPosition);
          this.metrics?.lagEvents.set(0);
          this.metrics?.lagSeconds.set(0);
          return;
        }
        await this.evaluate(page, exhausted);
        if (this.failing) {
          this.log?.info('detection resumed', { failedAttempts: this.failing.attempts, errorClass: this.failing.errorClass, code: this.failing.code });
          this.failing = null;
        }
        if (exhausted && !this.wakeRequested) {
          // Caught up as of the read, and nothing committed since (no wake-up): done until the next one.
          this.recent.clear();
          this.forgetHanded();
          this.metrics?.lagEvents.set(0);
          this.metrics?.lagSeconds.set(0);
          return;
        }
        if (page.length < this.sliceEvents || performance.now() - turnStarted >= this.turnBudgetMs) {
          await yieldToEventLoop();
          turnStarted = performance.now();
        }
      }
    } catch (error) {
      this.recoverAfterFailure(error);
    } finally {
      this.loop = null;
      for (const w of this.idleWaiters.splice(0)) w();
      if (!this.stopped && this.sinceSnapshot > 0 && !this.retryTimer) this.scheduleIdleSnapshot();
    }
  }

  /** The next slice: from the remembered events when they cover its start, else read in full. */
  /**
   * `exhausted`: the page holds everything the store had after `after` when it was read (it answered
   * fewer rows than asked). Anything committed since comes with a wake-up, so the loop need not read
   * again to find nothing (one query a group commit saved with single events).
   */
  private async readPage(after: number): Promise<{ page: PositionedEvent[]; exhausted: boolean }> {
    if (this.handed.length > 0) {
      const taken = this.takeHanded(after);
      if (taken) return taken;
      return this.readAlongHanded(after);
    }
    if (this.recent.size > 0) {
      const ids = await this.source.readIdsSince(after, this.sliceEvents);
      const page: PositionedEvent[] = [];
      for (const { position, id } of ids) {
        const hit = this.recent.get(id);
        if (!hit) break;
        page.push({ position, receivedAt: hit.receivedAt, event: hit.event });
      }
      if (page.length > 0 || ids.length === 0) {
        for (const r of page) this.recent.delete(r.event.id);
        return { page, exhausted: ids.length < this.sliceEvents && page.length === ids.length };
      }
    }
    const page = await this.source.readSince(after, this.sliceEvents);
    if (this.recent.size > 0) for (const r of page) this.recent.delete(r.event.id);
    return { page, exhausted: page.length < this.sliceEvents };
  }

  /**
   * The next slice from the handed groups alone, when they continue what was consumed (no read); null
   * after a gap. `exhausted`: every handed group is consumed (anything committed since comes with a wake-up).
   */
  private takeHanded(after: number): { page: PositionedEvent[]; exhausted: boolean } | null {
    let through = this.consumedThrough >= after ? this.consumedThrough : after;
    const page: PositionedEvent[] = [];
    while (this.handed.length > 0 && page.length < this.sliceEvents) {
      const group = this.handed[0];
      if (group.last <= through) {
        this.dropFirstHanded();
        continue;
      }
      if (group.first > through + 1) break; // positions nobody handed over: read the store
      const events = group.events;
      while (group.next < events.length && page.length < this.sliceEvents) {
        const r = events[group.next++];
        if (r.position > through) page.push(r);
      }
      if (group.next < events.length) break; // the slice is full
      through = group.last;
      this.dropFirstHanded();
    }
    // `through` is consumed once the page is evaluated (drain evaluates what it is given, or rebuilds and forgets).
    this.consumedThrough = through;
    // Nothing to evaluate before a gap (or nothing at all): read the store, so that what follows the gap is not
    // left waiting for the next commit.
    if (page.length === 0 && (this.handed.length > 0 || through === after)) return null;
    return { page, exhausted: this.handed.length === 0 };
  }

  /**
   * After a gap: positions and ids from the store, paired with the handed events by position (and
   * id); full records for what was not handed over, as with `remember`.
   */
  private async readAlongHanded(after: number): Promise<{ page: PositionedEvent[]; exhausted: boolean }> {
    this.consumedThrough = -1;
    const ids = await this.source.readIdsSince(after, this.sliceEvents);
    const page: PositionedEvent[] = [];
    let g = 0;
    let k = 0;
    for (const { position, id } of ids) {
      while (g < this.handed.length && this.handed[g].last < position) {
        g++;
        k = 0;
      }
      const group = this.handed[g];
      if (!group || group.first > position) break;
      while (k < group.events.length && group.events[k].position < position) k++;
      const hit = group.events[k];
      if (!hit || hit.position !== position || hit.event.id !== id) break;
      page.push(hit);
    }
    // Read up to the last event of a handed group: the group's positions after it (the access log's) are known too.
    const end = this.handed[g];
    if (page.length > 0 && page.length === ids.length && end && end.events.length > 0 && page[page.length - 1] === end.events[end.events.length - 1]) this.consumedThrough = end.last;
    if (page.length > 0 || ids.length === 0) return { page, exhausted: ids.length < this.sliceEvents && page.length === ids.length };
    const read = await this.source.readSince(after, this.sliceEvents);
    return { page: read, exhausted: read.length < this.sliceEvents };
  }

  private dropFirstHanded(): void {
    const group = this.handed.shift()!;
    this.handedEvents -= group.events.length;
  }

  private forgetHanded(): void {
    this.handed = [];
    this.handedEvents = 0;
  }

  private async evaluate(page: readonly PositionedEvent[], exhausted = false): Promise<void> {
    const engine = this.engine;
    let alerts: DetectionAlert[] | null = null;
    for (let i = 0; i < page.length; i++) {
      const r = page[i];
      const raised = engine.process(r.event, r.position, r.receivedAt);
      if (raised.length > 0) (alerts ??= []).push(...raised);
    }
    this.sinceSnapshot += page.length;
    const now = this.clock();
    const elapsed = now - this.lastSnapshotAt;
    const snapshotDue =
      !this.snapshotInFlight &&
      (this.sinceSnapshot >= this.options.snapshotEveryEvents || elapsed >= this.options.snapshotEveryMs) &&
      elapsed >= SNAPSHOT_COST_FACTOR * this.snapshotCostMs;
    const started = performance.now();
    // Built in turns of the event loop (requests and group commits run in between); this loop feeds
    // the engine nothing until it is done, so the snapshot is exactly the state at the page's end.
    const snapshot = snapshotDue ? await engine.snapshotInTurns(this.snapshotTurnMs) : null;
    // The slice's alerts are committed first, so a snapshot saved in the background never runs ahead of
    // them; without a snapshot to write with them, waiting for the write lock does not hold the event loop.
    const results = await this.progress.commitWhenFree(alerts ?? [], new Date(now).toISOString());
    if (snapshot) this.saveInBackground(snapshot, now, performance.now() - started);

    // The counters only (stats() builds every rule's figures: too much for every group commit).
    const counts = engine.progressCounters();
    const last = page[page.length - 1];
    // An exhausted page ended at the store's head as of its read: no need to ask for it again.
    this.headPosition = Math.max(this.headPosition, exhausted ? last.position : await this.source.lastPosition());
    const lag = Math.max(0, this.headPosition - last.position);
    if (this.metrics) {
      this.metrics.eventsEvaluated.inc(page.length);
      if (counts.lateDropped > this.lateSeen) this.metrics.lateEventsDropped.inc(counts.lateDropped - this.lateSeen);
      if (counts.lateLaned > this.lanedSeen) this.metrics.lateEventsLaned.inc(counts.lateLaned - this.lanedSeen);
      for (const [source, n] of counts.unevaluated) {
        const seen = this.unevaluatedSeen.get(source) ?? 0;
        if (n > seen) this.metrics.unevaluatedEvents.inc({ source }, n - seen);
      }
      this.metrics.position.set(last.position);
      this.metrics.trackedGroups.set(engine.trackedGroups());
      this.metrics.lagEvents.set(lag);
      this.metrics.lagSeconds.set(lag > 0 ? Math.max(0, (now - Date.parse(last.receivedAt)) / 1000) : 0);
    }
    this.lateSeen = counts.lateDropped;
    this.lanedSeen = counts.lateLaned;
    if (counts.unevaluated.size > 0 || this.unevaluatedSeen.size > 0) this.unevaluatedSeen = new Map(counts.unevaluated);
    for (const result of results) {
      if (!result.created) continue;
      this.alertsStored++;
      this.metrics?.alertsRaised.inc({ rule: result.record.ruleId, severity: result.record.severity });
      this.metrics?.alertsBySeverity.inc({ severity: result.record.severity });
    }
  }

  private snapshotTaken(position: number, now: number, costMs: number): void {
    this.sinceSnapshot = 0;
    this.lastSnapshotAt = now;
    this.snapshotSaved(position, costMs);
  }

  /**
   * Saves `snapshot` through the store's background path; `syncMs` is what taking it cost so far.
   * Counting restarts now (events evaluated meanwhile count towards the next one). The cost that
   * spaces snapshots is the whole time until the snapshot is durable, threads included: off the event
   * loop it still takes CPU and the write lock, so it stays at a few percent of the time.
   */
  private saveInBackground(snapshot: DetectionSnapshot, now: number, syncMs: number): void {
    this.sinceSnapshot = 0;
    this.lastSnapshotAt = now;
    const started = performance.now() - syncMs;
    this.snapshotInFlight = this.progress.saveSnapshot(snapshot, new Date(now).toISOString())
      .then(
        () => this.snapshotSaved(snapshot.lastPosition, performance.now() - started),
        (error) => {
          this.log?.warn('detection snapshot failed', { reason: 'background', errorClass: (error as Error)?.constructor?.name ?? 'unknown' });
          this.sinceSnapshot = Math.max(1, this.sinceSnapshot); // so that the next one is not skipped as idle
        },
      )
      .finally(() => {
        this.snapshotInFlight = null;
        if (!this.stopped && !this.loop && this.sinceSnapshot > 0) this.scheduleIdleSnapshot();
      });
  }

  private snapshotSaved(position: number, costMs: number): void {
    this.lastSnapshotPosition = position;
    this.snapshotCostMs = costMs;
    this.metrics?.snapshots.inc();
    this.metrics?.snapshotSeconds.set(costMs / 1000);
  }

  private async persistSnapshot(reason: string, background = true): Promise<void> {
    if (this.snapshotInFlight) return; // it re-arms the idle snapshot when it is done
    try {
      const now = this.clock();
      const started = performance.now();
      if (background) {
        const snapshot = await this.engine.snapshotInTurns(this.snapshotTurnMs);
        this.saveInBackground(snapshot, now, performance.now() - started);
        return;
      }
      // stop(): nothing else runs any more; taken at once.
      const snapshot = this.engine.snapshot();
      const committed = this.progress.commit([], new Date(now).toISOString(), snapshot);
      if (!Array.isArray(committed)) await committed;
      this.snapshotTaken(snapshot.lastPosition, now, performance.now() - started);
    } catch (error) {
      this.log?.warn('detection snapshot failed', { reason, errorClass: (error as Error)?.constructor?.name ?? 'unknown' });
    }
  }

  /** While idle, the snapshot still follows within snapshotEveryMs, bounding the replay after a crash. */
  private scheduleIdleSnapshot(): void {
    if (this.snapshotTimer) return;
    const gap = Math.max(this.options.snapshotEveryMs, SNAPSHOT_COST_FACTOR * this.snapshotCostMs);
    const due = Math.max(0, this.lastSnapshotAt + gap - this.clock());
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = null;
      if (this.stopped || this.loop || this.sinceSnapshot === 0) return;
      // It takes the loop's place while the snapshot is built in turns: a commit meanwhile only asks
      // for a wake-up (the engine must not be fed until the snapshot is complete), served right after.
      this.loop = this.idleSnapshot();
    }, due);
    this.snapshotTimer.unref();
  }

  /** The idle snapshot in the loop's place (see scheduleIdleSnapshot). */
  private async idleSnapshot(): Promise<void> {
    // Nothing before this line may wake the loop: `this.loop` is set once this function has returned its promise.
    await Promise.resolve();
    try {
      await this.persistSnapshot('interval');
    } finally {
      this.loop = null;
      for (const w of this.idleWaiters.splice(0)) w();
      if (this.wakeRequested && !this.stopped) {
        this.wakeRequested = false;
        this.wake();
      }
    }
  }

  /**
   * A read or commit failed: the engine may be ahead of what was stored, so rebuild it from the
   * last stored snapshot and retry later. Alerts stored since then come back with the same ids.
   */
  private recoverAfterFailure(error: unknown): void {
    if (this.stopped) return;
    // Say why (the error's class and code, e.g. SQLITE_FULL: never content), once per run of the same
    // failure: a full disk must not log a line per retry. `detection resumed` ends the run.
    const errorClass = (error as Error)?.constructor?.name ?? 'unknown';
    const code = errorCodeOf(error);
    if (this.failing?.errorClass === errorClass && this.failing.code === code) this.failing.attempts++;
    else {
      this.failing = { errorClass, code, attempts: 1 };
      this.log?.warn('detection slice failed; retrying from the last snapshot', { errorClass, code, retryMs: this.retryDelayMs });
    }
    try {
      this.restoreFromStore();
    } catch {
      /* the store is unusable right now; the retry will try again */
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.wake();
    }, this.retryDelayMs);
    this.retryTimer.unref();
  }

  private restoreFromStore(): RestoreReport | null {
    this.engine = this.createEngine();
    this.consumedThrough = -1;
    this.sinceSnapshot = 0;
    const snapshot = this.progress.loadSnapshot();
    this.lateSeen = 0;
    this.lanedSeen = 0;
    this.unevaluatedSeen = new Map();
    if (!snapshot) {
      this.lastSnapshotPosition = null;
      return null;
    }
    try {
      const report = this.engine.restore(snapshot);
      this.lastSnapshotPosition = snapshot.lastPosition;
      this.lateSeen = snapshot.counters.lateDropped;
      this.lanedSeen = snapshot.counters.lateLaned ?? 0;
      this.unevaluatedSeen = new Map(Object.entries(snapshot.unevaluated ?? {}));
      return report;
    } catch (error) {
      // An unreadable snapshot: start over from the first event (alerts are idempotent, so this only costs time).
      this.log?.warn('detection snapshot unusable; re-evaluating from the first event', { errorClass: (error as Error)?.constructor?.name ?? 'unknown' });
      this.engine = this.createEngine();
      this.lastSnapshotPosition = null;
      return null;
    }
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.retryTimer = null;
    this.snapshotTimer = null;
  }
}
