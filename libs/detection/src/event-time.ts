/**
 * Event times as epoch milliseconds, fast: the engine parses every event's occurredAt (and its
 * receive time), and Date.parse costs several times more than reading the canonical UTC form
 * (`2024-03-05T15:00:00Z`, `2024-03-05T15:00:00.123Z`) digit by digit. Anything else (offsets,
 * other precisions, invalid text) goes to Date.parse, so results are always identical to it.
 */

const ZERO = 48;

/** Two decimal digits at i, or -1 when either is not a digit. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - ZERO;
  const b = s.charCodeAt(i + 1) - ZERO;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

export function parseEventTime(text: string): number {
  const n = text.length;
  if (
    (n === 20 || n === 24) &&
    text.charCodeAt(4) === 45 && // -
    text.charCodeAt(7) === 45 &&
    text.charCodeAt(10) === 84 && // T
    text.charCodeAt(13) === 58 && // :
    text.charCodeAt(16) === 58 &&
    text.charCodeAt(n - 1) === 90 && // Z
    (n === 20 || text.charCodeAt(19) === 46) // .
  ) {
    const c = twoDigits(text, 0);
    const y = twoDigits(text, 2);
    const mo = twoDigits(text, 5);
    const d = twoDigits(text, 8);
    const h = twoDigits(text, 11);
    const mi = twoDigits(text, 14);
    const s = twoDigits(text, 17);
    const msHi = n === 24 ? twoDigits(text, 20) : 0;
    const msLo = n === 24 ? text.charCodeAt(22) - ZERO : 0;
    if (c >= 0 && y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 59 && msHi >= 0 && msLo >= 0 && msLo <= 9) {
      const year = c * 100 + y;
      const ms = Date.UTC(year, mo - 1, d, h, mi, s, msHi * 10 + msLo);
      // Date.UTC rolls 31 Feb over into March; the day must survive the round trip.
      if (d <= 28 || new Date(ms).getUTCDate() === d) return year < 100 ? Date.parse(text) : ms;
    }
  }
  return Date.parse(text);
}
