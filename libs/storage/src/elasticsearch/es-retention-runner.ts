/**
 * Retention on Elasticsearch (STORE=elasticsearch): the service, not ILM, deletes the backing
 * indices of the event data streams whose records are all past their class's window, and records
 * each chain's purged prefix first, so verification, proofs and exports keep working on what is
 * left (the same promise as the embedded store's retention run). ILM keeps the hot/warm/cold tiers
 * and has no delete phase (es-schema.ts).
 *
 * Per data stream, oldest backing index first, never the write index. An index is deleted only
 * when
 *   - its newest record (`event.ingested`, the receive time) is older than the class's window at
 *     `now` (the exact calendar cutoff of the retention policy, as the embedded store applies it);
 *   - no active legal hold covers any of its records (checked again right before the delete);
 *   - for every chain with records in it, everything up to its last record there is sealed by a
 *     signed checkpoint, and the records from the chain's purged prefix up to that one are all
 *     present and linked (read back by hash; a gap or a broken link stops the run for that
 *     stream: verification names it).
 * The first index that fails a condition stops its stream, so a chain never gets a hole. Then:
 *   1. each chain's purged prefix moves to just past its last record in the index (its last hash
 *      and Merkle frontier, computed from the records read, checked against every signed checkpoint
 *      in that range); verification starts there from now on, and proofs of earlier records
 *      answer 410. Records of that range kept in a younger index (a commit finished after a
 *      rollover) stay readable until their own index goes, but are no longer verified;
 *   2. the `<prefix>-event-ids` entries of the index's records are deleted (only those that point
 *      at the deleted record: a client may reuse an id in another chain), so GET /v1/events/{id}
 *      answers 404 and a redelivered id is new again, as with the embedded store after a purge;
 *   3. `DELETE /<backing index>`.
 * A crash between steps leaves a state the next run completes (each step is idempotent; a prefix
 * already recorded is not moved again). Nothing here holds or logs PHI: chains, sequence numbers,
 * counts and index names only.
 */
import type { Client } from '@elastic/elasticsearch';
import { EventCategory } from '@app/core';
import { GENESIS_HASH, MerkleAccumulator, frontierFromJSON } from '@app/ledger';
import { CheckpointStore, PurgedPrefix } from '../checkpoint-store.port';
import { StoreUnavailableError } from '../event-store.port';
import { EsLegalHoldReconciler, HoldCriteria } from './es-hold-reconciler';
import { EsRequestOptions, EsRequests, checkComplete } from './es-requests';
import { EsLayout, recordId } from './es-schema';

/** Why an index (and every younger one of its stream) was kept. */
export type EsKeptBecause = 'too_young' | 'legal_hold' | 'unsealed' | 'broken';

export interface EsChainPurge {
  chain: string;
  /** Already purged before: [0, fromSeq). */
  fromSeq: number;
  /** Purged now: [fromSeq, toSeq). */
  toSeq: number;
  /** The latest checkpoint at or below toSeq (-1: none). */
  checkpointIndex: number;
}

export interface EsIndexPurge {
  index: string;
  category: EventCategory;
  records: number;
  /** Receive time of the index's newest record (null: empty index). */
  newestReceivedAt: string | null;
  chains: EsChainPurge[];
  /** `<prefix>-event-ids` entries removed with it. */
  idsDeleted: number;
}

export interface EsRetentionReport {
  now: string;
  dryRun: boolean;
  /** Backing indices deleted (dry run: that would be). */
  deleted: EsIndexPurge[];
  /** Per stream, the first backing index kept past its window, and why. */
  kept: { index: string; category: EventCategory; because: EsKeptBecause }[];
  /** Records deleted over all indices (dry run: that would be). */
  records: number;
}

export interface EsRetentionRunnerOptions extends EsRequestOptions {
  /** Active legal holds (released ones left out). */
  activeHolds: () => Promise<HoldCriteria[]>;
  /** With field protection the events index the patient's token, not the id. */
  patientToken?: (patientId: string) => string;
  log?: (level: 'error' | 'warn' | 'info', msg: string, fields?: Record<string, unknown>) => void;
}

interface IndexStats {
  newest: number | null;
  chains: { chain: string; maxSeq: number; count: number }[];
}

const PAGE = 1000;
const MAX_CHAINS = 10_000;

