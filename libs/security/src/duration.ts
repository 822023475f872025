/**
 * Short duration strings used for token lifetimes: `<integer><unit>` with unit s, m, h or d
 * (e.g. 90s, 15m, 12h, 30d). Parsed to whole seconds.
 */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

export class DurationError extends Error {}

export function parseDurationSeconds(value: string): number {
  const m = /^(\d{1,9})([smhd])$/.exec(typeof value === 'string' ? value.trim() : '');
  if (!m) throw new DurationError(`invalid duration "${String(value)}": expected e.g. 15m, 12h, 30d`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (seconds <= 0) throw new DurationError(`invalid duration "${value}": must be greater than zero`);
  return seconds;
}
