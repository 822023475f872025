/**
 * Plans the verification of one chain: checks its signed checkpoints (signatures, links, no
 * shrinking or forking), then cuts the chain at trusted checkpoints into ranges that can be
 * verified independently and in parallel (ChainRangeVerifier), and merges the ranges' verdicts
 * into the chain's first break. The online verifier (database), the offline verifier (export
 * directory) and the benchmark all go through here, so they name the same break.
 *
 * A checkpoint fault (bad or unknown signature, broken link, ...) is a break at the last seq the
 * checkpoint claims to cover (treeSize - 1); checkpoints after a fault are not trusted, and the
 * records they cover are still verified link by link.
 *
 * Pure: no I/O.
 */
import { ChainBreak, ChainHead } from './chain-verifier';
import { Checkpoint, PublicKeysById, checkpointFaultBreakKind, verifyCheckpointChain } from './checkpoint';
import { Frontier, FrontierJSON, frontierFromJSON, frontierRoot } from './merkle';
import { GENESIS_HASH } from './record-hash';
import { ChainRangeSpec, RangeBoundary, RangeVerdict } from './range-verifier';

export interface PlannedCheckpoint {
  checkpoint: Checkpoint;
  /** Frontier stored with the checkpoint (unsigned; used only once it folds to the signed root). */
  frontier?: FrontierJSON | null;
}

export interface ChainStartState {
  seq: number;
  prevHash: Buffer;
  /** The Merkle frontier of the records before seq (needed only when roots are checked). */
  frontier?: Frontier;
}

export interface ChainPlanInput {
  chain: string;
  /** The chain's checkpoints in issue order. */
  checkpoints: readonly PlannedCheckpoint[];
  publicKeys: PublicKeysById;
  /** `previous` of the first checkpoint: null when the list starts at the chain's first one, undefined when unknown. */
  firstPrevious?: string | null;
  /** Where verification starts (default: seq 0, genesis hash, empty tree). */
  start?: ChainStartState;
  /**
   * Start instead at the last trusted checkpoint at or below this seq (a range request): its
   * signed lastHash and checked frontier replace the records before it. Ignored with `start`.
   */
  startAtOrBefore?: number;
  /** Last seq to verify (inclusive), or null for the whole chain up to its head. */
  endSeq: number | null;
  head?: ChainHead | null;
  /** Bare record hashes after endSeq (partial exports), to check the checkpoint that seals past the end. */
  followingHashes?: Buffer[];
  /** Aim for ranges of at least this many records (fewer, larger tasks); default 50,000. */
  recordsPerRange?: number;
  /**
   * Recompute the Merkle tree and check every checkpoint's rootHash (default true). False (chain
   * mode): each checkpoint's lastHash only, one hash per record (range-verifier.ts says what that
   * leaves out); ranges then start at any trusted checkpoint, stored frontier or not. Always true
   * with followingHashes, which only a root can bind.
   */
  roots?: boolean;
}

export interface ChainPlan {
  chain: string;
  startSeq: number;
  /** Break found in the checkpoints themselves, if any. */
  checkpointBreak: ChainBreak | null;
  /** Checkpoints whose signature and link verified (from the first). */
  trustedCheckpoints: number;
  ranges: ChainRangeSpec[];
}

export interface ChainOutcome {
  chain: string;
  break: ChainBreak | null;
  /** Records verified from the start up to the first break (all when there is none). */
  verified: number;
  lastSeq: number;
  lastHash: Buffer;
  /** Checkpoints that verified: signature, link, and tree head against the records. */
  checkpointsVerified: number;
}

export const GENESIS_START: ChainStartState = Object.freeze({ seq: 0, prevHash: GENESIS_HASH, frontier: { size: 0, hashes: [] } });

function usableFrontier(cp: PlannedCheckpoint): Frontier | null {
  if (!cp.frontier) return null;
  try {
    const f = frontierFromJSON(cp.frontier);
    if (f.size !== cp.checkpoint.treeSize) return null;
    return frontierRoot(f).toString('hex') === cp.checkpoint.rootHash ? f : null;
  } catch {
    return null;
  }
}