export class EsRetentionRunner {
  private readonly es: EsRequests;
  private readonly holds: EsLegalHoldReconciler;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: Client,
    private readonly layout: EsLayout,
    private readonly checkpoints: CheckpointStore,
    /** Records received before this instant (epoch ms) are past their class's window at `nowMs`. */
    private readonly deleteIfReceivedBefore: (category: EventCategory, nowMs: number) => number,
    private readonly options: EsRetentionRunnerOptions,
  ) {
    this.es = new EsRequests(client, options);
    this.holds = new EsLegalHoldReconciler(client, layout, options.activeHolds, options);
  }

  /** Deletes (or, dry run, lists) every backing index past its window; runs of one instance never overlap. */
  run(opts: { now: number; dryRun: boolean }): Promise<EsRetentionReport> {
    const run = this.tail.then(
      () => this.runOnce(opts),
      () => this.runOnce(opts),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async runOnce({ now, dryRun }: { now: number; dryRun: boolean }): Promise<EsRetentionReport> {
    const report: EsRetentionReport = { now: new Date(now).toISOString(), dryRun, deleted: [], kept: [], records: 0 };
    const streams = await this.es.call(() => this.client.indices.getDataStream({ name: this.layout.eventsPattern, expand_wildcards: 'open' }));
    for (const ds of streams.data_streams) {
      const category = this.layout.categoryOfDataStream(ds.name);
      if (!category) continue;
      const cutoff = this.deleteIfReceivedBefore(category, now);
      // Oldest first; the last one is the write index, which is never deleted.
      for (const { index_name: index } of ds.indices.slice(0, -1)) {
        const outcome = await this.purgeIndex(index, category, cutoff, now, dryRun);
        if ('because' in outcome) {
          report.kept.push({ index, category, because: outcome.because });
          break;
        }
        report.deleted.push(outcome);
        report.records += outcome.records;
      }
    }
    return report;
  }

  private async purgeIndex(index: string, category: EventCategory, cutoff: number, now: number, dryRun: boolean): Promise<EsIndexPurge | { because: EsKeptBecause }> {
    await this.es.call(() => this.client.indices.refresh({ index }));
    const stats = await this.indexStats(index);
    if (stats.newest !== null && !(stats.newest < cutoff)) return { because: 'too_young' };
    if (await this.held(index)) return { because: 'legal_hold' };
    const prefixes: PurgedPrefix[] = [];
    const chains: EsChainPurge[] = [];
    for (const c of stats.chains) {
      const planned = await this.planChain(c.chain, c.maxSeq + 1, now);
      if (planned === null) continue; // already purged past this index (an interrupted run)
      if ('because' in planned) return planned;
      prefixes.push(planned.prefix);
      chains.push(planned.purge);
    }
    const out: EsIndexPurge = {
      index,
      category,
      records: stats.chains.reduce((n, c) => n + c.count, 0),
      newestReceivedAt: stats.newest === null ? null : new Date(stats.newest).toISOString(),
      chains,
      idsDeleted: 0,
    };
    if (dryRun) return out;
    // A hold placed (on any instance) since the first check must still win.
    if (await this.held(index)) return { because: 'legal_hold' };
    for (const p of prefixes) await this.checkpoints.recordPurgedPrefix(p);
    out.idsDeleted = await this.deleteIds(index);
    await this.es.call(() => this.client.indices.delete({ index }));
    this.options.log?.('info', 'retention deleted a backing index', { index, records: out.records, chains: chains.map((c) => `${c.chain}:${c.fromSeq}..${c.toSeq - 1}`).join(' ') });
    return out;
  }

  /** Newest receive time of the index and, per chain, its highest seq and record count. */
  private async indexStats(index: string): Promise<IndexStats> {
    const resp = await this.es.call(() =>
      this.client.search({
        index,
        size: 0,
        track_total_hits: false,
        allow_partial_search_results: false,
        aggs: {
          newest: { max: { field: 'event.ingested' } },
          chains: { terms: { field: 'audit.chain', size: MAX_CHAINS }, aggs: { last: { max: { field: 'audit.seq' } } } },
        },
      }),
    );
    checkComplete(resp, `the records of ${index}`);
    const aggs = resp.aggregations as
      | { newest?: { value: number | null }; chains?: { buckets: { key: string; doc_count: number; last: { value: number | null } }[] } }
      | undefined;
    const buckets = aggs?.chains?.buckets ?? [];
    if (buckets.length >= MAX_CHAINS) throw new StoreUnavailableError(`${index} holds records of ${MAX_CHAINS} or more chains; retention cannot plan it`);
    return {
      newest: aggs?.newest?.value ?? null,
      chains: buckets.filter((b) => b.last.value !== null).map((b) => ({ chain: String(b.key), maxSeq: b.last.value!, count: b.doc_count })),
    };
  }

  /** Whether an active legal hold covers any record of the index (read afresh). */
  private async held(index: string): Promise<boolean> {
    for (const h of await this.options.activeHolds()) {
      if ((await this.holds.indicesHolding(h)).includes(index)) return true;
    }
    return false;
  }

  /**
   * The chain's purged prefix moved to `toSeq`: the records [purged, toSeq) read back by hash,
   * contiguous and linked, folded into the Merkle frontier, and checked against every signed
   * checkpoint in the range; null when the prefix is already there.
   */
  private async planChain(chain: string, toSeq: number, now: number): Promise<{ prefix: PurgedPrefix; purge: EsChainPurge } | { because: EsKeptBecause } | null> {
    const purged = await this.checkpoints.purgedPrefix(chain);
    const fromSeq = purged?.size ?? 0;
    if (toSeq <= fromSeq) return null;
    const latest = await this.checkpoints.latest(chain);
    if (!latest || latest.checkpoint.treeSize < toSeq) return { because: 'unsealed' };
    const signed = new Map((await this.checkpoints.list(chain)).filter((c) => c.checkpoint.treeSize > fromSeq && c.checkpoint.treeSize <= toSeq).map((c) => [c.checkpoint.treeSize, c]));
    const acc = purged ? new MerkleAccumulator(frontierFromJSON(purged.frontier)) : new MerkleAccumulator();
    let prev = purged ? Buffer.from(purged.lastHash, 'hex') : GENESIS_HASH;
    let expected = fromSeq;
    const broken = (seq: number, what: string) => {
      this.options.log?.('error', 'retention stopped: the chain does not read back whole; run verification', { chain, seq, what });
      return { because: 'broken' as const };
    };
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<{ audit: { seq: number; hash: string; prev_hash: string } }>(this.layout.eventsPattern, {
        ignore_unavailable: true,
        allow_no_indices: true,
        size: PAGE,
        query: { bool: { filter: [{ term: { 'audit.chain': chain } }, { range: { 'audit.seq': { gte: fromSeq, lt: toSeq } } }] } },
        sort: [{ 'audit.seq': { order: 'asc' } }],
        _source: ['audit.seq', 'audit.hash', 'audit.prev_hash'],
        ...(after ? { search_after: after } : {}),
      });
      for (const { source } of hits) {
        const a = source.audit;
        if (a.seq === expected - 1 && a.hash === prev.toString('hex')) continue; // the same record kept twice across a rollover
        if (a.seq !== expected) return broken(expected, 'missing record');
        if (a.prev_hash !== prev.toString('hex')) return broken(a.seq, 'link');
        prev = Buffer.from(a.hash, 'hex');
        acc.appendRecordHash(prev);
        expected++;
        const cp = signed.get(expected);
        if (cp && (cp.checkpoint.lastHash !== a.hash || acc.root().toString('hex') !== cp.checkpoint.rootHash)) return broken(a.seq, 'checkpoint');
      }
      if (hits.length < PAGE) break;
      after = hits[hits.length - 1].sort;
    }
    if (expected !== toSeq) return broken(expected, 'missing record');
    const at = await this.checkpoints.latestAtOrBelow(chain, toSeq);
    const prefix: PurgedPrefix = {
      chain,
      size: toSeq,
      lastHash: prev.toString('hex'),
      frontier: acc.toJSON(),
      checkpointIndex: at?.index ?? -1,
      purgedAt: new Date(now).toISOString(),
    };
    return { prefix, purge: { chain, fromSeq, toSeq, checkpointIndex: prefix.checkpointIndex } };
  }

  /** Removes the event-ids entries that point at the index's records; returns how many. */
  private async deleteIds(index: string): Promise<number> {
    let deleted = 0;
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<{ event: { id: string }; audit: { chain: string; seq: number } }>(index, {
        size: PAGE,
        query: { match_all: {} },
        sort: [{ 'audit.chain': { order: 'asc' } }, { 'audit.seq': { order: 'asc' } }],
        _source: ['event.id', 'audit.chain', 'audit.seq'],
        ...(after ? { search_after: after } : {}),
      });
      if (hits.length === 0) return deleted;
      const want = new Map(hits.map((h) => [h.source.event.id, recordId(h.source.audit.chain, h.source.audit.seq)]));
      const stored = await this.es.mget<{ chain: string; seq: number }>(this.layout.idsIndex, [...want.keys()]);
      const ids = [...stored].filter(([id, d]) => recordId(d.source.chain, d.source.seq) === want.get(id)).map(([id]) => id);
      if (ids.length > 0) {
        const resp = await this.es.call(() => this.client.bulk({ operations: ids.map((id) => ({ delete: { _index: this.layout.idsIndex, _id: id } })) }));
        for (const entry of resp.items) {
          const item = Object.values(entry)[0] as { status: number; error?: { type?: string } };
          if (item.status !== 200 && item.status !== 404) throw new StoreUnavailableError(`event id delete failed: ${item.error?.type ?? item.status}`);
          if (item.status === 200) deleted++;
        }
      }
      if (hits.length < PAGE) return deleted;
      after = hits[hits.length - 1].sort;
    }
  }
}
