/**
 * The retention planner (pure, no I/O): given the policy, `now`, each chain's head and already
 * purged prefix, and the chain's records from that prefix on (seq, receivedAt and whether an
 * active legal hold covers them), decides per chain the whole prefix [purgedSize, purgeTo) that
 * may be deleted. It stops at the first record that is too young for its category's window OR
 * held, so it never punches holes in a chain. Idempotent: once purged, the same inputs plan nothing.
 *
 * Records are read lazily (an iterable), so the caller can stream them from the store and the
 * planner stops reading at the first record it must keep.
 */
import { EVENT_CATEGORIES, EventCategory } from '@app/core';
import { HoldSubject, LegalHold, holdMatcher } from './legal-hold';
import { RetentionPolicy, retentionCutoffs } from './retention-policy';

export interface PlannedRecord {
  seq: number;
  /** Server receive time (RFC 3339 / ISO 8601). */
  receivedAt: string;
  /** True when the caller already knows an active hold covers the record. */
  held?: boolean;
  /** The event (or a record carrying it), to match against `holds`. */
  event?: HoldSubject;
}

export interface ChainRetentionInput {
  chain: string;
  /** Category whose policy applies; chains that are not an event category are never purged. */
  category: string;
  /** Last seq of the chain (-1 or null when empty). */
  headSeq: number | null;
  /** Records [0, purgedSize) are already purged. */
  purgedSize: number;
  /** The chain's records from seq purgedSize on, in seq order (read until the planner stops). */
  records: Iterable<PlannedRecord>;
}

export interface RetentionPlanInput {
  policy: RetentionPolicy;
  /** Epoch ms the run acts at (`--now`). */
  now: number;
  /** Legal holds (released ones are ignored). */
  holds?: readonly LegalHold[];
  chains: readonly ChainRetentionInput[];
}

/**
 * Why a purge stops where it does: the next record is too young or held, the chain ends, the chain
 * is not an event category, or (runner) the records after the cut are not yet sealed by a signed
 * checkpoint (a purge always ends exactly at a checkpoint, which authenticates what is kept of it),
 * or (Elasticsearch retention run) the records before the cut do not read back whole.
 */
export type KeptBecause = 'too_young' | 'legal_hold' | 'chain_end' | 'not_a_category' | 'unsealed' | 'broken';

export interface ChainPurgePlan {
  chain: string;
  category: string;
  /** Records received before this instant are past the window (null: not a category). */
  deleteIfReceivedBefore: string | null;
  /** Already purged before this run: [0, fromSeq). */
  fromSeq: number;
  /** Purge [fromSeq, toSeq): toSeq == fromSeq means nothing to delete. */
  toSeq: number;
  count: number;
  /** receivedAt of the first and last record to delete (null when none). */
  firstReceivedAt: string | null;
  lastReceivedAt: string | null;
  /** Why the purge stops where it does. */
  keptBecause: KeptBecause;
  /** seq of the record the purge stops at (null when the whole chain goes, or nothing is known). */
  stopSeq: number | null;
}

export interface RetentionPlan {
  now: string;
  chains: ChainPurgePlan[];
  /** Records to delete over all chains. */
  total: number;
}

function isCategory(c: string): c is EventCategory {
  return (EVENT_CATEGORIES as readonly string[]).includes(c);
}

/** Plans one chain (see the module comment). */
export function planChainPurge(input: ChainRetentionInput, policy: RetentionPolicy, now: number, held: (r: PlannedRecord) => boolean): ChainPurgePlan {
  const fromSeq = Math.max(0, input.purgedSize);
  const base: ChainPurgePlan = {
    chain: input.chain,
    category: input.category,
    deleteIfReceivedBefore: null,
    fromSeq,
    toSeq: fromSeq,
    count: 0,
    firstReceivedAt: null,
    lastReceivedAt: null,
    keptBecause: 'not_a_category',
    stopSeq: null,
  };
  if (!isCategory(input.category)) return base;
  const cutoff = retentionCutoffs(policy, input.category, now).deleteIfReceivedBefore;
  const plan: ChainPurgePlan = { ...base, deleteIfReceivedBefore: new Date(cutoff).toISOString(), keptBecause: 'chain_end' };
  const last = input.headSeq ?? -1;
  let expected = fromSeq;
  for (const r of input.records) {
    if (r.seq < fromSeq) continue; // already purged (stale input)
    if (r.seq > last) break;
    if (r.seq !== expected) {
      // A gap in what the caller gave: stop here rather than guess what lies in it.
      plan.stopSeq = expected;
      plan.keptBecause = 'too_young';
      break;
    }
    const t = Date.parse(r.receivedAt);
    if (!(t < cutoff)) {
      plan.keptBecause = 'too_young';
      plan.stopSeq = r.seq;
      break;
    }
    if (held(r)) {
      plan.keptBecause = 'legal_hold';
      plan.stopSeq = r.seq;
      break;
    }
    if (plan.firstReceivedAt === null) plan.firstReceivedAt = r.receivedAt;
    plan.lastReceivedAt = r.receivedAt;
    expected = r.seq + 1;
  }
  if (plan.keptBecause === 'chain_end' && expected <= last) {
    // The records stopped before the head: keep the rest (nothing known about them).
    plan.keptBecause = 'too_young';
    plan.stopSeq = expected;
  }
  plan.toSeq = expected;
  plan.count = expected - fromSeq;
  return plan;
}

/** Plans every chain. */
export function planRetention(input: RetentionPlanInput): RetentionPlan {
  const matcher = holdMatcher(input.holds ?? []);
  const held = (r: PlannedRecord) => r.held === true || (r.event !== undefined && matcher(r.event));
  const chains = input.chains.map((c) => planChainPurge(c, input.policy, input.now, held));
  return { now: new Date(input.now).toISOString(), chains, total: chains.reduce((s, c) => s + c.count, 0) };
}
