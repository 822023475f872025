/** jsonInTurns gives the text JSON.stringify gives, and lets other work run meanwhile. */
import { jsonInTurns } from './json-in-turns';

function randomValue(depth: number, rnd: () => number): unknown {
  const pick = rnd();
  if (depth <= 0 || pick < 0.3) {
    const leaf = [() => null, () => rnd() < 0.5, () => Math.floor(rnd() * 1e9) / 7, () => `s${rnd()}"\\\u2028é`, () => undefined][Math.floor(rnd() * 5)];
    return leaf();
  }
  if (pick < 0.65) {
    // Long arrays (serialized in slices) hold small rows, as the snapshot's tables do.
    if (rnd() < 0.2) return Array.from({ length: 2000 + Math.floor(rnd() * 3000) }, () => randomValue(Math.min(1, depth - 1), rnd));
    return Array.from({ length: Math.floor(rnd() * 5) }, () => randomValue(depth - 1, rnd));
  }
  const o: Record<string, unknown> = {};
  for (let i = 0; i < Math.floor(rnd() * 5); i++) o[`k"${i}`] = randomValue(depth - 1, rnd);
  return o;
}

function seeded(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
}

describe('jsonInTurns', () => {
  it('gives exactly the text JSON.stringify gives for random nested values (long arrays, undefined members, escapes)', async () => {
    for (let seed = 1; seed <= 15; seed++) {
      const value = { top: randomValue(4, seeded(seed)), gone: undefined, list: [undefined, 1] };
      const parts = await jsonInTurns(value, 1);
      expect(parts.join('')).toBe(JSON.stringify(value));
    }
  });

  it('splits an array of few but large elements (window groups) too, and yields between the pieces', async () => {
    const groups = Array.from({ length: 300 }, (_, g) => [`actor-${g}`, Array.from({ length: 3000 }, (_, i) => g * 1e6 + i), [undefined, 'x"y']]);
    const value = { rules: { 'bulk-phi-read': { fingerprint: 'f', state: { nextSweepAt: null, groups } } } };
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const parts = await jsonInTurns(value, 1);
    ticking = false;
    expect(parts.join('')).toBe(JSON.stringify(value));
    // Not one piece for the whole list: it was cut, and other work ran in between.
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThan(JSON.stringify(groups).length / 4);
    expect(ticks).toBeGreaterThan(2);
  });

  it('yields to the event loop while serializing a large value', async () => {
    const big = { events: Array.from({ length: 200_000 }, (_, i) => [`id-${i}`, i, `actor-${i % 100}`, null]) };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const parts = await jsonInTurns(big, 2);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
    expect(parts.join('')).toBe(JSON.stringify(big));
  });
});
