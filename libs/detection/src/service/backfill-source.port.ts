/** Port: the stored events a backfill replays, in commit order (the event store satisfies it). */
import type { EventTimeRange, PositionedEvent } from '@app/storage';

export interface BackfillSource {
  readSince(afterPosition: number, limit: number, range?: EventTimeRange): Promise<PositionedEvent[]>;
  lastPosition(): Promise<number>;
}
