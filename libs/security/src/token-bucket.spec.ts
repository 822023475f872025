/** TokenBucket tests: burst, refill, all-or-nothing takes, Retry-After arithmetic, oversize costs. */
import { TokenBucket } from './token-bucket';

describe('TokenBucket', () => {
  it('lets a burst through, then refuses until refilled, saying how long to wait', () => {
    const b = new TokenBucket(100, 200, 0);
    expect(b.take(150, 0)).toEqual({ ok: true });
    expect(b.take(100, 0)).toEqual({ ok: false, retryAfterMs: 500 }); // 50 left, 50 more at 100/s
    expect(b.available(0)).toBe(50); // a refused take costs nothing
    expect(b.take(100, 500)).toEqual({ ok: true });
    expect(b.available(500)).toBe(0);
  });

  it('never holds more than its capacity and reports when full again', () => {
    const b = new TokenBucket(10, 20, 0);
    b.take(20, 0);
    expect(b.isFull(1000)).toBe(false);
    expect(b.isFull(2000)).toBe(true);
    expect(b.available(60_000)).toBe(20);
  });

  it('charges a cost above capacity as a full bucket', () => {
    const b = new TokenBucket(10, 20, 0);
    expect(b.take(500, 0)).toEqual({ ok: true });
    expect(b.take(1, 0).ok).toBe(false);
  });

  it('ignores a clock that goes backwards', () => {
    const b = new TokenBucket(10, 20, 1000);
    b.take(20, 1000);
    expect(b.available(0)).toBe(0);
    expect(b.available(2000)).toBe(10);
  });

  it('refuses nonsense settings', () => {
    expect(() => new TokenBucket(0, 10, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(10, 0, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(Infinity, 10, 0)).toThrow(RangeError);
  });
});
