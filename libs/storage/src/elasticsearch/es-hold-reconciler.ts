/**
 * Legal holds against Elasticsearch ILM (STORE=elasticsearch). ILM deletes whole backing indices
 * when their class policy's delete phase comes, so a hold is enforced per backing index: every
 * index holding at least one record an active hold covers is switched to the hold policy
 * (`<prefix>-legal-hold`: the same hot/warm/cold phases, no delete phase), and an index on the
 * hold policy that no active hold covers any more goes back to its class policy
 * (`<prefix>-events-<category>`). Nothing here deletes anything: the only writes are
 * `PUT _ilm/policy/<prefix>-legal-hold` and the documented policy switch, `POST <index>/_ilm/remove`
 * then `PUT <index>/_settings {"index.lifecycle.name": …}`.
 *
 * Which indices are held: per hold, one search over the event data streams with the hold's
 * criteria (patient token, actor id, `@timestamp` range) and a terms aggregation on `_index`.
 *
 * Timing (see README "Legal holds with Elasticsearch"): ILM deletes an index only once its age
 * passes the delete phase's min_age and ILM's next poll runs the phase. A policy switch made
 * before that keeps the index. Removing the policy first stops a phase in progress (setting the
 * name alone lets the cached phase finish); indices that had already entered the delete phase
 * when the run found them are reported as `inDeletePhase` (ILM may have deleted part of them).
 * ILM explain names the held indices in chunks, so the request line stays under 4 kB.
 */
import type { Client } from '@elastic/elasticsearch';
import { EsLayout } from './es-schema';
import { EsRequestOptions, EsRequests, checkComplete } from './es-requests';

/** What the reconciler needs of a hold (LegalHold of libs/retention has these fields). */
export interface HoldCriteria {
  id: string;
  patient: string | null;
  actor: string | null;
  /** Event time (`occurredAt`, RFC 3339): from inclusive, to exclusive; null = open. */
  from: string | null;
  to: string | null;
}

export interface HoldReconcileReport {
  activeHolds: number;
  /** Backing indices holding records under an active hold (all on the hold policy afterwards), sorted. */
  heldIndices: string[];
  /** Indices this run moved to the hold policy. */
  switchedToHold: string[];
  /** Indices this run moved back to their class policy (no active hold covers them any more). */
  restored: { index: string; policy: string }[];
  /** Held indices ILM reports in the delete phase already: a switch may come too late for them. */
  inDeletePhase: string[];
}

export interface EsHoldReconcilerOptions extends EsRequestOptions {
  /** With field protection the events index the patient's token, not the id. */
  patientToken?: (patientId: string) => string;
  /** Times a run starts over when the active holds changed while it ran (default 3). */
  maxPasses?: number;
}

/** Most backing indices one hold is expected to span (terms aggregation size). */
const MAX_INDICES = 10_000;

