/** The DeliveryOutboxPort: the durable queue of alert deliveries the dispatcher works through. */

export interface QueuedAlert {
  /** Where the alert sits in the queue: SQLite its rowid, Elasticsearch its id. */
  rowid: number | string;
  record: string | Buffer;
}

export interface PendingDelivery {
  id: string;
  destination: string;
  attempts: number;
  createdMs: number;
  record: string | Buffer;
}

/**
 * The delivery outbox port the dispatcher works through: the embedded one (delivery-outbox.ts), or the shared one in
 * Elasticsearch (es-delivery-outbox.ts) that every instance's dispatcher works on together.
 */
export interface DeliveryOutboxPort {
  /** Up to `limit` stored alerts waiting to be fanned out, oldest first. */
  queuedAlerts(limit: number): QueuedAlert[] | Promise<QueuedAlert[]>;
  /** The deliveries of these alerts (created once per id), and the alerts off the queue. */
  fanOut(rows: { rowid: number | string; deliveries: { id: string; destination: string }[] }[], nowMs: number): Promise<void>;
  /** Pending deliveries of a destination due now, this instance's to send (the shared outbox claims them). */
  dueFor(destination: string, nowMs: number, limit: number): PendingDelivery[] | Promise<PendingDelivery[]>;
  markDelivered(ids: readonly string[], nowMs: number): Promise<void>;
  markFailed(ids: readonly string[], nextAttemptMs: number, reason: string, nowMs: number): Promise<void>;
  /** Pending deliveries older than the cut-off become dead letters; returns their ids. */
  expire(destination: string, cutoffMs: number, nowMs: number): Promise<string[]>;
  /**
   * Deliveries taken by dueFor but not sent: the shared outbox hands back what it claimed, due again
   * at `nextAttemptMs` for any instance; an outbox whose dueFor claims nothing has nothing to hand back.
   */
  release(ids: readonly string[], nextAttemptMs: number): Promise<void>;
  /** Counts per state (the shared outbox answers from what refreshCounts last read). */
  countsFor(destination: string): DestinationCounts;
  /**
   * Reads the counts again (the shared outbox, at most once per second unless `force`); an outbox
   * whose countsFor reads them live has nothing to refresh.
   */
  refreshCounts(destinations: readonly string[], force?: boolean): Promise<void>;
}

export interface DestinationCounts {
  pending: number;
  delivered: number;
  dead: number;
  lastDeliveredMs: number | null;
  oldestPendingMs: number | null;
}

/**
 * Bound by the infrastructure module (libs/infrastructure): opens the outbox alert delivery passes
 * over, the embedded one (its trigger on the alerts table) or the one every instance shares.
 * `claimMs`: how long a delivery a pass claimed stays this instance's (shared outboxes only).
 */
export const DELIVERY_OUTBOX = Symbol('DELIVERY_OUTBOX');
export type DeliveryOutboxOpener = (claimMs: number) => DeliveryOutboxPort;
