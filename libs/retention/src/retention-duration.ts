/**
 * Calendar durations for retention windows ("7 years", "90 days"): parsed from ISO 8601
 * (`P7Y`, `P1Y6M`, `P90D`, `P12W`) or a short form (`7y`, `18mo`, `12w`, `90d`), printed back as
 * ISO 8601, and applied to instants with UTC calendar arithmetic so "6 years" means the same
 * calendar date six years on (Feb 29 rolls to Mar 1). Pure.
 */

export interface RetentionDuration {
  years: number;
  months: number;
  days: number;
}

const ISO = /^P(?:(\d{1,4})Y)?(?:(\d{1,5})M)?(?:(\d{1,5})W)?(?:(\d{1,6})D)?$/;
const SHORT = /^(\d{1,6})(y|mo|w|d)$/;

/** Parses a duration, or returns null when the text is not one (time parts are not allowed). */
export function parseRetentionDuration(text: unknown): RetentionDuration | null {
  if (typeof text !== 'string') return null;
  const t = text.trim();
  const short = SHORT.exec(t);
  if (short) {
    const n = Number(short[1]);
    if (short[2] === 'y') return { years: n, months: 0, days: 0 };
    if (short[2] === 'mo') return { years: 0, months: n, days: 0 };
    if (short[2] === 'w') return { years: 0, months: 0, days: 7 * n };
    return { years: 0, months: 0, days: n };
  }
  const iso = ISO.exec(t.toUpperCase());
  if (!iso || t.length < 2 || t.toUpperCase() === 'P') return null;
  return {
    years: Number(iso[1] ?? 0),
    months: Number(iso[2] ?? 0),
    days: Number(iso[3] ?? 0) * 7 + Number(iso[4] ?? 0),
  };
}

/** ISO 8601 text of a duration (`P7Y`, `P1Y6M`, `P90D`; zero is `P0D`). */
export function formatRetentionDuration(d: RetentionDuration): string {
  const parts = `${d.years ? `${d.years}Y` : ''}${d.months ? `${d.months}M` : ''}${d.days ? `${d.days}D` : ''}`;
  return `P${parts || '0D'}`;
}

/** Approximate length in days (365.2425-day years), only to order durations. */
export function approximateDays(d: RetentionDuration): number {
  return d.years * 365.2425 + d.months * 30.436875 + d.days;
}

/** The instant `d` before `ms`, by the UTC calendar. */
export function subtractDuration(ms: number, d: RetentionDuration): number {
  const t = new Date(ms);
  t.setUTCFullYear(t.getUTCFullYear() - d.years, t.getUTCMonth() - d.months, t.getUTCDate() - d.days);
  return t.getTime();
}

/** The instant `d` after `ms`, by the UTC calendar. */
export function addDuration(ms: number, d: RetentionDuration): number {
  const t = new Date(ms);
  t.setUTCFullYear(t.getUTCFullYear() + d.years, t.getUTCMonth() + d.months, t.getUTCDate() + d.days);
  return t.getTime();
}
