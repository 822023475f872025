/**
 * Ingestion use case: validate a posted body against the canonical event (all-or-nothing),
 * canonicalize each event, and hand them to the event bus; resolves once the events are durable.
 *
 * In-process bus (default): the chain writer stores them and the answer is the chained receipts.
 * Kafka bus: the answer is `{ id, status: "queued" }` once every in-sync replica holds the events
 * (CONTRACT allows it; the chained receipt is then at GET /v1/events/{id}). Before publishing, ids
 * already stored are answered with their original receipt (or 409 for other content), best effort:
 * the chain writer deduplicates by id in any case.
 */
import { AccessEvent, canonicalizeEventIdentifiers, EventValidator, FieldError, Problems, Receipt } from '@app/core';
import { canonicalize } from '@app/ledger';
import { BusEvent, BusUnavailableError, EventBus, EventStore, IngestReceipt, StoredReceipt, isQueuedReceipt } from '@app/storage';
import { ClockQualityMonitor, clockWarning } from './clock-quality';
import { MetricsService } from './metrics.service';

export interface IngestOptions {
  /** ingestValidated on a queued bus: how long to wait for the chained receipts (default 10 s). */
  chainedWaitMs?: number;
  /** Flags (never refuses) events dated far ahead of or behind the server clock; unset: no check. */
  clock?: ClockQualityMonitor;
}

export class IngestService {
  private readonly validator = new EventValidator();

  constructor(
    private readonly bus: EventBus,
    private readonly maxBatchEvents: number,
    private readonly metrics?: MetricsService,
    /** Queued bus only: where repeated ids and chained receipts are looked up. */
    private readonly store?: Pick<EventStore, 'findReceipts' | 'isReady'>,
    private readonly options: IngestOptions = {},
  ) {}

  /** Validates and stores a request body (one event or `{ events: [...] }`). */
  async ingestBody(body: unknown): Promise<IngestReceipt[]> {
    let events: AccessEvent[];
    try {
      events = this.validator.parseBody(body, this.maxBatchEvents);
    } catch (err) {
      this.metrics?.ingestedEvents.inc({ result: 'rejected' });
      throw err;
    }
    const batch = typeof body === 'object' && body !== null && Array.isArray((body as { events?: unknown }).events);
    return this.submit(events, batch ? (i) => `/events/${i}` : undefined);
  }

  /**
   * Makes validated events durable: chained receipts, or queued ones on a Kafka bus. `at` gives the
   * JSON pointer of event i in the request (a `{ "events": [...] }` body: `/events/i`).
   */
  async submit(posted: AccessEvent[], at: (index: number) => string = () => ''): Promise<IngestReceipt[]> {
    this.metrics?.requestBatchSize.observe(posted.length);
    // One spelling per id before the idempotency check and the hash (docs/security.md): an id
    // upper-cased or prefixed `urn:uuid:` is the same event; look-alike patient ids are one patient.
    const events = posted.map(canonicalizeEventIdentifiers);
    const empty: FieldError[] = [];
    events.forEach((e, i) => {
      if (e.patient && e.patient.id === '') empty.push({ ...(events.length > 1 ? { index: i } : {}), pointer: '/patient/id', message: 'must contain visible characters' });
      if (e.resource?.id === '') empty.push({ ...(events.length > 1 ? { index: i } : {}), pointer: '/resource/id', message: 'must contain visible characters' });
    });
    if (empty.length > 0) throw Problems.validation(empty, 'The events were rejected as a whole; nothing was stored.');
    // A clock far ahead or behind is stored and flagged, never refused (refusing would lose the
    // record): the receipt warns the sender, and the source is counted (clock-quality.ts).
    const clock = this.options.clock;
    const skews = clock ? clock.classify(events) : null;
    const canonical = events.map((event) => ({ event, json: canonicalize(event) }));
    const receipts = this.bus.acknowledges === 'chained' ? await this.bus.publish(canonical) : await this.publishQueued(canonical);
    if (clock && skews && skews.some((d) => d !== null)) {
      clock.record(events, skews);
      return receipts.map((r, i) => (skews[i] ? { ...r, warnings: [clockWarning(skews[i]!, clock.policy)] } : r));
    }
    return receipts;
  }

  /**
   * Stores events that already passed validation (e.g. mapped from FHIR or ATNA) and resolves with
   * their chained receipts; on a queued bus it waits (bounded) until the writer has chained them.
   */
  async ingestValidated(events: AccessEvent[]): Promise<Receipt[]> {
    const receipts = await this.submit(events);
    if (!receipts.some(isQueuedReceipt)) return receipts as Receipt[];
    return this.awaitChained(receipts);
  }

  private async publishQueued(events: BusEvent[]): Promise<IngestReceipt[]> {
    if (!this.bus.isReady() || (this.store && !this.store.isReady())) {
      throw Problems.unavailable('The event bus or the event store is not reachable; nothing was acknowledged. Retry shortly.', 2);
    }
    let stored = new Map<string, StoredReceipt>();
    if (this.store) {
      try {
        stored = await this.store.findReceipts(events.map((e) => e.event.id));
      } catch {
        stored = new Map(); // the writer deduplicates anyway
      }
    }
    const seen = new Map<string, string>();
    for (const e of events) {
      const s = stored.get(e.event.id);
      if (s && s.eventJson !== e.json) {
        throw Problems.conflict('idempotency-conflict', 'An event with this id was already stored with different content; ids must be unique per event.');
      }
      const earlier = seen.get(e.event.id);
      if (earlier !== undefined && earlier !== e.json) {
        throw Problems.conflict('idempotency-conflict', 'Two events with the same id but different content were sent together.');
      }
      seen.set(e.event.id, e.json);
    }
    const toPublish = events.filter((e) => !stored.has(e.event.id));
    if (toPublish.length > 0) {
      try {
        await this.bus.publish(toPublish);
      } catch (err) {
        if (err instanceof BusUnavailableError) {
          throw Problems.unavailable('The event bus cannot take events right now; nothing was acknowledged. Retry shortly.', err.retryAfterSeconds);
        }
        throw err;
      }
      this.metrics?.ingestedEvents.inc({ result: 'queued' }, toPublish.length);
    }
    if (stored.size > 0) this.metrics?.ingestedEvents.inc({ result: 'duplicate' }, events.length - toPublish.length);
    return events.map((e): IngestReceipt => {
      const s = stored.get(e.event.id);
      return s ? { id: s.id, chain: s.chain, seq: s.seq, hash: s.hash.toString('hex') } : { id: e.event.id, status: 'queued' };
    });
  }

  private async awaitChained(receipts: IngestReceipt[]): Promise<Receipt[]> {
    if (!this.store) throw Problems.unavailable('The events are queued durably; their chained receipts are not available here.', 2);
    const deadline = Date.now() + (this.options.chainedWaitMs ?? 10_000);
    const ids = receipts.map((r) => r.id);
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      const found = await this.store.findReceipts(ids).catch(() => new Map<string, StoredReceipt>());
      if (ids.every((id) => found.has(id))) {
        return ids.map((id) => {
          const s = found.get(id)!;
          return { id, chain: s.chain, seq: s.seq, hash: s.hash.toString('hex') };
        });
      }
      if (Date.now() + delay > deadline) {
        throw Problems.unavailable('The events are queued durably but not chained yet; retry to get their receipts.', 2);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
