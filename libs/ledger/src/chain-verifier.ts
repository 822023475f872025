/**
 * Walks one chain's stored records in sequence order, recomputes every hash and link, and names
 * the first break: the sequence number where the stored history stops being the one that was
 * written, and what kind of tampering explains it (modified, deleted, inserted, reordered).
 *
 * Pure: it is fed rows and an optional expected head, and does no I/O.
 */
import { GENESIS_HASH, recordHash } from './record-hash';

export type BreakKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'bad_signature' | 'bad_checkpoint';

export interface ChainBreak {
  chain: string;
  seq: number;
  kind: BreakKind;
  detail?: string;
  /** A `modified` record whose hash matches but whose stored copy of a field (an index column) does not: that column. */
  column?: string;
}

/** One stored record as the verifier needs it. */
export interface ChainRow {
  seq: number;
  receivedAt: string;
  eventJson: string;
  prevHash: Buffer;
  hash: Buffer;
  /**
   * Set by a reader that already recomputed this record's hash at its own `seq` from the same
   * parts (verification fast path, RecordHashBuilder) and found it equal to `hash`: the verifier
   * then does not recompute it. Never set when they differ; the verifier decides that case itself.
   */
  hashChecked?: boolean;
  /**
   * Set by a reader that compared the columns its store derives from this record (for indexes and
   * filters) with the record: the first one that differs. The verifier reports the record as
   * `modified` naming the column once its hash and link are found right.
   */
  columnMismatch?: string;
}

/**
 * Consecutive records a reader has already checked completely (the verification fast path): record
 * i has seq `firstSeq + i`, hashes to its stored hash at that seq, links to record i - 1 (its
 * prevHash is that record's hash), and has no column mismatch. A verifier accepts such a run in one
 * step when its first record links to what it expects, and otherwise walks it row by row (`row`),
 * so the verdict is the one the rows would give.
 */
export interface CheckedRun {
  readonly checkedRun: true;
  readonly firstSeq: number;
  readonly count: number;
  /** Whether the first record's prevHash equals `hash`. */
  firstLinksTo(hash: Buffer): boolean;
  /** The stored hash of record i. */
  hashAt(i: number): Buffer;
  /** Record i as a row. */
  row(i: number): ChainRow;
}

export function isCheckedRun(x: ChainRow | CheckedRun): x is CheckedRun {
  return (x as CheckedRun).checkedRun === true;
}

export interface ChainStart {
  /** Sequence number of the first record to check (the first retained one). */
  seq: number;
  /** Hash the first record must link to (genesis for a full chain). */
  prevHash: Buffer;
}

export interface ChainHead {
  seq: number;
  hash: Buffer;
}

export interface ChainVerdict {
  verified: number;
  break: ChainBreak | null;
  lastSeq: number;
  lastHash: Buffer;
}

const LOOKAHEAD = 2;

function selfConsistent(chain: string, row: ChainRow, seq: number): boolean {
  if (row.hashChecked === true && seq === row.seq) return true;
  return recordHash(row.prevHash, chain, seq, row.receivedAt, row.eventJson).equals(row.hash);
}

/** True when the row is exactly the record the chain expects at `seq` after `prev`. */
function fits(chain: string, row: ChainRow | undefined, seq: number, prev: Buffer): boolean {
  return row !== undefined && row.prevHash.equals(prev) && selfConsistent(chain, row, seq);
}

/**
 * Classifies the anomaly at `rows[0]` (the window starts at the first record that does not fit).
 * `rows` holds that record and up to LOOKAHEAD records after it.
 */
function classify(chain: string, rows: ChainRow[], expectedSeq: number, expectedPrev: Buffer, beforeLast: Buffer | null): ChainBreak {
  const [r0, r1] = rows;
  // A forged record that links and hashes correctly was accepted just before: this row is the
  // genuine one it displaced (renumbered one up by the forger).
  if (beforeLast && r0.prevHash.equals(beforeLast) && selfConsistent(chain, r0, expectedSeq - 1)) {
    return { chain, seq: expectedSeq - 1, kind: 'inserted', detail: 'a record not written by the chain writer' };
  }
  if (r0.seq > expectedSeq) return { chain, seq: expectedSeq, kind: 'deleted', detail: `records ${expectedSeq}..${r0.seq - 1} are missing` };
  if (r0.seq < expectedSeq) return { chain, seq: r0.seq, kind: 'inserted', detail: 'duplicate sequence number' };
  // Two adjacent records exchanged: the next row is the one expected here, and this row follows it.
  if (r1 && r1.seq === expectedSeq + 1 && fits(chain, r1, expectedSeq, expectedPrev) && fits(chain, r0, expectedSeq + 1, r1.hash)) {
    return { chain, seq: expectedSeq, kind: 'reordered', detail: `records ${expectedSeq} and ${expectedSeq + 1} are out of order` };
  }
  // A forged record pushed in: the record that belongs here comes next (renumbered or not).
  if (r1 && r1.prevHash.equals(expectedPrev) && (selfConsistent(chain, r1, expectedSeq) || selfConsistent(chain, r1, r1.seq))) {
    return { chain, seq: expectedSeq, kind: 'inserted', detail: 'a record not written by the chain writer' };
  }
  if (r0.prevHash.equals(expectedPrev)) {
    return { chain, seq: expectedSeq, kind: 'modified', detail: 'stored content does not match its hash' };
  }
  if (selfConsistent(chain, r0, expectedSeq)) {
    // Consistent with itself but not linked to its predecessor: a record was dropped and the
    // rest renumbered, or a forged record was put in its place.
    return { chain, seq: expectedSeq, kind: r1 === undefined ? 'inserted' : 'deleted', detail: 'record does not link to its predecessor' };
  }
  return { chain, seq: expectedSeq, kind: 'modified', detail: 'stored content or link does not match its hash' };
}

