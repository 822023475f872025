/**
 * Event times as epoch milliseconds, fast: the engine parses every event's occurredAt (and its
 * receive time), and Date.parse costs several times more than reading the canonical UTC form
 * (`2024-03-05T15:00:00Z`, `2024-03-05T15:00:00.123Z`) digit by digit. Anything else (offsets,
 * other precisions, invalid text) goes to Date.parse, so results are always identical to it. The
 * date becomes days since 1970 by integer arithmetic (the proleptic Gregorian calendar Date.UTC
 * uses), without a Date call.
 */

const ZERO = 48;

/** Two decimal digits at i, or -1 when either is not a digit. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - ZERO;
  const b = s.charCodeAt(i + 1) - ZERO;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

const MS_PER_DAY = 86_400_000;

function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** Days of month `month` (1-12) in `year`. */
function monthDays(year: number, month: number): number {
  return month === 2 ? (isLeap(year) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to year-month-day (proleptic Gregorian; H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
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
      // Years before 100 are Date.parse's to read; a day past the month's end (31 Feb) is invalid.
      if (year >= 100 && d <= monthDays(year, mo)) {
        return daysFromCivil(year, mo, d) * MS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1000 + msHi * 10 + msLo;
      }
    }
  }
  return Date.parse(text);
}
