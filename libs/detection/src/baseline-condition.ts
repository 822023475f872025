/**
 * The `baseline:` condition: judges an event against what was learned from history (baselines.ts)
 * for the actor (`of: user`, the default) or the actor's peer group (`of: peers`: same role and
 * department).
 *
 *   baseline: { of?: user|peers, minDays?: 5, learned?: true|false,
 *               hours?: usual|unusual, minShare?: 0.05,
 *               dailyPatients?: { above?: 3, min?: 20 } }
 *
 * - `learned`: whether at least `minDays` days of history exist.
 * - `hours: unusual`: learned, and fewer than `minShare` of the learned days had activity in the
 *   event's local hour or the hours beside it (`usual`: the opposite, also only when learned).
 * - `dailyPatients`: learned, and the distinct patients the actor touched on the event's local day
 *   (this one included) reach `min` and exceed `above` times the usual day (90th percentile).
 * Without enough history every form but `learned: false` is false: baselines never fire while learning.
 */
import type { ConditionContext, IssuePath, Predicate } from './condition-compiler';

const KEYS = ['of', 'minDays', 'learned', 'hours', 'minShare', 'dailyPatients'] as const;
const NEVER: Predicate = () => false;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function compileBaselineCondition(raw: unknown, path: IssuePath, ctx: ConditionContext): Predicate {
  if (!isPlainObject(raw)) {
    ctx.issues.push({ path, message: 'must be a map such as { hours: unusual } or { of: peers, dailyPatients: { above: 3, min: 20 } }' });
    return NEVER;
  }
  const before = ctx.issues.length;
  for (const key of Object.keys(raw)) {
    if (!(KEYS as readonly string[]).includes(key)) ctx.issues.push({ path: [...path, key], message: `unknown baseline condition "${key}" (one of: ${KEYS.join(', ')})` });
  }
  const of = raw.of ?? 'user';
  if (of !== 'user' && of !== 'peers') ctx.issues.push({ path: [...path, 'of'], message: 'must be user or peers' });
  const number = (key: string, fallback: number, check: (n: number) => boolean, hint: string, at: IssuePath = [...path, key], source = raw): number => {
    const v = source[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
      ctx.issues.push({ path: at, message: hint });
      return fallback;
    }
    return v;
  };
  const minDays = number('minDays', 5, (n) => Number.isInteger(n) && n >= 1, 'must be a whole number of days, at least 1');
  const minShare = number('minShare', 0.05, (n) => n > 0 && n <= 1, 'must be a share of days between 0 (exclusive) and 1');
  if (raw.learned !== undefined && typeof raw.learned !== 'boolean') ctx.issues.push({ path: [...path, 'learned'], message: 'must be true or false' });
  if (raw.hours !== undefined && raw.hours !== 'usual' && raw.hours !== 'unusual') ctx.issues.push({ path: [...path, 'hours'], message: 'must be usual or unusual' });
  let volume: { above: number; min: number } | null = null;
  if (raw.dailyPatients !== undefined) {
    const d = raw.dailyPatients;
    if (!isPlainObject(d)) ctx.issues.push({ path: [...path, 'dailyPatients'], message: 'must be a map { above: <factor>, min: <count> }' });
    else {
      for (const key of Object.keys(d)) {
        if (key !== 'above' && key !== 'min') ctx.issues.push({ path: [...path, 'dailyPatients', key], message: 'unknown key (one of: above, min)' });
      }
      const above = number('above', 3, (n) => n >= 1, 'must be a factor of at least 1', [...path, 'dailyPatients', 'above'], d);
      const min = number('min', 20, (n) => Number.isInteger(n) && n >= 1, 'must be a whole number of patients, at least 1', [...path, 'dailyPatients', 'min'], d);
      volume = { above, min };
    }
  }
  if (raw.learned === undefined && raw.hours === undefined && raw.dailyPatients === undefined) {
    ctx.issues.push({ path, message: 'needs at least one of learned, hours or dailyPatients' });
  }
  if (ctx.issues.length > before) return NEVER;

  const learned = raw.learned as boolean | undefined;
  const hours = raw.hours as 'usual' | 'unusual' | undefined;
  return (_event, _ts, facts) => {
    if (!facts || facts.baselines === null) return learned === false && hours === undefined && volume === null;
    const view = of === 'peers' ? facts.peerBaseline()! : facts.userBaseline()!;
    const isLearned = view.days >= minDays;
    if (learned !== undefined && isLearned !== learned) return false;
    if (hours === undefined && volume === null) return true;
    if (!isLearned) return false;
    if (hours !== undefined) {
      const share = view.hourShare(facts.localHour());
      if (hours === 'unusual' ? share >= minShare : share < minShare) return false;
    }
    if (volume) {
      const today = facts.patientsToday();
      if (today < volume.min || today <= volume.above * view.usualDailyPatients()) return false;
    }
    return true;
  };
}
