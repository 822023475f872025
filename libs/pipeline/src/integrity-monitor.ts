/**
 * Continuous verification: the service checks its own store, so tampering does not wait for
 * someone to run `auditctl verify`.
 *   - at start, each chain's tail (its last VERIFY_ON_START_RECORDS records, from the signed
 *     checkpoint at or before them): bounded, so start-up stays quick on any size of store;
 *   - every VERIFY_INTERVAL_SECONDS, incrementally: each chain from where the last intact check
 *     ended (again from the checkpoint at or before it), skipping chains that did not grow;
 *   - every VERIFY_FULL_INTERVAL_HOURS, everything.
 * A break makes /health/ready answer 503 naming it (chain, seq, kind, column: never record
 * content), sets the metrics and is logged; ingestion is NOT refused (refusing audit events would
 * lose them). A break stays known until a full verification finds the store intact again.
 * Listeners (`onNewBreak`: the service raises the `integrity-break` alert there) hear each break
 * once per process, not at every period: a break is the same while its chain, seq, kind and column are.
 */
import { Injectable, Logger } from '@nestjs/common';
import type { ChainBreak } from '@app/ledger';
import { IntegrityService, VerifyRequest, VerifyResult } from './integrity.service';
import { MetricsService } from './metrics.service';

export type VerificationMode = 'start' | 'incremental' | 'full';

/** Told about breaks not reported before (chain, seq, kind, column: no record content). */
export type IntegrityBreakListener = (breaks: ChainBreak[], mode: VerificationMode | 'query') => Promise<void> | void;

/** A break's identity: the same break found again by a later run is not new. */
export function breakKey(b: ChainBreak): string {
  return `${b.chain}\u0000${b.seq}\u0000${b.kind}\u0000${b.column ?? ''}`;
}

export interface IntegrityState {
  /** unknown: nothing verified yet; intact: no break known; broken: `breaks` has each broken chain's first break. */
  status: 'unknown' | 'intact' | 'broken';
  breaks: ChainBreak[];
  lastRun: { mode: VerificationMode; at: string; verified: number; ok: boolean } | null;
  /** The last verification failed to run at all (store unavailable …), with the error's class only. */
  lastError: string | null;
}

@Injectable()
export class IntegrityMonitor {
  private readonly logger = new Logger('Integrity');
  /** Per chain: the highest seq verified intact. */
  private readonly verifiedThrough = new Map<string, number>();
  private readonly broken = new Map<string, ChainBreak>();
  private running: Promise<VerifyResult | null> | null = null;
  private state: IntegrityState = { status: 'unknown', breaks: [], lastRun: null, lastError: null };
  private readonly listeners: IntegrityBreakListener[] = [];
  /** Breaks every listener has been told about (a failed listener is told again at the next run). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly integrity: IntegrityService,
    private readonly metrics: MetricsService,
  ) {}

  /** Calls `listener` with the breaks a run finds that were not reported before. */
  onNewBreak(listener: IntegrityBreakListener): void {
    this.listeners.push(listener);
  }

  /** The first known break (the one readiness names), or null: queries refuse to answer while there is one. */
  knownBreak(): ChainBreak | null {
    return this.state.status === 'broken' ? (this.state.breaks[0] ?? null) : null;
  }

  /**
   * A break found outside a scheduled run (a query re-checking the records it returns, or a
   * verification someone asked for): known
   * from now on (readiness, metrics, listeners) until a full verification clears it.
   */
  async noteBreak(b: ChainBreak, foundBy: 'query' | 'on-demand' = 'query'): Promise<void> {
    if (this.broken.has(b.chain)) return;
    this.broken.set(b.chain, b);
    const all = [...this.broken.values()].sort((x, y) => (x.chain < y.chain ? -1 : 1));
    this.state = { ...this.state, status: 'broken', breaks: all };
    this.metrics.integrityIntact.set(0);
    this.metrics.integrityBreaks.set(all.length);
    this.logger.error(JSON.stringify({ msg: 'integrity break', mode: foundBy, chain: b.chain, seq: b.seq, kind: b.kind, ...(b.column ? { column: b.column } : {}) }));
    await this.report([b], 'query');
  }

  /**
   * A verification someone asked for (GET /v1/integrity/verify, the console's "Verify every chain
   * now"): its breaks are known at once, as the schedule's would be (readiness, metrics, the
   * integrity-break alert), instead of waiting for the next full run to find them again.
   */
  async verifyOnDemand(req: VerifyRequest = {}): Promise<VerifyResult> {
    const result = await this.integrity.verify(req);
    for (const b of result.breaks) await this.noteBreak(b, 'on-demand');
    return result;
  }

