/**
 * The chain writer: the single place where records get their sequence number and hash.
 * Requests are queued and committed together (group commit): every request that arrived while
 * the previous transaction was being written shares the next one, so one fsync serves many
 * requests. A request is acknowledged only after its transaction is durable, and a batch is
 * never split across transactions (all-or-nothing).
 *
 * Commit window (`windowMs`, off unless set): under heavy load, when the group just committed held
 * at least `windowMinEvents` events, the next group waits up to `windowMs` for as many events as that
 * one had before it starts. Clients answered by the last commit send their next requests meanwhile,
 * so groups grow; a larger group touches fewer index pages a row in its commit (the random-key
 * indexes' leaves) and pays BEGIN / COMMIT / fsync once for more rows. Light traffic (small groups)
 * never waits, and nothing is acknowledged earlier or differently: only when its commit starts.
 */
import { AccessEvent, Problems, ProblemError, Receipt, chainForEvent } from '@app/core';
import { ChainHead, GENESIS_HASH, recordHash } from '@app/ledger';
import { AppendResult, ChainedRecord, CommitFeed, CommitListener, DuplicateIdError, EventStore, SequenceConflictError, StoredReceipt } from '@app/storage';
import { MetricsService } from './metrics.service';

export interface CanonicalEvent {
  event: AccessEvent;
  /** RFC 8785 canonical JSON of the event. */
  json: string;
  /**
   * The chain to append to, when not the one chainForEvent picks: the service's own records (the
   * access log, ACCESS_LOG_CHAIN), and events from the Kafka bus, whose message key already names
   * their chain (decided once, at publish, so each chain keeps one partition and one writer).
   */
  chain?: string;
}

interface PendingRequest {
  events: CanonicalEvent[];
  enqueuedAt: number;
  resolve: (receipts: Receipt[]) => void;
  reject: (err: Error) => void;
}

export interface ChainWriterOptions {
  maxGroupEvents: number;
  /** Longest a request may wait in the queue before new requests are refused with 503. */
  maxQueuedEvents?: number;
  /** A group commit running longer than this (ms) is a stalled writer: new requests get 503 until it finishes (default 10 s). */
  stallMs?: number;
  /** Chains per event category (CHAIN_SHARDS; default 1: the category is the chain). */
  chainShards?: number;
  /** Most a group waits (ms) for more events after a large commit (see the commit window above); 0 or unset: never. */
  windowMs?: number;
  /** Events a committed group must have held for the next one to wait (default 200). */
  windowMinEvents?: number;
}

/** Hook called after every group commit attempt: null when it was durable, else the store's error (readiness, durability-monitor.ts). */
export type CommitResultListener = (failure: unknown) => void;

const MAX_SEQUENCE_RETRIES = 3;

/** windowMinEvents unless set: groups this large only come from heavy batch traffic. */
const DEFAULT_WINDOW_MIN_EVENTS = 200;

/**
 * After a group was refused for an id already stored (a client's retry), the writer looks ids up
 * before appending for this long (ms): retries come in bursts, and each refusal costs a rolled-back
 * transaction.
 */
const LOOKUP_AFTER_DUPLICATE_MS = 10_000;

export class ChainWriter implements CommitFeed {
  private heads = new Map<string, ChainHead>();
  private queue: PendingRequest[] = [];
  private queuedEvents = 0;
  private committing = false;
  private scheduled = false;
  /** Committed groups the followers are yet to be told of (see notify), and when they will have been. */
  private notices: { records: readonly ChainedRecord[]; firstPosition: number | undefined }[] = [];
  private noticesTold: Promise<void> | null = null;
  /** The next group is waiting for more events (the commit window): until `target` are queued or the timer fires. */
  private gathering: { target: number; timer: NodeJS.Timeout } | null = null;
  /** Events of the last group taken for a commit (the commit window's trigger and target). */
  private lastGroupEvents = 0;
  private started = false;
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  private readonly listeners: CommitListener[] = [];
  private readonly resultListeners: CommitResultListener[] = [];
  /** performance.now() when the group commit in flight started; null while none is. */
  private commitStartedAt: number | null = null;
  /** performance.now() until which ids are looked up before appending (see LOOKUP_AFTER_DUPLICATE_MS). */
  private lookUpIdsUntil = 0;