function columnBreak(chain: string, row: ChainRow): ChainBreak {
  return { chain, seq: row.seq, kind: 'modified', column: row.columnMismatch, detail: `stored column ${row.columnMismatch} does not match the record` };
}

const NO_HASH = Buffer.alloc(0);

function asStoredHash(value: unknown): Buffer {
  return Buffer.isBuffer(value) ? value : NO_HASH;
}

export class ChainVerifier {
  private expectedSeq: number;
  private expectedPrev: Buffer;
  private verified = 0;
  private beforeLast: Buffer | null = null;
  private found: ChainBreak | null = null;
  private readonly window: ChainRow[] = [];

  /**
   * `onAccept` sees every record the moment it is known to be the one the chain expects, in
   * sequence order (the range verifier feeds the Merkle tree from it).
   */
  constructor(
    private readonly chain: string,
    start: ChainStart = { seq: 0, prevHash: GENESIS_HASH },
    private readonly onAccept?: (row: ChainRow) => void,
    /** Sees a run accepted whole (pushRun); without it, onAccept sees each of its rows. */
    private readonly onAcceptRun?: (run: CheckedRun) => void,
  ) {
    this.expectedSeq = start.seq;
    this.expectedPrev = start.prevHash;
  }

  get broken(): ChainBreak | null {
    return this.found;
  }

  /** Feeds the next row in stored sequence order. Returns false once a break is known. */
  push(row: ChainRow): boolean {
    if (this.found) return false;
    // A hash column of another type (a tampered store: text, a number) is no hash: judged as one
    // that matches nothing, instead of failing the comparison with a TypeError.
    if (!Buffer.isBuffer(row.hash) || !Buffer.isBuffer(row.prevHash)) row = { ...row, hash: asStoredHash(row.hash), prevHash: asStoredHash(row.prevHash) };
    this.window.push(row);
    while (this.window.length > 0 && !this.found) {
      const head = this.window[0];
      if (head.seq === this.expectedSeq && fits(this.chain, head, this.expectedSeq, this.expectedPrev)) {
        if (head.columnMismatch !== undefined) {
          this.setBreak(columnBreak(this.chain, head));
          break;
        }
        this.accept(head);
        continue;
      }
      if (this.window.length <= LOOKAHEAD) return true; // need more context to classify
      this.setBreak(classify(this.chain, this.window, this.expectedSeq, this.expectedPrev, this.beforeLast));
    }
    return !this.found;
  }

  /**
   * Feeds a run of checked records (next in stored sequence order). Accepted whole when nothing is
   * pending and its first record is the one expected; otherwise row by row, as `push` would.
   * Returns false once a break is known.
   */
  pushRun(run: CheckedRun): boolean {
    if (this.found) return false;
    const n = run.count;
    if (n === 0) return true;
    if (this.window.length > 0 || run.firstSeq !== this.expectedSeq || !run.firstLinksTo(this.expectedPrev)) {
      for (let i = 0; i < n; i++) if (!this.push(run.row(i))) return false;
      return true;
    }
    this.beforeLast = n >= 2 ? run.hashAt(n - 2) : this.expectedPrev;
    this.verified += n;
    this.expectedSeq += n;
    this.expectedPrev = run.hashAt(n - 1);
    if (this.onAcceptRun) this.onAcceptRun(run);
    else if (this.onAccept) for (let i = 0; i < n; i++) this.onAccept(run.row(i));
    return true;
  }

  /** Ends the walk; `head` is the chain head the store recorded, when it keeps one. */
  finish(head?: ChainHead | null): ChainVerdict {
    while (!this.found && this.window.length > 0) {
      const first = this.window[0];
      if (first.seq === this.expectedSeq && fits(this.chain, first, this.expectedSeq, this.expectedPrev)) {
        if (first.columnMismatch !== undefined) this.setBreak(columnBreak(this.chain, first));
        else this.accept(first);
      } else {
        this.setBreak(classify(this.chain, this.window, this.expectedSeq, this.expectedPrev, this.beforeLast));
      }
    }
    if (!this.found && head) {
      const lastSeq = this.expectedSeq - 1;
      if (head.seq > lastSeq) {
        this.found = { chain: this.chain, seq: lastSeq + 1, kind: 'deleted', detail: `records ${lastSeq + 1}..${head.seq} are missing from the end` };
      } else if (head.seq < lastSeq) {
        this.found = { chain: this.chain, seq: head.seq + 1, kind: 'inserted', detail: 'records past the recorded head' };
      } else if (!head.hash.equals(this.expectedPrev)) {
        this.found = { chain: this.chain, seq: lastSeq, kind: 'modified', detail: 'last record differs from the recorded head' };
      }
    }
    return { verified: this.verified, break: this.found, lastSeq: this.expectedSeq - 1, lastHash: this.expectedPrev };
  }

  private setBreak(b: ChainBreak): void {
    this.found = b;
    if (b.seq < this.expectedSeq) this.verified = Math.max(0, this.verified - (this.expectedSeq - b.seq));
  }

  private accept(row: ChainRow): void {
    this.window.shift();
    this.beforeLast = this.expectedPrev;
    this.verified++;
    this.expectedSeq++;
    this.expectedPrev = row.hash;
    this.onAccept?.(row);
  }
}