export function planChainVerification(input: ChainPlanInput): ChainPlan {
  const { chain } = input;
  let start = input.start ?? GENESIS_START;
  const roots = input.roots !== false || (input.followingHashes?.length ?? 0) > 0;
  // In chain mode a trusted checkpoint's signed lastHash is all a range needs to start from.
  const startFrontier = (cp: PlannedCheckpoint): Frontier | null | undefined => (roots ? usableFrontier(cp) : undefined);
  const verdict = verifyCheckpointChain(input.checkpoints.map((c) => c.checkpoint), input.publicKeys, { previous: input.firstPrevious });
  let checkpointBreak: ChainBreak | null = null;
  if (verdict.fault) {
    const f = verdict.fault;
    checkpointBreak = {
      chain,
      seq: Math.max(0, f.treeSize - 1),
      kind: checkpointFaultBreakKind(f.kind),
      detail: `checkpoint #${f.index} (tree size ${f.treeSize}): ${f.kind.replace(/_/g, ' ')}: ${f.detail}`,
    };
  }
  const trusted = input.checkpoints.slice(0, verdict.verified);
  if (!input.start && input.startAtOrBefore !== undefined) {
    for (let i = trusted.length - 1; i >= 0; i--) {
      const c = trusted[i].checkpoint;
      if (c.treeSize > input.startAtOrBefore || c.treeSize === 0) continue;
      const frontier = startFrontier(trusted[i]);
      if (frontier === null) continue;
      start = { seq: c.treeSize, prevHash: Buffer.from(c.lastHash, 'hex'), frontier };
      break;
    }
  }
  const following = input.followingHashes?.length ?? 0;
  const reach = input.endSeq === null ? Number.MAX_SAFE_INTEGER : input.endSeq + 1 + following;

  // A trusted checkpoint sealing exactly where the range starts must agree with the start state.
  const atStart = trusted.find((c) => c.checkpoint.treeSize === start.seq && start.seq > 0);
  if (atStart) {
    const ok =
      atStart.checkpoint.lastHash === start.prevHash.toString('hex') &&
      (!roots || (start.frontier !== undefined && frontierRoot(start.frontier).toString('hex') === atStart.checkpoint.rootHash));
    if (!ok) {
      const b: ChainBreak = { chain, seq: start.seq, kind: 'modified', detail: `the start state does not match the signed checkpoint at tree size ${start.seq}` };
      if (!checkpointBreak || b.seq < checkpointBreak.seq) checkpointBreak = b;
    }
  }

  const inRange = trusted.filter((c) => c.checkpoint.treeSize > start.seq && c.checkpoint.treeSize <= reach);
  const boundaries: { boundary: RangeBoundary; frontier: Frontier | null }[] = inRange.map((c) => ({
    boundary: { treeSize: c.checkpoint.treeSize, rootHash: Buffer.from(c.checkpoint.rootHash, 'hex'), lastHash: Buffer.from(c.checkpoint.lastHash, 'hex') },
    frontier: null as Frontier | null,
  }));
  const target = Math.max(1, input.recordsPerRange ?? 50_000);
  const ranges: ChainRangeSpec[] = [];
  let rangeStart: ChainStartState = start;
  let first = 0; // index of the first boundary of the current range
  for (let i = 0; i < boundaries.length; i++) {
    const size = boundaries[i].boundary.treeSize;
    const splittable = input.endSeq === null || size <= input.endSeq; // the next range must have records of its own
    if (!splittable) continue;
    if (size - rangeStart.seq < target) continue;
    const frontier = startFrontier(inRange[i]);
    if (frontier === null) continue;
    ranges.push({ chain, start: rangeStart, endSeq: size - 1, boundaries: boundaries.slice(first, i + 1).map((b) => b.boundary), roots });
    rangeStart = { seq: size, prevHash: boundaries[i].boundary.lastHash, frontier };
    first = i + 1;
  }
  ranges.push({
    chain,
    start: rangeStart,
    endSeq: input.endSeq,
    boundaries: boundaries.slice(first).map((b) => b.boundary),
    head: input.endSeq === null ? input.head ?? null : null,
    followingHashes: input.followingHashes,
    roots,
  });
  return { chain, startSeq: start.seq, checkpointBreak, trustedCheckpoints: trusted.length, ranges };
}

/** The chain's first break and totals from its ranges' verdicts (in plan order). */
export function mergeChainVerdicts(plan: ChainPlan, verdicts: readonly RangeVerdict[]): ChainOutcome {
  let found: ChainBreak | null = null;
  for (const v of verdicts) if (v.break && (!found || v.break.seq < found.seq)) found = v.break;
  if (plan.checkpointBreak && (!found || plan.checkpointBreak.seq < found.seq)) found = plan.checkpointBreak;
  const last = verdicts[verdicts.length - 1];
  let checkpointsVerified = 0;
  for (const v of verdicts) checkpointsVerified += v.boundariesChecked;
  let verified = 0;
  if (found) verified = Math.max(0, found.seq - plan.startSeq);
  else for (const v of verdicts) verified += v.verified;
  return {
    chain: plan.chain,
    break: found,
    verified,
    lastSeq: last ? last.lastSeq : plan.startSeq - 1,
    lastHash: last ? last.lastHash : GENESIS_HASH,
    checkpointsVerified: found ? Math.min(checkpointsVerified, plan.trustedCheckpoints) : checkpointsVerified,
  };
}
