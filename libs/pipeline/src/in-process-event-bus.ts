/**
 * In-process adapter of the EventBus port (the embedded default, BUS=memory): events go straight
 * to this process's chain writer, and publish resolves with the chained receipts once the store
 * has made them durable (group commit). Ready exactly when the writer is running.
 */
import { Receipt } from '@app/core';
import { BusEvent, EventBus } from '@app/storage';
import { ChainWriter } from './chain-writer';

export class InProcessEventBus implements EventBus {
  readonly acknowledges = 'chained' as const;

  constructor(private readonly writer: ChainWriter) {}

  publish(events: BusEvent[]): Promise<Receipt[]> {
    return this.writer.submit(events);
  }

  /** The writer's lifecycle belongs to the pipeline module; nothing to connect. */
  async start(): Promise<void> {}

  isReady(): boolean {
    return this.writer.running;
  }

  async close(): Promise<void> {}
}
