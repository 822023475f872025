/**
 * The learned baselines on their own: usual hours (with the hours beside), usual daily volume,
 * peer groups, late events into a day still open (seen by views already handed out for later
 * days), and a snapshot round trip.
 */
import { BaselineBook } from './baselines';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const day0 = Date.parse('2024-03-04T00:00:00Z');

describe('BaselineBook', () => {
  it('learns usual hours and daily volume from history, never from the day being judged', () => {
    const book = new BaselineBook('UTC');
    for (let d = 0; d < 6; d++) for (let p = 0; p < 8; p++) book.learn('u', 'nurse|icu', `p-${d}-${p}`, day0 + d * DAY + 10 * HOUR + p * 60_000);
    const today = day0 + 6 * DAY + 3 * HOUR;
    const view = book.user('u', today);
    expect(view.days).toBe(6);
    expect(view.hourShare(10)).toBe(1);
    expect(view.hourShare(11)).toBe(1); // the hour beside counts
    expect(view.hourShare(3)).toBe(0);
    expect(view.usualDailyPatients()).toBe(8);
    expect(book.patientsOnDay('u', today, 'x')).toBe(1);
    // Peers: only days folded out of the two open ones (days 0-3 of six).
    expect(book.peers('nurse|icu').days).toBe(4);
    expect(book.peers('nurse|-').days).toBe(0);
  });

  it('a late event into yesterday (still open) reaches a view already handed out for today', () => {
    const book = new BaselineBook('UTC');
    for (let d = 0; d < 6; d++) book.learn('u', 'k', `p-${d}`, day0 + d * DAY + 10 * HOUR);
    const today = day0 + 6 * DAY + 3 * HOUR;
    expect(book.user('u', today).hourShare(3)).toBe(0);
    book.learn('u', 'k', 'p-late', day0 + 5 * DAY + 3 * HOUR);
    expect(book.user('u', today).hourShare(3)).toBeCloseTo(1 / 6);
  });

  it('survives a snapshot round trip', () => {
    const book = new BaselineBook('UTC');
    for (let d = 0; d < 8; d++) book.learn(`u-${d % 2}`, 'clerk|-', `p-${d}`, day0 + d * DAY + 9 * HOUR);
    const restored = new BaselineBook('UTC');
    restored.restore(JSON.parse(JSON.stringify(book.snapshot())));
    const at = day0 + 9 * DAY;
    expect(restored.snapshot()).toEqual(book.snapshot());
    expect(restored.user('u-1', at).days).toBe(book.user('u-1', at).days);
    expect(restored.peers('clerk|-').hourShare(9)).toBe(book.peers('clerk|-').hourShare(9));
  });
});