  current(): IntegrityState {
    return this.state;
  }

  /** One line for /health/ready when a chain is broken, else null. */
  reason(): string | null {
    if (this.state.status !== 'broken') return null;
    const b = this.state.breaks[0];
    const more = this.state.breaks.length > 1 ? ` (and ${this.state.breaks.length - 1} more chain(s))` : '';
    return `integrity break: chain ${b.chain} seq ${b.seq} kind ${b.kind}${b.column ? ` column ${b.column}` : ''}${more}; run auditctl verify`;
  }

  /** Runs one verification of the given mode; a run in progress is not started twice (its result is returned). */
  run(mode: VerificationMode, tailRecords = 10_000): Promise<VerifyResult | null> {
    if (this.running) return this.running;
    this.running = this.runOnce(mode, tailRecords).finally(() => (this.running = null));
    return this.running;
  }

  private async runOnce(mode: VerificationMode, tailRecords: number): Promise<VerifyResult | null> {
    try {
      const heads = await this.integrity.heads();
      const results: VerifyResult[] = [];
      // The rare full run also recomputes every checkpoint's Merkle root.
      if (mode === 'full') results.push(await this.integrity.verify({ full: true }));
      else {
        for (const [chain, head] of heads) {
          const through = this.verifiedThrough.get(chain);
          if (mode === 'incremental' && through !== undefined && through >= head.seq && !this.broken.has(chain)) continue;
          const fromSeq = mode === 'start' || through === undefined ? Math.max(0, head.seq + 1 - tailRecords) : through + 1;
          results.push(await this.integrity.verify({ chain, exactChain: true, fromSeq: Math.min(fromSeq, head.seq) }));
        }
      }
      const chains = results.flatMap((r) => r.chains);
      const breaks = results.flatMap((r) => r.breaks);
      if (mode === 'full') this.broken.clear();
      for (const c of chains) {
        const b = breaks.find((x) => x.chain === c.chain);
        if (b) this.broken.set(c.chain, b);
        else {
          if (mode !== 'full' && this.broken.has(c.chain)) continue; // only a full check clears a known break
          this.verifiedThrough.set(c.chain, c.lastSeq);
        }
      }
      const verified = results.reduce((n, r) => n + r.verified, 0);
      const all = [...this.broken.values()].sort((a, b) => (a.chain < b.chain ? -1 : 1));
      const ok = all.length === 0;
      this.state = { status: ok ? 'intact' : 'broken', breaks: all, lastRun: { mode, at: new Date().toISOString(), verified, ok }, lastError: null };
      this.metrics.integrityIntact.set(ok ? 1 : 0);
      this.metrics.integrityBreaks.set(all.length);
      this.metrics.integrityRuns.inc({ mode, result: ok ? 'intact' : 'broken' });
      this.metrics.integrityRecords.inc(verified);
      this.metrics.integrityLastRun.set(Date.now() / 1000);
      // Chains, sequence numbers and kinds only: never record content.
      if (ok) this.logger.log(JSON.stringify({ msg: 'integrity verified', mode, records: verified, chains: chains.length, path: this.integrity.verificationPath() }));
      else {
        for (const b of breaks) {
          this.logger.error(JSON.stringify({ msg: 'integrity break', mode, chain: b.chain, seq: b.seq, kind: b.kind, ...(b.column ? { column: b.column } : {}) }));
        }
      }
      await this.report(all, mode);
      const merged: VerifyResult = { ok, verified, break: all[0] ?? null, breaks: all, chains, checkpointsVerified: results.reduce((n, r) => n + r.checkpointsVerified, 0) };
      return merged;
    } catch (err) {
      const name = err instanceof Error ? err.constructor.name : 'unknown';
      this.state = { ...this.state, lastError: name };
      this.metrics.integrityRuns.inc({ mode, result: 'failed' });
      this.logger.error(JSON.stringify({ msg: 'integrity verification failed', mode, error: name }));
      return null;
    }
  }

  /** Tells the listeners about breaks not reported yet; one that fails hears them again next run. */
  private async report(breaks: ChainBreak[], mode: VerificationMode | 'query'): Promise<void> {
    const fresh = breaks.filter((b) => !this.reported.has(breakKey(b)));
    if (fresh.length === 0 || this.listeners.length === 0) return;
    let delivered = true;
    for (const listener of this.listeners) {
      try {
        await listener(fresh, mode);
      } catch (err) {
        delivered = false;
        this.logger.error(JSON.stringify({ msg: 'integrity break not reported', error: err instanceof Error ? err.constructor.name : 'unknown' }));
      }
    }
    if (delivered) for (const b of fresh) this.reported.add(breakKey(b));
  }
}
