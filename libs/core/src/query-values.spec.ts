/** The filter rules every query parameter follows: times (absolute and relative) and case-insensitive enums. */
import { matchEnum, parseQueryTime } from './query-values';

const NOW = Date.parse('2026-12-07T12:00:00.000Z');

describe('parseQueryTime', () => {
  it('takes RFC 3339 timestamps and dates', () => {
    expect(parseQueryTime('2026-03-02T10:15:00Z', NOW)).toBe(Date.parse('2026-03-02T10:15:00Z'));
    expect(parseQueryTime('2026-03-02T10:15:00.123+01:00', NOW)).toBe(Date.parse('2026-03-02T09:15:00.123Z'));
    expect(parseQueryTime('2026-03-02', NOW)).toBe(Date.parse('2026-03-02T00:00:00Z'));
  });

  it('takes times relative to the clock: now, now-30d, now-2h, now-15m, now-45s, now-1w, now+1h, any case', () => {
    expect(parseQueryTime('now', NOW)).toBe(NOW);
    expect(parseQueryTime('now-30d', NOW)).toBe(NOW - 30 * 86_400_000);
    expect(parseQueryTime('now-2h', NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseQueryTime('now-15m', NOW)).toBe(NOW - 15 * 60_000);
    expect(parseQueryTime('now-45s', NOW)).toBe(NOW - 45_000);
    expect(parseQueryTime('now-1w', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseQueryTime('now+1h', NOW)).toBe(NOW + 3_600_000);
    expect(parseQueryTime('NOW-2H', NOW)).toBe(NOW - 2 * 3_600_000);
  });

  it('refuses anything else', () => {
    for (const bad of ['yesterday', 'now-', 'now-2', 'now-2y', 'now - 2h', 'now-1234567d', '2026-13-45', '12:00', '', '1733572800000', '2026-03-02Tnoon']) {
      expect({ bad, ms: parseQueryTime(bad, NOW) }).toEqual({ bad, ms: null });
    }
  });
});

describe('matchEnum', () => {
  it('finds the vocabulary value in any case, and nothing for an unknown value', () => {
    expect(matchEnum('HIGH', ['low', 'medium', 'high'] as const)).toBe('high');
    expect(matchEnum('Data_Access', ['data_access', 'security'] as const)).toBe('data_access');
    expect(matchEnum('urgent', ['low', 'high'] as const)).toBeUndefined();
  });
});
