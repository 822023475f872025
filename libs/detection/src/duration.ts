/**
 * Durations as rule files write them ("90s", "10m", "1h", "30d", "2w") and back to text for
 * alerts and runbooks. Kept tiny and strict so a typo in a rule file is an error, not a zero.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PATTERN = /^(\d{1,9})(ms|s|m|h|d|w)$/;

export const DURATION_HINT = 'must be a duration such as 30s, 10m, 1h, 30d or 2w';

/** Milliseconds for a duration text, or null when the text is not a duration. */
export function tryParseDuration(text: string): number | null {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2]];
}

/** Milliseconds for a duration text; throws on anything else. */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === null) throw new Error(`"${text}" ${DURATION_HINT}`);
  return ms;
}

/** Short human form: the largest exact units, e.g. 5_400_000 -> "1h 30m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}ms`);
  return sign + parts.slice(0, 2).join(' ');
}
