/**
 * Ingestion use case: validate a posted body against the canonical event (all-or-nothing),
 * canonicalize each event, and hand them to the chain writer; resolves with the receipts once
 * the events are durable.
 */
import { AccessEvent, EventValidator, Receipt } from '@app/core';
import { canonicalize } from '@app/ledger';
import { ChainWriter } from './chain-writer';
import { MetricsService } from './metrics.service';

export class IngestService {
  private readonly validator = new EventValidator();

  constructor(
    private readonly writer: ChainWriter,
    private readonly maxBatchEvents: number,
    private readonly metrics?: MetricsService,
  ) {}

  /** Validates and stores a request body (one event or `{ events: [...] }`). */
  async ingestBody(body: unknown): Promise<Receipt[]> {
    let events: AccessEvent[];
    try {
      events = this.validator.parseBody(body, this.maxBatchEvents);
    } catch (err) {
      this.metrics?.ingestedEvents.inc({ result: 'rejected' });
      throw err;
    }
    return this.ingestValidated(events);
  }

  /** Stores events that already passed validation (e.g. mapped from FHIR or ATNA). */
  async ingestValidated(events: AccessEvent[]): Promise<Receipt[]> {
    this.metrics?.requestBatchSize.observe(events.length);
    return this.writer.submit(events.map((event) => ({ event, json: canonicalize(event) })));
  }
}
