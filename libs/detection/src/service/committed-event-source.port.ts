/** The CommittedEventSource port: how streaming detection tails the events committed to the store, in commit order. */
import type { PositionedEvent } from '@app/storage';

/** The part of the EventStore the worker needs (EventStore.readSince / lastPosition). */
export interface CommittedEventSource {
  readSince(afterPosition: number, limit: number): Promise<PositionedEvent[]>;
  lastPosition(): Promise<number>;
  /** Positions and ids only (EventStore.readIdsSince); without it every event is read in full. */
  readIdsSince?(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]>;
}
