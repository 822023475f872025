/**
 * The alert delivery outbox in Elasticsearch (STORE=elasticsearch), shared by every instance's
 * dispatcher, so an alert is delivered at least once whichever instance stored it and whichever
 * dies. Two indices (es-schema.ts):
 *   - `<prefix>-alert-delivery-queue`: one document per alert, `_id` = alert id, created by the
 *     alert store in the same bulk as the alert (op_type=create: a replayed alert never queues one
 *     already fanned out; a failed bulk is retried whole, so a stored alert is always queued);
 *     `fannedOut` once its deliveries exist.
 *   - `<prefix>-alert-deliveries`: one document per alert and destination, `_id` = the stable
 *     delivery id receivers de-duplicate on, created once (op_type=create) by whichever instance
 *     fans the alert out first.
 * A dispatcher takes a due delivery by claiming it: it moves `nextAttemptMs` `claimMs` ahead and
 * names itself in `claimedBy`, with if_seq_no, so one instance sends it at a time; if that instance
 * dies before recording the outcome, the delivery is due again when the claim lapses and another
 * instance sends it (same delivery id: at least once). Outcomes are recorded with if_seq_no against
 * the stored state (a delivery recorded delivered or dead by anyone stays so). Documents hold ids,
 * destination names, counters and short reasons: no PHI (the alert itself stays sealed in the alert
 * index and is read from there). Counts, like every read here, refuse an answer from only some
 * shards (StoreUnavailableError). Loaded lazily (it pulls in the Elasticsearch client).
 */
