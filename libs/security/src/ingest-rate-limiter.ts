/**
 * Per-principal ingest rate limits: one token bucket per integration (or token subject), counting
 * events, not requests. Defaults from RATE_LIMIT_EVENTS_PER_SECOND / RATE_LIMIT_BURST, overridden per
 * integration by the integrations file. Over the limit: a 429 problem with Retry-After (seconds).
 * Buckets live in memory (per process); idle full buckets are dropped so the map stays small.
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, defaultBurst, DEFAULT_RATE_LIMIT_EVENTS_PER_SECOND, Problems } from '@app/core';
import { IntegrationSettings } from './integration-settings';
import type { Principal } from './principal';
import { TokenBucket } from './token-bucket';

/** Optional provider of the clock (milliseconds), for tests. */
export const RATE_LIMIT_CLOCK = Symbol('RATE_LIMIT_CLOCK');

/** Beyond this many buckets, full (idle) ones are dropped on the next miss. */
const PRUNE_ABOVE = 10_000;

type RateLimiterConfig = Pick<AppConfig, 'maxBatchEvents'> & Partial<Pick<AppConfig, 'rateLimitEventsPerSecond' | 'rateLimitBurst'>>;

@Injectable()
export class IngestRateLimiter {
  private readonly buckets = new Map<string, TokenBucket | null>();
  private readonly defaultRate: number;
  private readonly defaultBurst: number;
  private readonly now: () => number;

  constructor(
    @Inject(APP_CONFIG) config: RateLimiterConfig,
    private readonly settings: IntegrationSettings,
    @Optional() @Inject(RATE_LIMIT_CLOCK) clock?: () => number,
  ) {
    this.defaultRate = config.rateLimitEventsPerSecond ?? DEFAULT_RATE_LIMIT_EVENTS_PER_SECOND;
    this.defaultBurst = config.rateLimitBurst ?? defaultBurst(this.defaultRate, config.maxBatchEvents ?? 1);
    this.now = clock ?? Date.now;
  }

  /** Charges `events` events to the principal; throws a 429 ProblemError (with Retry-After) when over. */
  take(principal: Pick<Principal, 'sub' | 'role' | 'integration'>, events: number): void {
    const key = principal.integration !== undefined ? `integration:${principal.integration}` : `${principal.role}:${principal.sub}`;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = this.createBucket(principal.integration);
      if (this.buckets.size >= PRUNE_ABOVE) this.prune();
      this.buckets.set(key, bucket);
    }
    if (bucket === null) return; // unlimited
    const result = bucket.take(events, this.now());
    if (!result.ok) throw Problems.tooManyRequests(Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
  }

  private createBucket(integration: string | undefined): TokenBucket | null {
    const own = integration !== undefined ? this.settings.get(integration) : undefined;
    const rate = own?.eventsPerSecond ?? this.defaultRate;
    if (rate <= 0) return null;
    const burst = own?.burst ?? (own?.eventsPerSecond !== undefined ? Math.max(Math.ceil(2 * rate), 1) : this.defaultBurst);
    return new TokenBucket(rate, burst, this.now());
  }

  private prune(): void {
    const now = this.now();
    for (const [key, bucket] of this.buckets) if (bucket === null || bucket.isFull(now)) this.buckets.delete(key);
  }
}
