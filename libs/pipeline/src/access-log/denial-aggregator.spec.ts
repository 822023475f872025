/** DenialAggregator: the first refusal per key and window is recorded, the rest counted into one follow-up; keys are bounded. */
import { DenialAggregator } from './denial-aggregator';

describe('DenialAggregator', () => {
  const W = 60_000;
  const t0 = 10 * W; // start of a window

  it('records the first refusal of a key at once and counts the rest into one follow-up when the window ends', () => {
    const agg = new DenialAggregator<string>({ windowMs: W });
    expect(agg.offer('ip1/no_credentials', 'first', t0 + 5)).toEqual({ recordNow: true, overflow: false, due: [] });
    for (let i = 1; i <= 999; i++) expect(agg.offer('ip1/no_credentials', `later-${i}`, t0 + 5 + i).recordNow).toBe(false);
    expect(agg.flush(t0 + W - 1)).toEqual([]); // same window: nothing due yet
    expect(agg.flush(t0 + W)).toEqual([{ first: 'first', overflow: false, count: 999, sinceMs: t0 + 6, untilMs: t0 + 5 + 999 }]);
    expect(agg.flush(t0 + 2 * W)).toEqual([]); // written once
    expect(agg.offer('ip1/no_credentials', 'next window', t0 + 2 * W + 1).recordNow).toBe(true);
  });

  it('keeps keys apart, writes nothing for a key refused once, and hands due follow-ups to the next offer', () => {
    const agg = new DenialAggregator<string>({ windowMs: W });
    expect(agg.offer('a', 'a1', t0).recordNow).toBe(true);
    expect(agg.offer('b', 'b1', t0).recordNow).toBe(true);
    expect(agg.offer('b', 'b2', t0 + 1).recordNow).toBe(false);
    const next = agg.offer('a', 'a-next', t0 + W + 3);
    expect(next.recordNow).toBe(true);
    expect(next.due).toEqual([{ first: 'b1', overflow: false, count: 1, sinceMs: t0 + 1, untilMs: t0 + 1 }]);
  });

  it('bounds a flood from many addresses: past maxKeys everything falls under one overflow key', () => {
    const agg = new DenialAggregator<number>({ windowMs: W, maxKeys: 100 });
    let recorded = 0;
    let overflowRecorded = 0;
    for (let i = 0; i < 100_000; i++) {
      const o = agg.offer(`ip-${i}`, i, t0 + (i % W));
      if (o.recordNow) recorded++;
      if (o.recordNow && o.overflow) overflowRecorded++;
    }
    expect(recorded).toBe(101);
    expect(overflowRecorded).toBe(1);
    expect(agg.size).toBe(101);
    const due = agg.flush(t0 + W);
    expect(due).toHaveLength(1);
    expect(due[0]).toMatchObject({ first: 100, overflow: true, count: 100_000 - 101 });
  });

  it('flushes everything pending on demand (shutdown) and refuses bad settings', () => {
    const agg = new DenialAggregator<string>({ windowMs: W });
    agg.offer('k', 'x', t0);
    agg.offer('k', 'y', t0 + 1);
    expect(agg.flush(t0 + 2, true)).toMatchObject([{ first: 'x', count: 1 }]);
    expect(() => new DenialAggregator({ windowMs: 0 })).toThrow(RangeError);
    expect(() => new DenialAggregator({ maxKeys: 0 })).toThrow(RangeError);
  });
});
