/**
 * Bounds what refused requests can add to the access log. Time is cut into fixed windows (one
 * minute by default). Per key (source IP, reason code, caller, route) and window, the first refusal
 * is recorded at once, and every further one is only counted; when the window is over, one
 * follow-up record carries that count. Past `maxKeys` distinct keys in a window, new keys are
 * counted under a single overflow key. So a flood, however fast and from however many addresses,
 * adds at most 2 x (maxKeys + 1) records per window.
 *
 * Pure: the caller passes the clock and writes what `offer` and `flush` hand back.
 */

export interface DenialAggregatorOptions {
  /** Window length in ms (default 60 000). */
  windowMs?: number;
  /** Distinct keys per window before refusals are counted under the overflow key (default 1000). */
  maxKeys?: number;
}

/** Refusals counted (not recorded one by one) in a window under one key, described by the first. */
export interface DenialSummary<T> {
  first: T;
  overflow: boolean;
  count: number;
  sinceMs: number;
  untilMs: number;
}

export interface DenialOffer<T> {
  /** Record this refusal now (count 1): the first of its key in the window. */
  recordNow: boolean;
  /** True when the key budget of the window is spent and this refusal falls under the overflow key. */
  overflow: boolean;
  /** Follow-ups of a window that ended, to record now. */
  due: DenialSummary<T>[];
}

interface Entry<T> {
  first: T;
  overflow: boolean;
  counted: number;
  sinceMs: number;
  untilMs: number;
}

export const OVERFLOW_KEY = '\u0000overflow';

export class DenialAggregator<T> {
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private window = Number.NaN;
  private entries = new Map<string, Entry<T>>();

  constructor(options: DenialAggregatorOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 1000;
    if (!(this.windowMs > 0) || !Number.isInteger(this.maxKeys) || this.maxKeys < 1) throw new RangeError('windowMs must be > 0 and maxKeys a positive integer');
  }

  /** One refusal under `key` at `nowMs`, described by `detail` (kept only if it is the first). */
  offer(key: string, detail: T, nowMs: number): DenialOffer<T> {
    const due = this.flush(nowMs);
    let entry = this.entries.get(key);
    let overflow = false;
    if (!entry && this.entries.size >= this.maxKeys) {
      overflow = true;
      key = OVERFLOW_KEY;
      entry = this.entries.get(key);
    }
    if (!entry) {
      this.entries.set(key, { first: detail, overflow, counted: 0, sinceMs: nowMs, untilMs: nowMs });
      return { recordNow: true, overflow, due };
    }
    if (entry.counted === 0) entry.sinceMs = nowMs;
    entry.counted++;
    entry.untilMs = nowMs;
    return { recordNow: false, overflow: entry.overflow, due };
  }

  /** Follow-ups of every window that ended by `nowMs` (all pending ones with `all`, e.g. at shutdown). */
  flush(nowMs: number, all = false): DenialSummary<T>[] {
    const current = Math.floor(nowMs / this.windowMs);
    if (!all && current === this.window) return [];
    const due: DenialSummary<T>[] = [];
    for (const e of this.entries.values()) {
      if (e.counted > 0) due.push({ first: e.first, overflow: e.overflow, count: e.counted, sinceMs: e.sinceMs, untilMs: e.untilMs });
    }
    this.entries = new Map();
    this.window = current;
    return due;
  }

  /** Keys tracked in the current window (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }
}
