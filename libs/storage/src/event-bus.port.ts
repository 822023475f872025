/**
 * The EventBus port: how validated events travel from the ingest API to the chain writer.
 * Two adapters: in-process (the API hands events straight to the chain writer and answers with
 * chained receipts once the store has them) and Kafka (the API answers once Kafka holds the
 * events, with `{ id, status: "queued" }`; chain writers consume the topic, chain, store, and only
 * then commit their offsets). The consuming side is the BusConsumer port.
 */
import { AccessEvent, Receipt } from '@app/core';

/** A validated event with its RFC 8785 canonical JSON (the bytes the chain hash covers). */
export interface BusEvent {
  event: AccessEvent;
  json: string;
}

/** Scale-out receipt: Kafka durably holds the event; the chained receipt follows at GET /v1/events/{id}. */
export interface QueuedReceipt {
  id: string;
  status: 'queued';
  /** As Receipt.warnings. */
  warnings?: string[];
}

export type IngestReceipt = Receipt | QueuedReceipt;

export function isQueuedReceipt(r: IngestReceipt): r is QueuedReceipt {
  return (r as QueuedReceipt).status === 'queued';
}

export interface EventBus {
  /** `chained`: publish resolves with full receipts; `queued`: with queued receipts once the bus holds the events. */
  readonly acknowledges: 'chained' | 'queued';
  /**
   * Hands events on, in order; resolves only once they are durable (in the store, or in the bus
   * with every in-sync replica). Rejects with BusUnavailableError when they cannot be made durable.
   */
  publish(events: BusEvent[]): Promise<IngestReceipt[]>;
  /** Connects (and creates the topic when missing). Throws an error naming the setting at fault. */
  start(): Promise<void>;
  isReady(): boolean;
  close(): Promise<void>;
}

/** One batch of messages from one bus partition, in offset order. */
export interface BusBatch {
  partition: number;
  /** `key`: the chain the publisher chose (Kafka message key), when there is one. */
  messages: { offset: string; key?: string | null; value: Buffer | null }[];
}

/**
 * Resolves only once every message of the batch is durable in the store (or deliberately skipped);
 * the consumer commits the batch's offsets after that, never before. Rejecting leaves the offsets
 * uncommitted: the consumer pauses the partition and redelivers the batch later.
 */
export type BusBatchHandler = (batch: BusBatch) => Promise<void>;

export interface BusConsumer {
  start(handle: BusBatchHandler): Promise<void>;
  isReady(): boolean;
  /** Why consuming is stopped for a reason readiness should name (no PHI), or null. */
  fault(): string | null;
  close(): Promise<void>;
}

export const EVENT_BUS = Symbol('EVENT_BUS');
export const BUS_CONSUMER = Symbol('BUS_CONSUMER');

/** The bus cannot take events right now (brokers unreachable, not enough in-sync replicas, timeout). */
export class BusUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 2,
  ) {
    super(message);
  }
}