export class EsLegalHoldReconciler {
  private readonly es: EsRequests;
  private policyPut = false;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: Client,
    private readonly layout: EsLayout,
    private readonly activeHolds: () => Promise<HoldCriteria[]>,
    private readonly options: EsHoldReconcilerOptions = {},
  ) {
    this.es = new EsRequests(client, options);
  }

  /**
   * Brings every event backing index onto the policy the active holds call for. Runs of one
   * instance are serialized; runs of several instances converge (each reads the holds afresh and
   * a run whose holds changed under it starts over before restoring anything).
   */
  reconcile(): Promise<HoldReconcileReport> {
    const run = this.tail.then(
      () => this.reconcileOnce(),
      () => this.reconcileOnce(),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async reconcileOnce(): Promise<HoldReconcileReport> {
    await this.ensurePolicy();
    const report: HoldReconcileReport = { activeHolds: 0, heldIndices: [], switchedToHold: [], restored: [], inDeletePhase: [] };
    const passes = this.options.maxPasses ?? 3;
    for (let pass = 0; pass < passes; pass++) {
      const holds = await this.activeHolds();
      report.activeHolds = holds.length;
      const held = new Set<string>();
      for (const h of holds) for (const index of await this.indicesHolding(h)) held.add(index);
      report.heldIndices = [...held].sort();
      // Read before the switch (which resets their ILM state): indices ILM had already moved into the delete phase.
      report.inDeletePhase = report.heldIndices.length > 0 ? await this.inDeletePhase(report.heldIndices) : [];
      const { classPolicy, current } = await this.backingIndices();
      for (const index of report.heldIndices) {
        if (current.get(index) === this.layout.holdIlmPolicy) continue;
        await this.setPolicy(index, this.layout.holdIlmPolicy);
        report.switchedToHold.push(index);
      }
      const release = [...current].filter(([index, policy]) => policy === this.layout.holdIlmPolicy && !held.has(index) && classPolicy.has(index)).map(([index]) => index).sort();
      if (release.length === 0) break;
      // A hold placed (on another instance) since this run read the holds must not be undone by it.
      const now = await this.activeHolds();
      if (!sameHolds(holds, now) && pass + 1 < passes) continue;
      for (const index of release) {
        const policy = classPolicy.get(index)!;
        await this.setPolicy(index, policy);
        report.restored.push({ index, policy });
      }
      break;
    }
    return report;
  }

  /** `PUT _ilm/policy/<prefix>-legal-hold` (once per process; idempotent in the cluster). */
  async ensurePolicy(): Promise<void> {
    if (this.policyPut) return;
    await this.es.call(() => this.client.ilm.putLifecycle({ name: this.layout.holdIlmPolicy, policy: this.layout.holdIlmPolicyBody() }));
    this.policyPut = true;
  }

  /** The backing indices holding at least one record the hold covers (terms aggregation on `_index`). */
  async indicesHolding(h: HoldCriteria): Promise<string[]> {
    const filter: object[] = [];
    if (h.patient !== null) {
      const token = this.options.patientToken;
      filter.push(token ? { term: { 'audit.patient.token': token(h.patient) } } : { term: { 'audit.patient.id': h.patient } });
    }
    if (h.actor !== null) filter.push({ term: { 'audit.actor.id': h.actor } });
    if (h.from !== null || h.to !== null) {
      filter.push({
        range: { '@timestamp': { ...(h.from !== null ? { gte: Date.parse(h.from) } : {}), ...(h.to !== null ? { lt: Date.parse(h.to) } : {}), format: 'epoch_millis' } },
      });
    }
    const resp = await this.es.call(() =>
      this.client.search({
        index: this.layout.eventsPattern,
        ignore_unavailable: true,
        allow_no_indices: true,
        size: 0,
        track_total_hits: false,
        query: { bool: { filter } },
        aggs: { indices: { terms: { field: '_index', size: MAX_INDICES } } },
        // A hold must find every index it protects: a shard that failed could hide one.
        allow_partial_search_results: false,
      }),
    );
    checkComplete(resp, 'the indices a legal hold covers');
    const agg = (resp.aggregations as { indices?: { buckets: { key: string }[] } } | undefined)?.indices;
    return (agg?.buckets ?? []).map((b) => b.key);
  }

  /** Every backing index of the event data streams: its class policy and the policy it has now. */
  private async backingIndices(): Promise<{ classPolicy: Map<string, string>; current: Map<string, string | undefined> }> {
    const streams = await this.es.call(() => this.client.indices.getDataStream({ name: this.layout.eventsPattern }));
    const classPolicy = new Map<string, string>();
    for (const ds of streams.data_streams) {
      const category = this.layout.categoryOfDataStream(ds.name);
      if (!category) continue;
      for (const i of ds.indices) classPolicy.set(i.index_name, this.layout.ilmPolicy(category));
    }
    const current = new Map<string, string | undefined>();
    if (classPolicy.size === 0) return { classPolicy, current };
    const settings = await this.es.call(() =>
      this.client.indices.getSettings({ index: this.layout.eventsPattern, name: 'index.lifecycle.name', ignore_unavailable: true, allow_no_indices: true }),
    );
    for (const [index, s] of Object.entries(settings)) {
      const flat = (s.settings as Record<string, unknown> | undefined) ?? {};
      const nested = (flat.index as { lifecycle?: { name?: string } } | undefined)?.lifecycle?.name;
      current.set(index, nested ?? (flat['index.lifecycle.name'] as string | undefined));
    }
    return { classPolicy, current };
  }

  /**
   * Switches an index to another policy the documented way: remove the current policy, then
   * assign the new one. Setting `index.lifecycle.name` alone lets the phase in progress finish
   * under the old policy, which for an index already in its delete phase means it is deleted.
   */
  private async setPolicy(index: string, policy: string): Promise<void> {
    await this.es.call(() => this.client.ilm.removePolicy({ index }));
    await this.es.call(() => this.client.indices.putSettings({ index, settings: { 'index.lifecycle.name': policy } }));
  }

  /** Held indices ILM has moved into the delete phase; explained in chunks that keep the URL short. */
  private async inDeletePhase(indices: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const chunk of urlChunks(indices)) {
      const resp = await this.es.call(() => this.client.ilm.explainLifecycle({ index: chunk.join(',') }));
      for (const [index, e] of Object.entries(resp.indices)) if ((e as { phase?: string }).phase === 'delete') out.push(index);
    }
    return out.sort();
  }
}

/** Most bytes of index names one request path carries (an HTTP line is limited to 4 kB). */
const MAX_PATH_NAMES_BYTES = 3000;

/** Index names in groups whose comma-joined, URL-encoded form stays under MAX_PATH_NAMES_BYTES. */
export function urlChunks(names: readonly string[]): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const name of names) {
    const size = encodeURIComponent(name).length + 3; // and the encoded comma
    if (current.length > 0 && bytes + size > MAX_PATH_NAMES_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(name);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function sameHolds(a: readonly HoldCriteria[], b: readonly HoldCriteria[]): boolean {
  const ids = (x: readonly HoldCriteria[]) => x.map((h) => h.id).sort().join(',');
  return ids(a) === ids(b);
}
