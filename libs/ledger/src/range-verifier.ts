/**
 * Verifies one range of a chain against the signed checkpoints that fall inside it: every record
 * is recomputed and linked (ChainVerifier, which names modified / deleted / inserted / reordered
 * records), and at every checkpoint boundary the last record's hash must equal the checkpoint's
 * lastHash and, when the spec asks for roots (`roots`, the default; `auditctl verify --full`), the
 * Merkle tree head of the records read so far its rootHash.
 *
 * Without roots (chain mode) the tree is not built: one hash per record. Nothing a tamperer without
 * the signing key can do gets past it: every record hash is recomputed and linked, and the link at
 * each checkpoint is its signed lastHash, so the record hashes under a checkpoint are the signed
 * ones. What only the root check finds is a checkpoint signed over a root its own records do not
 * give (a faulty or compromised signer), which is what `--full` is for.
 *
 * A range starts from a signed checkpoint (its lastHash is what the first record links to, its
 * stored frontier, checked against its rootHash by the planner, seeds the Merkle tree), so ranges
 * are independent and can be verified in parallel; the first break of a chain is the break with
 * the lowest sequence number over its ranges. A range reads LOOKAHEAD records past its end so a
 * break on its last record is classified exactly as a single walk over the whole chain would.
 *
 * Break seq numbers for checkpoint findings:
 *   - the records of a block lead to another last hash than the checkpoint that seals the block
 *     (history rewritten and re-hashed): `modified` at the first record of the block, the
 *     earliest record that can have been changed;
 *   - the last hash matches but the Merkle root does not: `bad_checkpoint` at treeSize - 1;
 *   - the chain ends before a checkpoint's tree size: `deleted` at the first missing seq.
 *
 * Pure: fed rows, no I/O.
 */
import { ChainBreak, ChainHead, ChainRow, ChainVerifier, CheckedRun } from './chain-verifier';
import { Frontier, MerkleAccumulator } from './merkle';

/** Rows a ChainVerifier looks ahead to classify a break (see chain-verifier.ts). */
export const RANGE_LOOKAHEAD = 2;

/** A signed tree head the records must reproduce (from a checkpoint whose signature verified). */
export interface RangeBoundary {
  treeSize: number;
  rootHash: Buffer;
  lastHash: Buffer;
}

export interface ChainRangeSpec {
  chain: string;
  /**
   * First record of the range, the hash it links to, and the Merkle frontier of the records before
   * it (size === seq; needed only with roots).
   */
  start: { seq: number; prevHash: Buffer; frontier?: Frontier };
  /** Recompute the Merkle tree and compare every boundary's rootHash (default true); false: lastHash only. */
  roots?: boolean;
  /** Last seq this range answers for (inclusive); null for the tail, which runs to the end of the chain. */
  endSeq: number | null;
  /** Checkpoints to check on the way, ascending tree size, each above start.seq. */
  boundaries: RangeBoundary[];
  /** The recorded chain head, checked at the end of the tail. */
  head?: ChainHead | null;
  /**
   * Record hashes of the records right after endSeq (without their content), so that a
   * checkpoint beyond the end of a partial export can still be checked against its Merkle root.
   */
  followingHashes?: Buffer[];
}

export interface RangeVerdict {
  /** Records of the range (up to endSeq) that verified, counting from the start. */
  verified: number;
  break: ChainBreak | null;
  /** Last record accepted in the range (start.seq - 1 when none). */
  lastSeq: number;
  lastHash: Buffer;
  /** Boundaries checked and found matching. */
  boundariesChecked: number;
}

interface Mismatch {
  /** The seq of the boundary (treeSize - 1): a record break at or before it explains the mismatch. */
  at: number;
  found: ChainBreak;
}

