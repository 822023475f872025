/**
 * The Elasticsearch windows of each retention class (STORE=elasticsearch), taken from the same
 * retention policy the embedded store applies (RETENTION_CONFIG, or the built-in defaults), and the
 * start-up cross-check of the older ELASTICSEARCH_WARM_AFTER / ELASTICSEARCH_COLD_AFTER keys against
 * that policy. Pure: the service's wiring (pipeline scale-out.ts) and the CLI call it.
 *
 * Mapping: the ILM warm phase begins where the policy's hot tier ends, the cold phase where its
 * warm tier ends, and the retention window is the class's `retain`. ILM counts from rollover, which
 * comes after the last write to a backing index, so no record changes tier before its age. ILM
 * knows no months or years: a calendar duration is rounded up to whole days (a year counts 366),
 * so a tier move may come up to a day late, never early. Deletion itself is not ILM's: the
 * retention run deletes a backing index once its newest record is past the exact calendar window
 * (es-retention-runner.ts in libs/storage).
 */
import { EVENT_CATEGORIES, EventCategory, ilmAgeMinutes } from '@app/core';
import type { RetentionClass } from '@app/storage/elasticsearch/es-schema';
import { RetentionDuration, approximateDays, formatRetentionDuration } from './retention-duration';
import { RetentionPolicy } from './retention-policy';

/** A duration as whole ILM days, never shorter than the duration. */
export function ilmDays(d: RetentionDuration): string {
  const days = d.years === 0 && d.months === 0 ? d.days : Math.ceil(d.years * 366 + d.months * 31 + d.days);
  return `${days}d`;
}

/** Every class's ILM windows from the retention policy. */
export function esRetentionClasses(policy: RetentionPolicy): Record<EventCategory, RetentionClass> {
  const out = {} as Record<EventCategory, RetentionClass>;
  for (const category of EVENT_CATEGORIES) {
    const p = policy.categories[category];
    const r = p.retain;
    out[category] = { warmAfter: ilmDays(p.hot), coldAfter: ilmDays(p.warm), deleteAfter: ilmDays(r), minDays: r.years * 365 + r.months * 28 + r.days };
  }
  return out;
}

/**
 * Where ELASTICSEARCH_WARM_AFTER / ELASTICSEARCH_COLD_AFTER (when set) disagree with the retention
 * policy, one message per key naming both keys, the values and the first class that differs. The
 * ILM tiers follow the retention policy; these keys may stay only when they say the same.
 */
export function esRetentionConflicts(policy: RetentionPolicy, source: string, es: { warmAfter?: string; coldAfter?: string }): string[] {
  const issues: string[] = [];
  const check = (key: string, value: string | undefined, tier: 'hot' | 'warm') => {
    if (value === undefined) return;
    for (const category of EVENT_CATEGORIES) {
      const d = policy.categories[category][tier];
      const days = ilmDays(d);
      if (ilmAgeMinutes(value) === ilmAgeMinutes(days)) continue;
      issues.push(
        `${key}=${value} disagrees with RETENTION_CONFIG (${source}): categories.${category}.tiers.${tier} is ${formatRetentionDuration(d)} (${days}). ` +
          `The Elasticsearch ILM tiers follow RETENTION_CONFIG; remove ${key} or set it to ${days}.`,
      );
      return;
    }
  };
  check('ELASTICSEARCH_WARM_AFTER', es.warmAfter, 'hot');
  check('ELASTICSEARCH_COLD_AFTER', es.coldAfter, 'warm');
  return issues;
}

/** The shortest hot and warm tier of any class (the legal-hold policy's warm and cold ages). */
export function shortestTiers(policy: RetentionPolicy): { warmAfter: string; coldAfter: string } {
  const by = (tier: 'hot' | 'warm') =>
    EVENT_CATEGORIES.map((c) => policy.categories[c][tier]).reduce((a, b) => (approximateDays(b) < approximateDays(a) ? b : a));
  return { warmAfter: ilmDays(by('hot')), coldAfter: ilmDays(by('warm')) };
}