import { EsRequests, EsVersioned, checkComplete } from '@app/storage/elasticsearch/es-requests';
import { StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import type { DeliveryOutboxPort, DestinationCounts, PendingDelivery, QueuedAlert } from './delivery-outbox.port';

interface QueueDoc {
  alertId: string;
  queuedAtMs: number;
  fannedOut: boolean;
}

type DeliveryState = 'pending' | 'delivered' | 'dead';

interface DeliveryDoc {
  id: string;
  destination: string;
  alertId: string;
  state: DeliveryState;
  attempts: number;
  createdMs: number;
  nextAttemptMs: number;
  updatedMs: number;
  lastError?: string;
  claimedBy?: string;
}

export interface EsDeliveryOutboxOptions {
  /** The alerts index (sealed records are read from there). */
  alertsIndex: string;
  queueIndex: string;
  deliveriesIndex: string;
  /** This instance, named in its claims (no PHI). */
  holder: string;
  /**
   * How long a claimed delivery is this instance's to send before another may (and how long one
   * claimed by an instance that died waits). Default 60 s; the service uses 3 times the longest
   * destination timeout, at least 10 s (alert-delivery.module.ts).
   */
  claimMs?: number;
  /** Counts are read again at most this often (unless forced). Default 1000 ms. */
  countsMaxAgeMs?: number;
}

const MAX_UPDATE_ATTEMPTS = 5;
const ok = (status: number) => status >= 200 && status < 300;

export class ElasticsearchDeliveryOutbox implements DeliveryOutboxPort {
  private readonly counts = new Map<string, DestinationCounts>();
  private countsReadAt = 0;
  /** Queue documents last read (their versions, to mark them fanned out). */
  private readonly queued = new Map<string, EsVersioned<QueueDoc>>();

  constructor(
    private readonly es: EsRequests,
    private readonly options: EsDeliveryOutboxOptions,
    private readonly now: () => number = Date.now,
  ) {}

  async queuedAlerts(limit: number): Promise<QueuedAlert[]> {
    const hits = await this.es.search<QueueDoc>(this.options.queueIndex, {
      size: limit,
      query: { bool: { filter: [{ term: { fannedOut: false } }] } },
      sort: [{ queuedAtMs: { order: 'asc' } }, { alertId: { order: 'asc' } }],
    });
    const ids = hits.map((h) => h.source.alertId);
    const [queue, alerts] = await Promise.all([this.es.mget<QueueDoc>(this.options.queueIndex, ids), this.es.mget<{ record: string }>(this.options.alertsIndex, ids)]);
    const out: QueuedAlert[] = [];
    for (const id of ids) {
      const q = queue.get(id);
      const a = alerts.get(id);
      // Already fanned out by another instance since the search, or the alert of a bulk still being retried: later.
      if (!q || q.source.fannedOut || !a) continue;
      this.queued.set(id, q);
      out.push({ rowid: id, record: Buffer.from(a.source.record, 'base64') });
    }
    return out;
  }

  async fanOut(rows: { rowid: number | string; deliveries: { id: string; destination: string }[] }[], nowMs: number): Promise<void> {
    const deliveries = rows.flatMap((row) =>
      row.deliveries.map((d) => ({
        action: { create: { _index: this.options.deliveriesIndex, _id: d.id } },
        doc: { id: d.id, destination: d.destination, alertId: String(row.rowid), state: 'pending', attempts: 0, createdMs: nowMs, nextAttemptMs: nowMs, updatedMs: nowMs } satisfies DeliveryDoc,
      })),
    );
    if (deliveries.length > 0) {
      const items = await this.es.bulk(deliveries);
      // 409: another instance fanned the same alert out first; its delivery (same id) stands.
      for (const item of items) if (!ok(item.status) && item.status !== 409) throw new StoreUnavailableError(`delivery write failed: ${item.error?.type ?? item.status}`);
    }
    const marks = rows.flatMap((row) => {
      const q = this.queued.get(String(row.rowid));
      this.queued.delete(String(row.rowid));
      return q
        ? [{ action: { index: { _index: this.options.queueIndex, _id: String(row.rowid), if_seq_no: q.seqNo, if_primary_term: q.primaryTerm } }, doc: { ...q.source, fannedOut: true } }]
        : [];
    });
    if (marks.length === 0) return;
    const items = await this.es.bulk(marks);
    for (const item of items) if (!ok(item.status) && item.status !== 409) throw new StoreUnavailableError(`delivery queue write failed: ${item.error?.type ?? item.status}`);
  }

  async dueFor(destination: string, nowMs: number, limit: number): Promise<PendingDelivery[]> {
    const hits = await this.es.search<DeliveryDoc>(this.options.deliveriesIndex, {
      size: limit,
      query: { bool: { filter: [{ term: { destination } }, { term: { state: 'pending' } }, { range: { nextAttemptMs: { lte: nowMs } } }] } },
      sort: [{ nextAttemptMs: { order: 'asc' } }, { id: { order: 'asc' } }],
    });
    if (hits.length === 0) return [];
    // Realtime versions, then claim each with if_seq_no: whoever loses leaves it to the winner.
    const current = await this.es.mget<DeliveryDoc>(this.options.deliveriesIndex, hits.map((h) => h.source.id));
    const claimable = [...current.values()].filter((d) => d.source.state === 'pending' && d.source.nextAttemptMs <= nowMs);
    if (claimable.length === 0) return [];
    const claimUntil = nowMs + (this.options.claimMs ?? 60_000);
    const items = await this.es.bulk(
      claimable.map((d) => ({
        action: { index: { _index: this.options.deliveriesIndex, _id: d.source.id, if_seq_no: d.seqNo, if_primary_term: d.primaryTerm } },
        doc: { ...d.source, nextAttemptMs: claimUntil, claimedBy: this.options.holder, updatedMs: nowMs },
      })),
    );
    const won = claimable.filter((_, i) => ok(items[i].status));
    const alerts = await this.es.mget<{ record: string }>(this.options.alertsIndex, [...new Set(won.map((d) => d.source.alertId))]);
    const out: PendingDelivery[] = [];
    for (const d of won) {
      const a = alerts.get(d.source.alertId);
      if (!a) continue; // cannot happen (fanned out from a stored alert); the claim lapses and it is tried again
      out.push({ id: d.source.id, destination: d.source.destination, attempts: d.source.attempts, createdMs: d.source.createdMs, record: Buffer.from(a.source.record, 'base64') });
    }
    // Oldest first, as the embedded outbox answers.
    return out.sort((x, y) => x.createdMs - y.createdMs || (x.id < y.id ? -1 : 1));
  }

  async markDelivered(ids: readonly string[], nowMs: number): Promise<void> {
    await this.update(ids, (d) => ({ ...d, state: 'delivered', attempts: d.attempts + 1, updatedMs: nowMs, lastError: undefined }));
  }

  async markFailed(ids: readonly string[], nextAttemptMs: number, reason: string, nowMs: number): Promise<void> {
    await this.update(ids, (d) => ({ ...d, attempts: d.attempts + 1, nextAttemptMs, updatedMs: nowMs, lastError: reason.slice(0, 100) }));
  }

  async release(ids: readonly string[], nextAttemptMs: number): Promise<void> {
    await this.update(ids, (d) => (d.claimedBy === this.options.holder ? { ...d, nextAttemptMs, claimedBy: undefined } : null));
  }

  async expire(destination: string, cutoffMs: number, nowMs: number): Promise<string[]> {
    const hits = await this.es.search<DeliveryDoc>(this.options.deliveriesIndex, {
      size: 1000,
      query: { bool: { filter: [{ term: { destination } }, { term: { state: 'pending' } }, { range: { createdMs: { lt: cutoffMs } } }] } },
      sort: [{ createdMs: { order: 'asc' } }, { id: { order: 'asc' } }],
    });
    const ids = hits.map((h) => h.source.id);
    return this.update(ids, (d) => (d.createdMs < cutoffMs ? { ...d, state: 'dead', updatedMs: nowMs } : null));
  }

  countsFor(destination: string): DestinationCounts {
    return this.counts.get(destination) ?? { pending: 0, delivered: 0, dead: 0, lastDeliveredMs: null, oldestPendingMs: null };
  }

  async refreshCounts(destinations: readonly string[], force = false): Promise<void> {
    const now = this.now();
    if (!force && now - this.countsReadAt < (this.options.countsMaxAgeMs ?? 1000)) return;
    this.countsReadAt = now;
    for (const destination of destinations) {
      // A count answered by only some shards is refused (checkComplete), as the searches beside it
      // are: the pass fails and the counts last read stay, never a partial figure taken for the truth.
      const count = async (state: DeliveryState) => {
        const resp = await this.es.call(() => this.es.client.count({ index: this.options.deliveriesIndex, query: { bool: { filter: [{ term: { destination } }, { term: { state } }] } } }));
        checkComplete(resp, `a count of ${this.options.deliveriesIndex}`);
        return resp.count;
      };
      const edge = async (state: DeliveryState, field: 'updatedMs' | 'createdMs', order: 'asc' | 'desc') => {
        const [hit] = await this.es.search<DeliveryDoc>(this.options.deliveriesIndex, {
          size: 1,
          query: { bool: { filter: [{ term: { destination } }, { term: { state } }] } },
          sort: [{ [field]: { order } }, { id: { order: 'asc' } }],
        });
        return hit ? hit.source[field] : null;
      };
      const [pending, delivered, dead, lastDeliveredMs, oldestPendingMs] = await Promise.all([
        count('pending'),
        count('delivered'),
        count('dead'),
        edge('delivered', 'updatedMs', 'desc'),
        edge('pending', 'createdMs', 'asc'),
      ]);
      this.counts.set(destination, { pending, delivered, dead, lastDeliveredMs, oldestPendingMs });
    }
  }

  /**
   * Applies `change` to each pending delivery against its stored version (if_seq_no), reading
   * again after a conflict; a delivery no longer pending is left as it is. Returns the ids changed.
   */
  private async update(ids: readonly string[], change: (d: DeliveryDoc) => DeliveryDoc | null): Promise<string[]> {
    const changed: string[] = [];
    let todo = [...ids];
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS && todo.length > 0; attempt++) {
      const current = await this.es.mget<DeliveryDoc>(this.options.deliveriesIndex, todo);
      const writes: { id: string; doc: DeliveryDoc; v: EsVersioned<DeliveryDoc> }[] = [];
      for (const id of todo) {
        const v = current.get(id);
        if (!v || v.source.state !== 'pending') continue;
        const next = change(v.source);
        if (next) writes.push({ id, doc: JSON.parse(JSON.stringify(next)) as DeliveryDoc, v });
      }
      if (writes.length === 0) break;
      const items = await this.es.bulk(
        writes.map((w) => ({ action: { index: { _index: this.options.deliveriesIndex, _id: w.id, if_seq_no: w.v.seqNo, if_primary_term: w.v.primaryTerm } }, doc: w.doc })),
      );
      todo = [];
      items.forEach((item, i) => {
        if (ok(item.status)) changed.push(writes[i].id);
        else if (item.status === 409) todo.push(writes[i].id);
        else throw new StoreUnavailableError(`delivery update failed: ${item.error?.type ?? item.status}`);
      });
    }
    return changed;
  }
}

/** The shared outbox of the cluster the Elasticsearch event store uses (same client and index prefix). */
export function elasticsearchDeliveryOutboxFor(events: ElasticsearchEventStore, holder: string, claimMs: number): ElasticsearchDeliveryOutbox {
  return new ElasticsearchDeliveryOutbox(new EsRequests(events.client), {
    alertsIndex: events.options.alertsIndex,
    queueIndex: events.layout.deliveryQueueIndex,
    deliveriesIndex: events.layout.deliveriesIndex,
    holder,
    claimMs,
  });
}
