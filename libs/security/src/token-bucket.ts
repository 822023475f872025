/**
 * A token bucket (pure, clock passed in): holds at most `capacity` tokens, refills at
 * `ratePerSecond`, and a request costing n tokens either takes them all or none and learns how
 * long to wait. Used for per-integration ingest rate limits, where one event costs one token.
 */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    nowMs: number,
  ) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) throw new RangeError('ratePerSecond must be a positive number');
    if (!(capacity >= 1) || !Number.isFinite(capacity)) throw new RangeError('capacity must be at least 1');
    this.tokens = capacity;
    this.updatedAt = nowMs;
  }

  /**
   * Takes `cost` tokens if the bucket holds them. A cost above the capacity is charged as a full
   * bucket (it could otherwise never pass).
   */
  take(cost: number, nowMs: number): TakeResult {
    this.refill(nowMs);
    const need = Math.min(Math.max(cost, 0), this.capacity);
    if (this.tokens >= need) {
      this.tokens -= need;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((need - this.tokens) / this.ratePerSecond) * 1000) };
  }

  /** True when the bucket is full again (an idle bucket can be dropped and recreated later). */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.capacity;
  }

  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  private refill(nowMs: number): void {
    const elapsed = nowMs - this.updatedAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1000) * this.ratePerSecond);
      this.updatedAt = nowMs;
    }
  }
}
