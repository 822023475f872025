/**
 * The two rules every query parameter of the API follows (docs/case-work.md "Filters"):
 *   - times (`from`, `to`): an RFC 3339 timestamp, a date (midnight UTC), or a time relative to
 *     the request's clock: `now`, `now-30d`, `now-2h`, `now-15m`, `now-45s` (also `w` weeks);
 *   - enum filters (status, severity, outcome, category, action, format, …) are matched
 *     case-insensitively: `action=READ` finds `read`, `severity=HIGH` finds `high`.
 * Pure: the caller passes the clock.
 */

const ABSOLUTE = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?$/;
const RELATIVE = /^now(?:([+-])(\d{1,6})([smhdw]))?$/i;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** What a time parameter accepts, in words (problem details and OpenAPI descriptions). */
export const QUERY_TIME_FORMS = 'an RFC 3339 timestamp, a date (YYYY-MM-DD) or a relative time (now, now-30d, now-2h, now-15m)';

/** Epoch ms of a `from`/`to` value, or null when it is none of the accepted forms. */
export function parseQueryTime(value: string, nowMs: number = Date.now()): number | null {
  const v = value.trim();
  const rel = RELATIVE.exec(v);
  if (rel) {
    if (!rel[1]) return nowMs;
    const delta = Number(rel[2]) * UNIT_MS[rel[3].toLowerCase()];
    const ms = rel[1] === '-' ? nowMs - delta : nowMs + delta;
    return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : null;
  }
  if (!ABSOLUTE.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : ms;
}

/** The vocabulary value `value` names, compared case-insensitively; undefined when it names none. */
export function matchEnum<T extends string>(value: string, allowed: readonly T[]): T | undefined {
  const lower = value.toLowerCase();
  return allowed.find((a) => a.toLowerCase() === lower);
}

/** One query parameter at a time, collecting errors by pointer (never by value). */
export interface QueryParamReader {
  /** A single non-empty value of at most 256 characters, or undefined when absent (an error when malformed). */
  str(key: string): string | undefined;
  /** `limit`: an integer from 1 to `max`, else `fallback` (an error when malformed). */
  limit(fallback: number, max: number): number;
}

export function queryParamReader(params: Record<string, unknown>, errors: { pointer: string; message: string }[]): QueryParamReader {
  const str = (key: string): string | undefined => {
    const v = params[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
      errors.push({ pointer: `/query/${key}`, message: 'must be a single non-empty value of at most 256 characters' });
      return undefined;
    }
    return v;
  };
  return {
    str,
    limit(fallback, max) {
      const v = str('limit');
      if (v === undefined) return fallback;
      const n = Number(v);
      if (Number.isInteger(n) && n >= 1 && n <= max) return n;
      errors.push({ pointer: '/query/limit', message: `must be an integer from 1 to ${max}` });
      return fallback;
    },
  };
}
