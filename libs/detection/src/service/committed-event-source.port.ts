/** The CommittedEventSource port: how streaming detection tails the events committed to the store, in commit order. */
import type { PositionedEvent } from '@app/storage';

/** The part of the EventStore the worker needs (EventStore.readSince / lastPosition). */
export interface CommittedEventSource {
  readSince(afterPosition: number, limit: number): Promise<PositionedEvent[]>;
  lastPosition(): Promise<number>;
  /** Positions and ids only (EventStore.readIdsSince): pairs them with the events the writer just committed. */
  readIdsSince(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]>;
}
