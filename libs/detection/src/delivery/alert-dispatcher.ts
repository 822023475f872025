/**
 * The dispatcher of alert deliveries: fans stored alerts out to the destinations whose routing
 * accepts them (rule, severity, reason), then sends each destination's pending deliveries, one
 * destination at a time so a slow or dead receiver never holds up another nor the request path.
 * Failures are retried with exponential back-off and full jitter (per destination and per delivery,
 * persisted, so a restart honours it); deliveries older than the destination's dead-letter age
 * become dead letters. A rate limit or a digest period turns a storm into one message with the
 * count. Memory stays bounded: at most one batch per destination is read from disk at a time.
 * Emits one PHI-free log fact per alert raised and per delivery outcome.
 */
import type { AlertRecord } from '../alert-lifecycle';
import type { RecordSealer } from '@app/storage';
import { deliveredAlert, deliveryIdFor, DeliveryMessage, IdentifierTokens, messageFor, SEV_RANK, testMessage } from './alert-message';
import type { DeliveryOutboxPort, PendingDelivery } from './delivery-outbox.port';
import type { Destination } from './destinations-config';
import { AlertSender, DeliveryError } from './webhook-sender';

export interface DeliveryLog {
  fact(level: 'info' | 'warn', msg: string, fields: Record<string, string | number | boolean | undefined>): void;
}

export interface DestinationStatus {
  name: string;
  type: Destination['type'];
  preset?: string;
  queueDepth: number;
  delivered: number;
  deadLetters: number;
  failures: number;
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  oldestPendingAt: string | null;
  nextAttemptAt: string | null;
}

/** The outcome of a test message (console admin page): the reason is short and carries no secret. */
export interface TestDeliveryResult {
  destination: string;
  type: Destination['type'];
  deliveryId: string;
  delivered: boolean;
  ms: number;
  error?: string;
}