export class ChainRangeVerifier {
  private readonly records: ChainVerifier;
  /** The tree of the records so far (roots mode only). */
  private readonly merkle: MerkleAccumulator | null;
  /** Records covered so far: the tree size at the last accepted record. */
  private size: number;
  private nextBoundary = 0;
  private blockStart: number;
  private mismatch: Mismatch | null = null;
  private rowsAfterMismatch = 0;
  private done = false;
  private verified = 0;
  private lastSeq: number;
  private lastHash: Buffer;
  private matched = 0;

  constructor(private readonly spec: ChainRangeSpec) {
    if (spec.roots === false) this.merkle = null;
    else {
      if (!spec.start.frontier || spec.start.frontier.size !== spec.start.seq) throw new RangeError('the start frontier must cover exactly the records before the range');
      this.merkle = new MerkleAccumulator(spec.start.frontier);
    }
    this.size = spec.start.seq;
    this.blockStart = spec.start.seq;
    this.lastSeq = spec.start.seq - 1;
    this.lastHash = spec.start.prevHash;
    while (this.nextBoundary < spec.boundaries.length && spec.boundaries[this.nextBoundary].treeSize <= spec.start.seq) this.nextBoundary++;
    this.records = new ChainVerifier(
      spec.chain,
      { seq: spec.start.seq, prevHash: spec.start.prevHash },
      (row) => this.accepted(row),
      (run) => this.acceptedRun(run),
    );
  }

  /** Highest seq this range wants to read (inclusive), or null for "to the end". */
  get readLimit(): number | null {
    return this.spec.endSeq === null ? null : this.spec.endSeq + RANGE_LOOKAHEAD;
  }

  /** Feeds the next stored row in sequence order. Returns false once the range needs no more rows. */
  push(row: ChainRow): boolean {
    if (this.done) return false;
    const limit = this.readLimit;
    if (limit !== null && row.seq > limit) {
      this.done = true;
      return false;
    }
    const more = this.records.push(row);
    if (this.mismatch && ++this.rowsAfterMismatch > RANGE_LOOKAHEAD) this.done = true;
    if (!more) this.done = true;
    return !this.done;
  }

  /**
   * Feeds the next run of checked records (ChainVerifier.pushRun). Taken whole only in chain mode,
   * inside the range, with no mismatch pending and every checkpoint inside the run matching its
   * lastHash; otherwise row by row, so the verdict is exactly the rows' one.
   */
  pushRun(run: CheckedRun): boolean {
    if (this.done) return false;
    const last = run.firstSeq + run.count - 1;
    const whole = this.merkle === null && this.mismatch === null && (this.spec.endSeq === null || last <= this.spec.endSeq) && this.boundariesHold(run, last);
    if (!whole) {
      for (let i = 0; i < run.count; i++) if (!this.push(run.row(i))) return false;
      return !this.done;
    }
    if (!this.records.pushRun(run)) this.done = true;
    return !this.done;
  }

  finish(): RangeVerdict {
    const { spec } = this;
    const tail = spec.endSeq === null;
    const verdict = this.records.finish(tail ? spec.head ?? null : null);
    let found: ChainBreak | null = verdict.break;
    // A break past the end belongs to the next range (it reads those records as its own).
    if (found && !tail && found.seq > (spec.endSeq as number)) found = null;
    if (this.mismatch && (!found || found.seq > this.mismatch.at)) found = this.mismatch.found;
    if (!found && !tail && this.lastSeq < (spec.endSeq as number)) {
      found = { chain: spec.chain, seq: this.lastSeq + 1, kind: 'deleted', detail: `records ${this.lastSeq + 1}..${spec.endSeq} are missing` };
    }
    if (!found && spec.followingHashes && this.nextBoundary < spec.boundaries.length) {
      // Complete the tree past the end with the bare hashes of the records that follow (their
      // links cannot be checked without their content: only the signed root binds them).
      if (!this.merkle) throw new RangeError('hashes past the end of a range can only be checked with roots');
      for (const h of spec.followingHashes) {
        if (this.nextBoundary >= spec.boundaries.length) break;
        this.merkle.appendRecordHash(h);
        this.size++;
        const b = spec.boundaries[this.nextBoundary];
        if (this.size === b.treeSize) {
          this.nextBoundary++;
          const bad = this.checkBoundary(b, h);
          if (bad) {
            found = bad.found;
            break;
          }
        }
      }
    }
    if (!found && this.nextBoundary < spec.boundaries.length) {
      const b = spec.boundaries[this.nextBoundary];
      const next = this.size;
      found = { chain: spec.chain, seq: next, kind: 'deleted', detail: `the signed checkpoint at tree size ${b.treeSize} covers records up to ${b.treeSize - 1}, but the records end at ${next - 1}` };
    }
    const verified = found ? Math.max(0, Math.min(this.verified, found.seq - spec.start.seq)) : this.verified;
    return { verified, break: found, lastSeq: this.lastSeq, lastHash: this.lastHash, boundariesChecked: this.matched };
  }

