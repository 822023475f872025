/**
 * Test double of the EventBus port, in memory: a queueing bus (as Kafka) that holds what it was
 * given. It passes the same contract as the in-process and Kafka buses (test/contracts/event-bus.contract.spec.ts).
 */
import { BusEvent, BusUnavailableError, EventBus, QueuedReceipt } from '@app/storage';

export class InMemoryEventBus implements EventBus {
  readonly acknowledges = 'queued' as const;
  /** What the bus holds, in the order published (the consuming side reads it). */
  readonly held: BusEvent[] = [];
  private started = false;
  /** While set, publish refuses as a bus that cannot make events durable does. */
  unavailable = false;

  async publish(events: BusEvent[]): Promise<QueuedReceipt[]> {
    if (!this.started || this.unavailable) throw new BusUnavailableError('the in-memory bus is not taking events');
    this.held.push(...events.map((e) => ({ event: structuredClone(e.event), json: e.json })));
    return events.map((e) => ({ id: e.event.id, status: 'queued' as const }));
  }

  async start(): Promise<void> {
    this.started = true;
  }

  isReady(): boolean {
    return this.started && !this.unavailable;
  }

  async close(): Promise<void> {
    this.started = false;
  }
}