/** A failure as a short, PHI- and secret-free reason: `HTTP 500`, `timeout`, an error code. */
export function failureReason(err: unknown): string {
  return (err instanceof DeliveryError ? err.message : (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.constructor?.name ?? 'error').slice(0, 100);
}

export interface DispatcherOptions {
  intervalMs?: number;
  batch?: number;
  /** Single-alert messages in flight at once per destination (default 8). */
  parallel?: number;
  now?: () => number;
  random?: () => number;
  /** False while the outbox's store is not up yet (Elasticsearch connecting): passes are skipped. */
  ready?: () => boolean;
}

export function routes(d: Destination, a: Pick<AlertRecord, 'ruleId' | 'severity' | 'reasons'>): boolean {
  const r = d.route;
  if (!r) return true;
  if (r.rules?.length && !r.rules.includes(a.ruleId)) return false;
  if (r.minSeverity && SEV_RANK[a.severity] < SEV_RANK[r.minSeverity]) return false;
  if (r.severities?.length && !r.severities.includes(a.severity)) return false;
  if (r.reasons?.length && !(a.reasons ?? []).some((x) => r.reasons!.includes(x))) return false;
  return true;
}

/** Exponential back-off with full jitter: a random wait in [base/2, base], base = initial·2^(n-1) capped. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** Messages sent together: their first failure backs off once. */
interface Round {
  failed: boolean;
  /** Successes of the whole pass, recorded in one transaction at its end (not one commit per message). */
  delivered: string[];
  deliveredAt: number;
}
const newRound = (delivered: string[] = []): Round => ({ failed: false, delivered, deliveredAt: 0 });

interface DestinationState {
  d: Destination;
  sender: AlertSender;
  busy: boolean;
  pausedUntil: number;
  consecutiveFailures: number;
  failures: number;
  lastFailureMs: number | null;
  lastError: string | null;
  lastSentMs: number;
  /** Send times inside the rate-limit window (at most rateLimit.max entries). */
  sent: number[];
}

export class AlertDispatcher {
  private readonly states: DestinationState[];
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly random: () => number;
  private stopped = false;
  private passFailing = false;

  constructor(
    private readonly outbox: DeliveryOutboxPort,
    destinations: readonly { d: Destination; sender: AlertSender }[],
    private readonly tokens: IdentifierTokens,
    private readonly consoleUrl: string,
    private readonly log: DeliveryLog,
    private readonly sealer?: RecordSealer,
    private readonly options: DispatcherOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.states = destinations.map(({ d, sender }) => ({ d, sender, busy: false, pausedUntil: 0, consecutiveFailures: 0, failures: 0, lastFailureMs: null, lastError: null, lastSentMs: 0, sent: [] }));
  }

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), this.options.intervalMs ?? 250);
    this.timer.unref();
    this.wake();
  }

  /** Runs one pass soon (e.g. after the detection worker stored alerts). */
  wake(): void {
    if (this.stopped || !(this.options.ready?.() ?? true)) return;
    this.ticking ??= this.tick()
      .then(() => {
        if (this.passFailing) this.log.fact('info', 'alert delivery passes work again', {});
        this.passFailing = false;
      })
      .catch((err: unknown) => {
        // Once per run of failures (a store that is down fails every pass, four times a second).
        if (!this.passFailing) this.log.fact('warn', 'alert delivery pass failed', { error: (err as Error)?.constructor?.name ?? 'error' });
        this.passFailing = true;
      })
      .finally(() => (this.ticking = null));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    for (const s of this.states) s.sender.close();
  }

  /** One pass: fan out what was stored, then one batch per destination (destinations in parallel). */
  async tick(): Promise<void> {
    await this.fanOut();
    await Promise.all(this.states.map((s) => (s.busy ? undefined : this.deliver(s))));
    await this.outbox.refreshCounts(this.names());
  }

  /** Sends everything due until nothing is left or every destination is failing (tests, CLI). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const end = this.now() + timeoutMs;
    while (this.now() < end) {
      await this.tick();
      await this.outbox.refreshCounts(this.names(), true);
      if (this.states.every((s) => this.outbox.countsFor(s.d.name).pending === 0)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The configured destination names. */
  names(): string[] {
    return this.states.map((s) => s.d.name);
  }

  /**
   * Sends a test message (kind `test`, rule `delivery-test`, no identifiers) to one destination with
   * the service's own sender, outside the outbox; undefined when no destination has that name.
   */
  async testSend(name: string, severity = 'low'): Promise<TestDeliveryResult | undefined> {
    const s = this.states.find((x) => x.d.name === name);
    if (!s) return undefined;
    const message = testMessage(s.d.name, this.consoleUrl, severity);
    const started = this.now();
    let error: string | undefined;
    try {
      await s.sender.send(message);
    } catch (err) {
      error = failureReason(err);
    }
    const result: TestDeliveryResult = { destination: s.d.name, type: s.d.type, deliveryId: message.deliveryId, delivered: error === undefined, ms: this.now() - started, ...(error ? { error } : {}) };
    this.log.fact(error ? 'warn' : 'info', 'alert delivery test', { destination: s.d.name, deliveryId: message.deliveryId, kind: 'test', outcome: error ? 'failed' : 'delivered', ...(error ? { error } : {}), sendMs: result.ms });
    return result;
  }

  status(): DestinationStatus[] {
    return this.states.map((s) => {
      const c = this.outbox.countsFor(s.d.name);
      const iso = (ms: number | null) => (ms === null || ms === 0 ? null : new Date(ms).toISOString());
      return {
        name: s.d.name,
        type: s.d.type,
        ...(s.d.type === 'webhook' ? { preset: s.d.preset } : {}),
        queueDepth: c.pending,
        delivered: c.delivered,
        deadLetters: c.dead,
        failures: s.failures,
        consecutiveFailures: s.consecutiveFailures,
        lastSuccessAt: iso(c.lastDeliveredMs),
        lastFailureAt: iso(s.lastFailureMs),
        lastError: s.lastError,
        oldestPendingAt: iso(c.oldestPendingMs),
        nextAttemptAt: s.pausedUntil > this.now() ? iso(s.pausedUntil) : null,
      };
    });
  }

  private open(record: string | Buffer): AlertRecord {
    return JSON.parse(this.sealer ? this.sealer.open(record) : String(record)) as AlertRecord;
  }

  private async fanOut(): Promise<void> {
    for (;;) {
      const queued = await this.outbox.queuedAlerts(500);
      if (queued.length === 0) return;
      const now = this.now();
      const rows = queued.map((q) => {
        const a = this.open(q.record);
        // The stable id needs only the destination and the alert id (no tokens computed here).
        const deliveries = this.states.filter((s) => routes(s.d, a)).map((s) => ({ id: deliveryIdFor(s.d.name, [a.id]), destination: s.d.name }));
        return { rowid: q.rowid, deliveries, a };
      });
      await this.outbox.fanOut(rows, now);
      for (const { a, deliveries } of rows) {
        this.log.fact('info', 'alert raised', { alertId: a.id, rule: a.ruleId, severity: a.severity, reasons: (a.reasons ?? []).join(','), destinations: deliveries.map((d) => d.destination).join(',') });
      }
      if (queued.length < 500) return;
    }
  }

  private async deliver(s: DestinationState): Promise<void> {
    const now = this.now();
    if (now < s.pausedUntil) return;
    s.busy = true;
    try {
      for (const id of await this.outbox.expire(s.d.name, now - s.d.retry.deadLetterAfterMinutes * 60_000, now)) {
        this.log.fact('warn', 'alert delivery dead-lettered', { destination: s.d.name, deliveryId: id, outcome: 'dead' });
      }
      const batch = this.options.batch ?? 100;
      // Whether this pass may send at all is decided first: the shared outbox claims what dueFor returns.
      const digestMs = s.d.digestMinutes !== undefined ? s.d.digestMinutes * 60_000 : undefined;
      if (digestMs !== undefined && now - s.lastSentMs < digestMs) return;
      let allowance = Infinity;
      if (s.d.rateLimit) {
        const windowMs = s.d.rateLimit.perMinutes * 60_000;
        s.sent = s.sent.filter((t) => t > now - windowMs);
        allowance = s.d.rateLimit.max - s.sent.length;
        if (allowance <= 0) return;
      }
      const due = await this.outbox.dueFor(s.d.name, now, batch);
      if (due.length === 0) return;
      if (digestMs !== undefined || due.length > allowance) {
        // A digest period, or a storm beyond the rate limit: everything waiting goes out as one message with the count.
        await this.sendOne(s, due, 'digest');
        return;
      }
      const parallel = this.options.parallel ?? 8;
      const delivered: string[] = [];
      let deliveredAt = 0;
      try {
        for (let i = 0; i < due.length; i += parallel) {
          const round = newRound(delivered);
          await Promise.all(due.slice(i, i + parallel).map((p) => this.send(s, [p], 'alert', round)));
          deliveredAt = Math.max(deliveredAt, round.deliveredAt);
          if (round.failed) {
            // The rest waits out the destination's back-off; a shared outbox hands back what it claimed for them.
            const unsent = due.slice(i + parallel).map((p) => p.id);
            if (unsent.length > 0) await this.outbox.release(unsent, s.pausedUntil);
            return;
          }
        }
      } finally {
        // A crash before this commit re-sends these (same delivery ids): at least once.
        if (delivered.length > 0) await this.outbox.markDelivered(delivered, deliveredAt);
      }
    } finally {
      s.busy = false;
    }
  }

  private async sendOne(s: DestinationState, rows: PendingDelivery[], kind: 'alert' | 'digest'): Promise<void> {
    const round = newRound();
    await this.send(s, rows, kind, round);
    if (round.delivered.length > 0) await this.outbox.markDelivered(round.delivered, round.deliveredAt);
  }

  /**
   * Sends one message covering `rows` and records the outcome. Messages sent in parallel share a
   * `round`: its first failure counts once toward the back-off, and the others wait as long.
   */
  private async send(s: DestinationState, rows: PendingDelivery[], kind: 'alert' | 'digest', round: Round): Promise<void> {
    const alerts = rows.map((r) => deliveredAlert(this.open(r.record), s.d, this.tokens, this.consoleUrl));
    const message: DeliveryMessage = kind === 'alert' ? { ...messageFor(s.d.name, alerts, 'alert'), deliveryId: rows[0].id } : messageFor(s.d.name, alerts, 'digest');
    const started = this.now();
    try {
      await s.sender.send(message);
      const done = this.now();
      round.delivered.push(...rows.map((r) => r.id));
      round.deliveredAt = done;
      s.consecutiveFailures = 0;
      s.lastSentMs = done;
      s.sent.push(done);
      for (const r of rows) {
        this.log.fact('info', 'alert delivered', { destination: s.d.name, deliveryId: r.id, kind, outcome: 'delivered', attempts: r.attempts + 1, latencyMs: done - r.createdMs, sendMs: done - started });
      }
    } catch (err) {
      const done = this.now();
      const reason = failureReason(err);
      s.failures++;
      s.lastFailureMs = done;
      s.lastError = reason;
      if (!round.failed) {
        round.failed = true;
        s.consecutiveFailures++;
        s.pausedUntil = done + backoffMs(s.consecutiveFailures, s.d.retry.initialMs, s.d.retry.maxMs, this.random);
      }
      const wait = Math.max(0, s.pausedUntil - done);
      await this.outbox.markFailed(rows.map((r) => r.id), done + wait, reason, done);
      for (const r of rows) {
        this.log.fact('warn', 'alert delivery failed', { destination: s.d.name, deliveryId: r.id, kind, outcome: 'retry', attempts: r.attempts + 1, error: reason, retryInMs: wait });
      }
    }
  }
}
