/**
 * Events of one group kept in event-time order (parallel arrays, oldest first), with a moving head
 * so expiring old entries is O(1) and the arrays are compacted only now and then. Out-of-order
 * (late, within the allowance) events are inserted in place.
 */
import { EventRef } from '../event-ref';

export class TimeBuffer<V = undefined> {
  ts: number[] = [];
  refs: EventRef[] = [];
  /** Per-entry values (distinct values, amounts); absent when the owner keeps none. */
  vals: V[] | null;
  head = 0;

  constructor(withValues: boolean) {
    this.vals = withValues ? [] : null;
  }

  get size(): number {
    return this.ts.length - this.head;
  }

  get end(): number {
    return this.ts.length;
  }

  get lastTs(): number {
    return this.ts.length > this.head ? this.ts[this.ts.length - 1] : -Infinity;
  }

  push(ts: number, ref: EventRef, val: V): void {
    this.ts.push(ts);
    this.refs.push(ref);
    if (this.vals) this.vals.push(val);
  }

  /** Inserts after any entries with the same time; returns the index used. */
  insert(ts: number, ref: EventRef, val: V): number {
    const i = this.upperBound(ts);
    if (i === this.ts.length) {
      this.push(ts, ref, val);
    } else {
      this.ts.splice(i, 0, ts);
      this.refs.splice(i, 0, ref);
      if (this.vals) this.vals.splice(i, 0, val);
    }
    return i;
  }

  /** First index (>= head) whose time is >= t. */
  lowerBound(t: number): number {
    let lo = this.head;
    let hi = this.ts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ts[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index (>= head) whose time is > t. */
  upperBound(t: number): number {
    let lo = this.head;
    let hi = this.ts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ts[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Drops the consumed prefix from the arrays when it has grown large; returns how far indexes
   * moved so callers can shift their own pointers.
   */
  compact(): number {
    const shift = this.head;
    if (shift < 32 || shift * 2 < this.ts.length) return 0;
    this.ts.splice(0, shift);
    this.refs.splice(0, shift);
    if (this.vals) this.vals.splice(0, shift);
    this.head = 0;
    return shift;
  }

  clear(): void {
    this.ts = [];
    this.refs = [];
    if (this.vals) this.vals = [];
    this.head = 0;
  }
}