  constructor(
    private readonly store: EventStore,
    private readonly options: ChainWriterOptions,
    private readonly metrics?: MetricsService,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async start(): Promise<void> {
    this.heads = await this.store.chainHeads();
    for (const [chain, head] of this.heads) this.metrics?.chainLength.set({ chain }, head.seq);
    this.started = true;
  }

  get running(): boolean {
    return this.started && !this.stopping;
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  onCommitResult(listener: CommitResultListener): void {
    this.resultListeners.push(listener);
  }

  /** How long (ms) the group commit in flight has been running; 0 when none is. */
  commitInFlightMs(now = performance.now()): number {
    return this.commitStartedAt === null ? 0 : now - this.commitStartedAt;
  }

  /** No commit progress within the stall bound while work is in flight (a stuck fsync, a frozen writer thread). */
  get stalled(): boolean {
    return this.commitInFlightMs() >= (this.options.stallMs ?? 10_000);
  }

  /** Queues events for the next group commit; resolves with their receipts once durable. */
  submit(events: CanonicalEvent[]): Promise<Receipt[]> {
    if (!this.running) return Promise.reject(Problems.unavailable('The service is shutting down or not ready.', 2));
    if (this.stalled) {
      const seconds = Math.floor(this.commitInFlightMs() / 1000);
      return Promise.reject(Problems.unavailable(`The writer has made no commit progress for ${seconds} s; nothing was acknowledged. Retry shortly.`, 5));
    }
    const limit = this.options.maxQueuedEvents ?? this.options.maxGroupEvents * 4;
    if (this.queuedEvents + events.length > limit && this.queuedEvents > 0) {
      return Promise.reject(Problems.unavailable('The writer is saturated; retry shortly.', 1));
    }
    return new Promise<Receipt[]>((resolve, reject) => {
      this.queue.push({ events, enqueuedAt: performance.now(), resolve, reject });
      this.queuedEvents += events.length;
      this.metrics?.queueDepth.set(this.queuedEvents);
      this.schedule();
    });
  }

  /** Stops taking new requests and resolves once everything queued has been committed. */
  async drain(): Promise<void> {
    this.stopping = true;
    if (this.gathering) this.endWindow();
    if (this.committing || this.queue.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.noticesTold;
  }

  /** `now`: start the next group without a commit window (the window just ended). */
  private schedule(now = false): void {
    if (this.committing) return;
    if (this.gathering) {
      if (this.queuedEvents >= this.gathering.target || this.stopping) this.endWindow();
      return;
    }
    if (this.scheduled) return;
    const windowMs = this.options.windowMs ?? 0;
    const last = this.lastGroupEvents;
    if (!now && windowMs > 0 && !this.stopping && last >= (this.options.windowMinEvents ?? DEFAULT_WINDOW_MIN_EVENTS) && this.queuedEvents < last) {
      this.gathering = { target: last, timer: setTimeout(() => this.endWindow(), windowMs) };
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commitNextGroup();
    });
  }

  /** Ends the commit window: the group starts now with what is queued. */
  private endWindow(): void {
    if (!this.gathering) return;
    clearTimeout(this.gathering.timer);
    this.gathering = null;
    this.schedule(true);
  }

  private takeGroup(): PendingRequest[] {
    const group: PendingRequest[] = [];
    let n = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (group.length > 0 && n + next.events.length > this.options.maxGroupEvents) break;
      group.push(this.queue.shift()!);
      n += next.events.length;
    }
    this.queuedEvents -= n;
    this.metrics?.queueDepth.set(this.queuedEvents);
    return group;
  }

  private async commitNextGroup(): Promise<void> {
    if (this.committing || this.queue.length === 0) return;
    this.committing = true;
    this.commitStartedAt = performance.now();
    const group = this.takeGroup();
    let events = 0;
    for (const req of group) events += req.events.length;
    try {
      await this.commitGroup(group, 0);
    } finally {
      this.committing = false;
      this.commitStartedAt = null;
      this.lastGroupEvents = events;
      if (this.queue.length > 0) this.schedule();
      else {
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  /**
   * Chains and appends one group. Idempotency: ids already stored are answered with their original
   * receipt (or 409). When the store refuses stored ids inside the append itself
   * (EventStore.refusesStoredIds: the embedded store's unique id index), the ids are not looked up
   * first, which is one index probe per event saved; a refused group is chained again after the
   * lookup (`lookUpIds`), so the answer is the same either way.
   */
  private async commitGroup(group: PendingRequest[], attempt: number, lookUpIds = false): Promise<void> {
    const started = performance.now();
    const optimistic = !lookUpIds && started >= this.lookUpIdsUntil && this.store.refusesStoredIds();
    let existing: Map<string, StoredReceipt>;
    if (optimistic) existing = new Map();
    else {
      const ids: string[] = [];
      for (const req of group) for (const e of req.events) ids.push(e.event.id);
      try {
        existing = await this.store.findReceipts(ids);
      } catch (err) {
        this.failAll(group, 'lookup');
        this.tellResult(err);
        return;
      }
    }

    const receivedAt = this.clock().toISOString();
    const heads = new Map<string, ChainHead>();
    const records: ChainedRecord[] = [];
    /** Receipts of events first seen in this group, so an id repeated in the group shares one. */
    const fresh = new Map<string, { json: string; receipt: Receipt }>();
    const outcomes: { req: PendingRequest; receipts?: Receipt[]; error?: ProblemError }[] = [];

    for (const req of group) {
      const receipts: Receipt[] = [];
      const added: ChainedRecord[] = [];
      const addedFresh: string[] = [];
      let error: ProblemError | undefined;
      for (const { event, json, chain: chainOverride } of req.events) {
        const stored = existing.get(event.id);
        if (stored) {
          if (stored.eventJson !== json) {
            error = Problems.conflict('idempotency-conflict', 'An event with this id was already stored with different content; ids must be unique per event.');
            break;
          }
          receipts.push({ id: event.id, chain: stored.chain, seq: stored.seq, hash: stored.hash.toString('hex') });
          this.metrics?.ingestedEvents.inc({ result: 'duplicate' });
          continue;
        }
        const seen = fresh.get(event.id);
        if (seen) {
          if (seen.json !== json) {
            error = Problems.conflict('idempotency-conflict', 'Two events with the same id but different content were sent together.');
            break;
          }
          receipts.push(seen.receipt);
          continue;
        }
        const chain = chainOverride ?? chainForEvent(event, this.options.chainShards ?? 1);
        const head = heads.get(chain) ?? this.heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
        const seq = head.seq + 1;
        const hash = recordHash(head.hash, chain, seq, receivedAt, json);
        const record: ChainedRecord = { chain, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash };
        heads.set(chain, { seq, hash });
        added.push(record);
        const receipt = { id: event.id, chain, seq, hash: hash.toString('hex') };
        fresh.set(event.id, { json, receipt });
        addedFresh.push(event.id);
        receipts.push(receipt);
      }
      if (error) {
        // Undo this request's chain positions: nothing of a rejected request is stored.
        for (const id of addedFresh) fresh.delete(id);
        this.rewindHeads(heads, added);
        outcomes.push({ req, error });
      } else {
        records.push(...added);
        outcomes.push({ req, receipts });
      }
    }

    let appended: AppendResult | void;
    try {
      appended = await this.store.append(records);
    } catch (err) {
      if (err instanceof DuplicateIdError && optimistic) {
        // A stored id came again (a retry): nothing was appended; chain the group again, looking ids up.
        this.lookUpIdsUntil = performance.now() + LOOKUP_AFTER_DUPLICATE_MS;
        return this.commitGroup(group, attempt, true);
      }
      if (err instanceof SequenceConflictError && attempt < MAX_SEQUENCE_RETRIES) {
        // Another writer got there first: re-read the heads and chain the group again.
        this.heads = await this.store.chainHeads();
        return this.commitGroup(group, attempt + 1, lookUpIds);
      }
      this.metrics?.commitFailures.inc({ reason: err instanceof SequenceConflictError ? 'sequence_conflict' : 'store' });
      try {
        this.heads = await this.store.chainHeads();
      } catch {
        /* keep the old heads; the next commit will fail the same way and answer 503 */
      }
      this.failAll(group, 'store');
      this.tellResult(err);
      return;
    }
    this.tellResult(null);

    for (const [chain, head] of heads) {
      this.heads.set(chain, head);
      this.metrics?.chainLength.set({ chain }, head.seq);
    }
    const now = performance.now();
    this.metrics?.commitLatency.observe((now - started) / 1000);
    this.metrics?.commitGroupSize.observe(records.length);
    if (records.length > 0) this.metrics?.ingestedEvents.inc({ result: 'stored' }, records.length);
    for (const o of outcomes) {
      if (o.error) o.req.reject(o.error);
      else {
        this.metrics?.ackLatency.observe((now - o.req.enqueuedAt) / 1000);
        o.req.resolve(o.receipts!);
      }
    }
    // The group's positions, when the store told them: followers (detection) need not read them back.
    const firstPosition = appended ? appended.firstPosition : undefined;
    if (records.length > 0) this.notify(records, firstPosition);
  }

  /**
   * Tells the commit's followers (streaming detection's evaluation, checkpoints) once the
   * acknowledgements went out: the callback runs after the answers' continuations, down to their
   * socket writes, and still before the next requests are read. Told in the same turn, their work ran
   * in front of the answers (detection's first slice is promise continuations, queued among the acks').
   * Groups are told in commit order; drain() waits for them.
   */
  private notify(records: readonly ChainedRecord[], firstPosition: number | undefined): void {
    this.notices.push({ records, firstPosition });
    this.noticesTold ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.noticesTold = null;
        for (const n of this.notices.splice(0)) for (const l of this.listeners) l(n.records, n.firstPosition);
        resolve();
      }),
    );
  }

  private tellResult(failure: unknown): void {
    for (const l of this.resultListeners) l(failure);
  }

  /** Moves the group's provisional heads back to before the given records. */
  private rewindHeads(heads: Map<string, ChainHead>, removed: ChainedRecord[]): void {
    for (let i = removed.length - 1; i >= 0; i--) {
      const r = removed[i];
      if (r.seq === 0 && !this.heads.has(r.chain)) heads.delete(r.chain);
      else heads.set(r.chain, { seq: r.seq - 1, hash: r.prevHash });
    }
  }

  private failAll(group: PendingRequest[], reason: string): void {
    for (const req of group) req.reject(Problems.unavailable(`Events could not be made durable (${reason}); nothing was stored. Retry shortly.`, 1));
  }
}
