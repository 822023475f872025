/**
 * Admission of posted events, before validation and storage: charges them to the caller's rate
 * limit (events, not requests) and enforces source ownership (filling in `source.integration`).
 * One call for every ingest route (POST /v1/events, FHIR, ...), so the rules cannot drift apart.
 */
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/core';
import { IngestRateLimiter } from './ingest-rate-limiter';
import type { Principal } from './principal';
import { SourceOwnershipService } from './source-ownership.service';

@Injectable()
export class IngestAdmission {
  constructor(
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'maxBatchEvents'>,
    private readonly rateLimiter: IngestRateLimiter,
    private readonly ownership: SourceOwnershipService,
  ) {}

  /**
   * For a raw POST /v1/events body (one event or `{ events: [...] }`). Throws 429 or 403 problems.
   * A batch larger than MAX_BATCH_EVENTS is left alone here: validation refuses it whole (413).
   */
  admitBody(principal: Principal, body: unknown): void {
    const batch = typeof body === 'object' && body !== null && !Array.isArray(body) && Array.isArray((body as { events?: unknown }).events);
    const candidates: readonly unknown[] = batch ? ((body as { events: unknown[] }).events) : [body];
    if (candidates.length > this.config.maxBatchEvents) return;
    this.rateLimiter.take(principal, Math.max(1, candidates.length));
    this.ownership.enforce(principal, candidates, batch);
  }

  /** For events mapped from another format (e.g. FHIR AuditEvent) before ingestValidated. */
  admitEvents(principal: Principal, events: readonly unknown[]): void {
    this.rateLimiter.take(principal, Math.max(1, events.length));
    this.ownership.enforce(principal, events, events.length > 1);
  }
}
