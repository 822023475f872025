/** Port: where the ATNA stream ingestor stores the events it mapped (IngestService satisfies it). */
import type { AccessEvent, Receipt } from '@app/core';

export interface AtnaEventSink {
  ingestValidated(events: AccessEvent[]): Promise<Receipt[]>;
}
