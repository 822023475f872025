/**
 * The retention policy model: how long each event category is kept and when its records move
 * between tiers (hot -> warm -> cold -> deleted), all counted from the record's receive time.
 * Parsed and validated from the RETENTION_CONFIG document (YAML or JSON), or the built-in defaults
 * (HIPAA practice: authentication, security and system access 7 years; data access, data
 * modification and administrative 6 years; hot 90 days, warm until 1 year, then cold).
 *
 * Pure: the API shows it (`GET /v1/retention/policies`) and the retention runner decides with it
 * (`retentionCutoffs`, `retentionTierAt`). Legal holds are checked separately (legal-hold.ts).
 */
import { EVENT_CATEGORIES, EventCategory } from '@app/core';
import {
  RetentionDuration,
  approximateDays,
  formatRetentionDuration,
  parseRetentionDuration,
  subtractDuration,
} from './retention-duration';

export const RETENTION_TIERS = ['hot', 'warm', 'cold'] as const;
export type RetentionTier = (typeof RETENTION_TIERS)[number];
/** Where a record belongs at a given time: one of the tiers, or past its window. */
export type RetentionStage = RetentionTier | 'delete';

export interface CategoryRetentionPolicy {
  category: EventCategory;
  /** Age at which records are deleted (unless a legal hold covers them). */
  retain: RetentionDuration;
  /** Records are hot (fully indexed) until this age... */
  hot: RetentionDuration;
  /** ...then warm (compact, still queryable) until this age, then cold (sealed archive) until `retain`. */
  warm: RetentionDuration;
}

export interface RetentionPolicy {
  version: 1;
  categories: Readonly<Record<EventCategory, CategoryRetentionPolicy>>;
}

/** The configuration document (RETENTION_CONFIG file, and the API's view of a policy). */
export interface RetentionPolicyDocument {
  version: 1;
  tiers?: TierAges;
  categories?: Partial<Record<EventCategory, { retain?: string; tiers?: TierAges }>>;
}

/**
 * Tier ages, each the age (from receive time) at which a record LEAVES that tier: `hot`, `warm`,
 * and `cold` / `delete` (leaving cold is being deleted: both say the same as `retain`).
 */
export interface TierAges {
  hot?: string;
  warm?: string;
  cold?: string;
  delete?: string;
}

export interface PolicyIssue {
  /** Where in the document, e.g. `categories.data_access.retain`. */
  path: string;
  message: string;
}

export class RetentionPolicyError extends Error {
  constructor(readonly issues: PolicyIssue[]) {
    super(issues.map((i) => `${i.path || '(document)'}: ${i.message}`).join('; '));
    this.name = 'RetentionPolicyError';
  }
}

const d = (text: string): RetentionDuration => parseRetentionDuration(text)!;

export const DEFAULT_TIER_AGES = { hot: 'P90D', warm: 'P1Y' } as const;
export const DEFAULT_RETENTION: Readonly<Record<EventCategory, string>> = {
  authentication: 'P7Y',
  security: 'P7Y',
  system_access: 'P7Y',
  data_access: 'P6Y',
  data_modification: 'P6Y',
  administrative: 'P6Y',
};

export const DEFAULT_RETENTION_POLICY: RetentionPolicy = Object.freeze({
  version: 1 as const,
  categories: Object.freeze(
    Object.fromEntries(
      EVENT_CATEGORIES.map((category) => [
        category,
        Object.freeze({ category, retain: d(DEFAULT_RETENTION[category]), hot: d(DEFAULT_TIER_AGES.hot), warm: d(DEFAULT_TIER_AGES.warm) }),
      ]),
    ) as Record<EventCategory, CategoryRetentionPolicy>,
  ),
});

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Validates a configuration document and fills what it leaves out from the defaults (a category
 * not listed keeps its default window; `tiers` at the top applies to every category that does not
 * set its own). Unknown keys are errors, so a typo cannot silently keep data for the wrong time.
 */