  private accepted(row: ChainRow): void {
    const { spec } = this;
    if (spec.endSeq !== null && row.seq > spec.endSeq) return; // look-ahead: the next range answers for it
    this.verified++;
    this.lastSeq = row.seq;
    this.lastHash = row.hash;
    this.merkle?.appendRecordHash(row.hash);
    this.size++;
    const b = spec.boundaries[this.nextBoundary];
    if (b !== undefined && this.size === b.treeSize) {
      this.nextBoundary++;
      const bad = this.checkBoundary(b, row.hash);
      if (bad && !this.mismatch) this.mismatch = bad;
    }
  }

  /** Whether every boundary sealing a record of the run has the run's hash there as its lastHash. */
  private boundariesHold(run: CheckedRun, last: number): boolean {
    for (let k = this.nextBoundary; k < this.spec.boundaries.length; k++) {
      const b = this.spec.boundaries[k];
      const at = b.treeSize - 1;
      if (at > last) break;
      if (at < run.firstSeq || !run.hashAt(at - run.firstSeq).equals(b.lastHash)) return false;
    }
    return true;
  }

  /** A run accepted whole (chain mode): the records and the checkpoints sealing them, all matching. */
  private acceptedRun(run: CheckedRun): void {
    const n = run.count;
    this.verified += n;
    this.lastSeq = run.firstSeq + n - 1;
    this.lastHash = run.hashAt(n - 1);
    this.size += n;
    for (let b = this.spec.boundaries[this.nextBoundary]; b !== undefined && b.treeSize <= this.size; b = this.spec.boundaries[this.nextBoundary]) {
      this.nextBoundary++;
      const bad = this.checkBoundary(b, run.hashAt(b.treeSize - 1 - run.firstSeq));
      if (bad && !this.mismatch) this.mismatch = bad;
    }
  }

  /** Compares the tree at a boundary with the checkpoint; null when it matches. */
  private checkBoundary(b: RangeBoundary, last: Buffer): Mismatch | null {
    const chain = this.spec.chain;
    const from = this.blockStart;
    this.blockStart = b.treeSize;
    if (!last.equals(b.lastHash)) {
      return {
        at: b.treeSize - 1,
        found: {
          chain,
          seq: from,
          kind: 'modified',
          detail: `records ${from}..${b.treeSize - 1} do not lead to the last hash of the signed checkpoint at tree size ${b.treeSize} (history rewritten and re-hashed)`,
        },
      };
    }
    if (this.merkle && !this.merkle.root().equals(b.rootHash)) {
      return {
        at: b.treeSize - 1,
        found: { chain, seq: b.treeSize - 1, kind: 'bad_checkpoint', detail: `the Merkle root of records 0..${b.treeSize - 1} differs from the signed checkpoint at tree size ${b.treeSize}` },
      };
    }
    this.matched++;
    return null;
  }
}

/** Runs one range over rows already in memory (tests, small exports). */
export function verifyChainRange(spec: ChainRangeSpec, rows: Iterable<ChainRow>): RangeVerdict {
  const v = new ChainRangeVerifier(spec);
  for (const row of rows) if (!v.push(row)) break;
  return v.finish();
}
