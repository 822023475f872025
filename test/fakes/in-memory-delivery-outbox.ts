/**
 * Test double of the DeliveryOutboxPort, in memory (one instance: no claims). It passes the same
 * contract as the SQLite and Elasticsearch outboxes (test/contracts/delivery-outbox.contract.spec.ts).
 * `queue` is what the alert store does when it creates an alert (the embedded store's trigger).
 */
import { DeliveryOutboxPort, DestinationCounts, PendingDelivery, QueuedAlert } from '@app/detection/delivery/delivery-outbox.port';

interface Delivery {
  id: string;
  destination: string;
  alert: number;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  createdMs: number;
  nextAttemptMs: number;
  updatedMs: number;
}

export class InMemoryDeliveryOutbox implements DeliveryOutboxPort {
  private readonly alerts: (string | Buffer)[] = [];
  private readonly queue_: number[] = [];
  private readonly deliveries = new Map<string, Delivery>();

  /** Queues a stored alert's record for fan-out; returns where it sits. */
  queue(record: string | Buffer): number {
    this.alerts.push(record);
    this.queue_.push(this.alerts.length - 1);
    return this.alerts.length - 1;
  }

  queuedAlerts(limit: number): QueuedAlert[] {
    return this.queue_.slice(0, limit).map((rowid) => ({ rowid, record: this.alerts[rowid] }));
  }

  async fanOut(rows: { rowid: number | string; deliveries: { id: string; destination: string }[] }[], nowMs: number): Promise<void> {
    for (const row of rows) {
      const alert = Number(row.rowid);
      for (const d of row.deliveries) {
        if (!this.deliveries.has(d.id)) this.deliveries.set(d.id, { id: d.id, destination: d.destination, alert, state: 'pending', attempts: 0, createdMs: nowMs, nextAttemptMs: nowMs, updatedMs: nowMs });
      }
      const at = this.queue_.indexOf(alert);
      if (at >= 0) this.queue_.splice(at, 1);
    }
  }

  dueFor(destination: string, nowMs: number, limit: number): PendingDelivery[] {
    return [...this.deliveries.values()]
      .filter((d) => d.destination === destination && d.state === 'pending' && d.nextAttemptMs <= nowMs)
      .sort((a, b) => a.nextAttemptMs - b.nextAttemptMs || a.alert - b.alert)
      .slice(0, limit)
      .map((d) => ({ id: d.id, destination: d.destination, attempts: d.attempts, createdMs: d.createdMs, record: this.alerts[d.alert] }));
  }

  async markDelivered(ids: readonly string[], nowMs: number): Promise<void> {
    for (const d of this.pending(ids)) Object.assign(d, { state: 'delivered', attempts: d.attempts + 1, updatedMs: nowMs });
  }

  async markFailed(ids: readonly string[], nextAttemptMs: number, _reason: string, nowMs: number): Promise<void> {
    for (const d of this.pending(ids)) Object.assign(d, { attempts: d.attempts + 1, nextAttemptMs, updatedMs: nowMs });
  }

  async expire(destination: string, cutoffMs: number, nowMs: number): Promise<string[]> {
    const old = [...this.deliveries.values()].filter((d) => d.destination === destination && d.state === 'pending' && d.createdMs < cutoffMs);
    for (const d of old) Object.assign(d, { state: 'dead', updatedMs: nowMs });
    return old.map((d) => d.id);
  }

  /** dueFor claims nothing here: nothing to hand back. */
  async release(): Promise<void> {}

  /** countsFor is computed on each call: nothing to refresh. */
  async refreshCounts(): Promise<void> {}

  countsFor(destination: string): DestinationCounts {
    const of = [...this.deliveries.values()].filter((d) => d.destination === destination);
    const pending = of.filter((d) => d.state === 'pending');
    const delivered = of.filter((d) => d.state === 'delivered');
    return {
      pending: pending.length,
      delivered: delivered.length,
      dead: of.filter((d) => d.state === 'dead').length,
      lastDeliveredMs: delivered.length ? Math.max(...delivered.map((d) => d.updatedMs)) : null,
      oldestPendingMs: pending.length ? Math.min(...pending.map((d) => d.createdMs)) : null,
    };
  }

  private pending(ids: readonly string[]): Delivery[] {
    return ids.map((id) => this.deliveries.get(id)).filter((d): d is Delivery => d !== undefined && d.state === 'pending');
  }
}