export function parseRetentionPolicy(doc: unknown): RetentionPolicy {
  const issues: PolicyIssue[] = [];
  if (!isPlainObject(doc)) throw new RetentionPolicyError([{ path: '', message: 'must be an object with version, tiers and categories' }]);
  const unknown = (obj: Record<string, unknown>, allowed: readonly string[], at: string) => {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) issues.push({ path: at ? `${at}.${k}` : k, message: `unknown key; allowed: ${allowed.join(', ')}` });
  };
  unknown(doc, ['version', 'tiers', 'categories'], '');
  if (doc.version !== undefined && doc.version !== 1) issues.push({ path: 'version', message: 'must be 1' });

  const duration = (value: unknown, at: string): RetentionDuration | undefined => {
    if (value === undefined) return undefined;
    const parsed = parseRetentionDuration(value);
    if (!parsed) issues.push({ path: at, message: 'must be a duration: ISO 8601 (P7Y, P1Y6M, P90D, P12W) or 7y, 18mo, 12w, 90d' });
    return parsed ?? undefined;
  };
  type Tiers = { hot?: RetentionDuration; warm?: RetentionDuration; delete?: RetentionDuration };
  const same = (a: RetentionDuration, b: RetentionDuration) => formatRetentionDuration(a) === formatRetentionDuration(b);
  const tiers = (value: unknown, at: string): Tiers => {
    if (value === undefined) return {};
    if (!isPlainObject(value)) {
      issues.push({ path: at, message: 'must be an object { hot, warm, cold?, delete? }' });
      return {};
    }
    unknown(value, ['hot', 'warm', 'cold', 'delete'], at);
    const cold = duration(value.cold, `${at}.cold`);
    const del = duration(value.delete, `${at}.delete`);
    if (cold && del && !same(cold, del)) issues.push({ path: `${at}.cold`, message: 'leaving cold is being deleted: cold and delete must be the same age' });
    return { hot: duration(value.hot, `${at}.hot`), warm: duration(value.warm, `${at}.warm`), delete: del ?? cold };
  };

  const shared = tiers(doc.tiers, 'tiers');
  const categories: Partial<Record<EventCategory, CategoryRetentionPolicy>> = {};
  const listed = doc.categories === undefined ? {} : doc.categories;
  if (!isPlainObject(listed)) issues.push({ path: 'categories', message: 'must be an object keyed by event category' });
  else unknown(listed, EVENT_CATEGORIES, 'categories');

  for (const category of EVENT_CATEGORIES) {
    const at = `categories.${category}`;
    const entry = isPlainObject(listed) ? listed[category] : undefined;
    let retain: RetentionDuration | undefined;
    let own: Tiers = {};
    if (entry !== undefined) {
      if (!isPlainObject(entry)) {
        issues.push({ path: at, message: 'must be an object { retain, tiers? }' });
      } else {
        unknown(entry, ['retain', 'tiers'], at);
        retain = duration(entry.retain, `${at}.retain`);
        own = tiers(entry.tiers, `${at}.tiers`);
        if (retain && own.delete && !same(retain, own.delete)) issues.push({ path: `${at}.tiers.delete`, message: 'must match retain (or leave one of them out)' });
      }
    }
    const base = DEFAULT_RETENTION_POLICY.categories[category];
    const policy: CategoryRetentionPolicy = {
      category,
      retain: retain ?? own.delete ?? shared.delete ?? base.retain,
      hot: own.hot ?? shared.hot ?? base.hot,
      warm: own.warm ?? shared.warm ?? base.warm,
    };
    if (approximateDays(policy.retain) < 1) issues.push({ path: `${at}.retain`, message: 'must be at least one day' });
    if (approximateDays(policy.hot) > approximateDays(policy.warm)) {
      issues.push({ path: `${at}.tiers`, message: `hot (${formatRetentionDuration(policy.hot)}) must not be longer than warm (${formatRetentionDuration(policy.warm)})` });
    }
    if (approximateDays(policy.warm) > approximateDays(policy.retain)) {
      issues.push({ path: `${at}.tiers.warm`, message: `warm (${formatRetentionDuration(policy.warm)}) must not be longer than retain (${formatRetentionDuration(policy.retain)})` });
    }
    categories[category] = policy;
  }
  if (issues.length > 0) throw new RetentionPolicyError(issues);
  return { version: 1, categories: categories as Record<EventCategory, CategoryRetentionPolicy> };
}

/** The policy as a complete configuration document (parseRetentionPolicy gives the same policy back). */
export function retentionPolicyDocument(policy: RetentionPolicy): Required<RetentionPolicyDocument> {
  const categories: NonNullable<RetentionPolicyDocument['categories']> = {};
  for (const category of EVENT_CATEGORIES) {
    const p = policy.categories[category];
    categories[category] = { retain: formatRetentionDuration(p.retain), tiers: { hot: formatRetentionDuration(p.hot), warm: formatRetentionDuration(p.warm) } };
  }
  return { version: 1, tiers: {}, categories };
}

export interface RetentionStageSpan {
  stage: RetentionStage;
  /** Age (ISO 8601 duration from receive time) at which a record enters this stage. */
  fromAge: string;
  /** Age at which it leaves it (null: never, for `delete`). */
  untilAge: string | null;
}

/** A category's life cycle in order; a tier with no time in it (hot == warm) is left out. */
export function retentionStages(p: CategoryRetentionPolicy): RetentionStageSpan[] {
  const ages: [RetentionStage, RetentionDuration, RetentionDuration | null][] = [
    ['hot', { years: 0, months: 0, days: 0 }, p.hot],
    ['warm', p.hot, p.warm],
    ['cold', p.warm, p.retain],
    ['delete', p.retain, null],
  ];
  return ages
    .filter(([, from, until]) => until === null || approximateDays(until) > approximateDays(from))
    .map(([stage, from, until]) => ({ stage, fromAge: formatRetentionDuration(from), untilAge: until ? formatRetentionDuration(until) : null }));
}

export interface RetentionCutoffs {
  /** Records received before this instant (epoch ms) are past hot. */
  warmIfReceivedBefore: number;
  /** ...past warm. */
  coldIfReceivedBefore: number;
  /** ...past their retention window: delete unless held. */
  deleteIfReceivedBefore: number;
}

/**
 * The receive-time boundaries of a category at `nowMs`. Records of a chain are in receive order,
 * so each boundary splits a chain into a prefix (older) and the rest.
 */
export function retentionCutoffs(policy: RetentionPolicy, category: EventCategory, nowMs: number): RetentionCutoffs {
  const p = policy.categories[category];
  return {
    warmIfReceivedBefore: subtractDuration(nowMs, p.hot),
    coldIfReceivedBefore: subtractDuration(nowMs, p.warm),
    deleteIfReceivedBefore: subtractDuration(nowMs, p.retain),
  };
}

/** Where a record received at `receivedAtMs` belongs at `nowMs` (before legal holds are considered). */
export function retentionTierAt(policy: RetentionPolicy, category: EventCategory, receivedAtMs: number, nowMs: number): RetentionStage {
  const c = retentionCutoffs(policy, category, nowMs);
  if (receivedAtMs < c.deleteIfReceivedBefore) return 'delete';
  if (receivedAtMs < c.coldIfReceivedBefore) return 'cold';
  if (receivedAtMs < c.warmIfReceivedBefore) return 'warm';
  return 'hot';
}
