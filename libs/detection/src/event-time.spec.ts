/** parseEventTime agrees with Date.parse on canonical, unusual and invalid timestamps. */
import { parseEventTime } from './event-time';

describe('parseEventTime', () => {
  it('agrees with Date.parse', () => {
    const texts = [
      '2024-03-05T15:00:00Z', '2024-03-05T15:00:00.123Z', '1999-12-31T23:59:59.999Z', '2024-02-29T12:00:00Z', '2023-02-29T12:00:00Z',
      '2024-04-31T00:00:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z', '2024-01-01T24:00:00Z', '2024-01-01T23:60:00Z',
      '2024-01-01T23:59:60Z', '2024-01-01T00:00:00+02:00', '2024-01-01T00:00:00.5Z', '2024-01-01', 'x024-01-01T00:00:00Z',
      '2024-01-01T00:00:00.12xZ', '0099-01-01T00:00:00Z', 'not a time', '',
    ];
    for (const t of texts) expect([t, parseEventTime(t)]).toEqual([t, Date.parse(t)]);
    // Month ends of every month, 1899-2101 (leap years, 1900 and 2100 not, 2000 yes), and the days past them.
    for (let year = 1899; year <= 2101; year++) {
      for (let month = 1; month <= 12; month++) {
        for (const day of [1, 28, 29, 30, 31]) {
          const t = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T23:59:59.999Z`;
          expect([t, parseEventTime(t)]).toEqual([t, Date.parse(t)]);
        }
      }
    }
    for (let i = 0; i < 10_000; i++) {
      const t = new Date(Math.floor(Math.random() * 4e12)).toISOString();
      expect(parseEventTime(t)).toBe(Date.parse(t));
      expect(parseEventTime(t.replace(/\.\d{3}Z$/, 'Z'))).toBe(Date.parse(t.replace(/\.\d{3}Z$/, 'Z')));
    }
  });
});
