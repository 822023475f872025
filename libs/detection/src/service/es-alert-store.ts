/**
 * Elasticsearch adapter of the AlertStore port (STORE=elasticsearch): alerts in their own index
 * (ALERT_MAPPINGS, es-schema.ts), `_id` = the alert's deterministic id.
 *   - save: op_type=create, so a replay (another instance, a restart) changes nothing and gets
 *     the stored record back (409 -> read it);
 *   - transition: reads the alert realtime with its `_seq_no`/`_primary_term`, applies the pure
 *     lifecycle, and writes with if_seq_no/if_primary_term: two analysts (on any instances) cannot
 *     lose each other's change; the loser re-reads and re-applies (and is refused if the alert
 *     moved on to a status that no longer allows the action);
 *   - list: filters and sorts on indexed columns (newest first), cursor pages with search_after.
 * The full record names patients and IPs: it is sealed (AES-256-GCM with the data keys, the same
 * envelope the embedded store uses) and stored as a binary field, neither indexed nor readable
 * without the keys. Writes use refresh=wait_for so every instance lists an alert once it is saved.
 * Case work (docs/case-work.md): documents also carry `actorId`, `caseId` and `patientTokens` (the
 * keyed-HMAC tokens of the patients the alert names, never ids) for the actor / patient / case
 * filters. A new alert joins its user's open case (the newest unresolved alert of that user names
 * it) or opens one; two instances raising a user's first alerts in the same instant may open two
 * cases (nothing is lost: both list under the user). The case list reads at most
 * CASE_SCAN_LIMIT of the newest alerts that belong to a case.
 * Loaded lazily (it pulls in the Elasticsearch client).
 */
import type { Client } from '@elastic/elasticsearch';
import { EsRequestOptions, EsRequests } from '@app/storage/elasticsearch/es-requests';
import { RecordSealer, StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import { DetectionAlert } from '../alert';
import { alertActor, alertPatientIds, caseIdFor, newestActivityFirst, summarizeCases } from '../alert-cases';
import { AlertNotFoundError, AlertRecord, AlertTransitionRequest, applyTransition, newAlertRecord } from '../alert-lifecycle';
import { AlertFilter, AlertIndexing, AlertPage, AlertSaveResult, AlertStore, CaseFilter, CasePage, decodeAlertCursor, decodeCaseCursor, encodeAlertCursor, encodeCaseCursor } from '../alert-store.port';

interface AlertDoc {
  id: string;
  ruleId: string;
  severity: string;
  status: string;
  windowEndMs: number;
  position: number;
  createdAt: string;
  updatedAt: string;
  /** Sealed record JSON, base64. */
  record: string;
  actorId?: string;
  caseId?: string;
  patientTokens?: string[];
}

const MAX_TRANSITION_ATTEMPTS = 5;
/** Newest alerts with a case the case list reads (a privacy office works about 1,000 a month). */
export const CASE_SCAN_LIMIT = 20_000;
const SCAN_PAGE = 1000;

export class ElasticsearchAlertStore implements AlertStore {
  private readonly es: EsRequests;

  constructor(
    client: Client,
    private readonly index: string,
    private readonly sealer: RecordSealer,
    options: EsRequestOptions = {},
    /** Without it no patient is indexed: ids are never stored in clear. */
    private readonly indexing?: AlertIndexing,
    /**
     * The delivery queue (es-delivery-outbox.ts): each alert is queued in the same bulk that creates
     * it, as the embedded store's trigger queues it in the same transaction. Without it nothing is queued.
     */
    private readonly deliveryQueueIndex?: string,
  ) {
    this.es = new EsRequests(client, options);
  }

  /**
   * Creates the records (op_type=create) and, with a delivery queue, each one's queue entry in the
   * same bulk; returns the alert items. A queue entry that exists already (the alert was queued,
   * perhaps fanned out, before a replay) is left alone; one that failed fails the whole call, so
   * the caller's retry queues it (the alert then answers 409, its entry is created).
   */
  private async createWithQueue(records: readonly AlertRecord[]) {
    const queue = this.deliveryQueueIndex;
    const now = Date.now();
    const ops = records.flatMap((r) => [
      { action: { create: { _index: this.index, _id: r.id } }, doc: this.toDoc(r) as unknown },
      ...(queue ? [{ action: { create: { _index: queue, _id: r.id } }, doc: { alertId: r.id, queuedAtMs: now, fannedOut: false } as unknown }] : []),
    ]);
    const all = await this.es.bulk(ops);
    const stride = queue ? 2 : 1;
    const items = records.map((_, i) => all[i * stride]);
    items.forEach((item) => {
      if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`alert write failed: ${item.error?.type ?? item.status}`);
    });
    if (queue) {
      records.forEach((_, i) => {
        const q = all[i * 2 + 1];
        if (q.status !== 409 && (q.status < 200 || q.status >= 300)) throw new StoreUnavailableError(`alert delivery queue write failed: ${q.error?.type ?? q.status}`);
      });
    }
    return items;
  }

  async save(alert: DetectionAlert, createdAt: string): Promise<AlertSaveResult> {
    return (await this.saveAll([alert], createdAt))[0];
  }

  async saveAll(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]> {
    if (alerts.length === 0) return [];
    const records = await this.withCases(alerts.map((a) => newAlertRecord(a, createdAt)));
    const items = await this.createWithQueue(records);
    const existing = records.filter((_, i) => items[i].status === 409).map((r) => r.id);
    const stored = await this.es.mget<AlertDoc>(this.index, existing);
    return records.map((record, i) => {
      if (items[i].status !== 409) return { created: true, record };
      const doc = stored.get(record.id);
      return { created: false, record: doc ? this.decode(doc.source) : record };
    });
  }

  /**
   * Creates records as they are (the detection outbox ships alerts stored with their status);
   * ids that exist already are left alone, so an analyst's acknowledge or resolve is never undone.
   */
  async importRecords(shipped: readonly AlertRecord[]): Promise<void> {
    if (shipped.length === 0) return;
    // The cluster decides the case: the shipping instance only knew its own alerts.
    const records = await this.withCases(shipped.map((r) => ({ ...r })));
    await this.createWithQueue(records);
  }

  async get(id: string): Promise<AlertRecord | null> {
    const doc = (await this.es.mget<AlertDoc>(this.index, [id])).get(id);
    return doc ? this.decode(doc.source) : null;
  }

  async list(filter: AlertFilter): Promise<AlertPage> {
    const must: object[] = [];
    if (filter.status !== undefined) must.push({ term: { status: filter.status } });
    if (filter.rule !== undefined) must.push({ term: { ruleId: filter.rule } });
    if (filter.severity !== undefined) must.push({ term: { severity: filter.severity } });
    if (filter.actor !== undefined) must.push({ term: { actorId: filter.actor } });
    if (filter.caseId !== undefined) must.push({ term: { caseId: filter.caseId } });
    if (filter.patientToken !== undefined) must.push({ term: { patientTokens: filter.patientToken } });
    if (filter.from !== undefined || filter.to !== undefined) {
      must.push({
        range: {
          windowEndMs: { ...(filter.from !== undefined ? { gte: Date.parse(filter.from) } : {}), ...(filter.to !== undefined ? { lt: Date.parse(filter.to) } : {}) },
        },
      });
    }
    let after: [number, string] | undefined;
    if (filter.cursor !== undefined) {
      const c = decodeAlertCursor(filter.cursor);
      if (!c) throw new Error('invalid alert cursor');
      after = [c.windowEndMs, c.id];
    }
    const hits = await this.es.search<AlertDoc>(this.index, {
      size: filter.limit + 1,
      query: { bool: { filter: must } },
      sort: [{ windowEndMs: { order: 'desc' } }, { id: { order: 'desc' } }],
      ...(after ? { search_after: after } : {}),
    });
    const page = hits.slice(0, filter.limit);
    const last = page[page.length - 1];
    return {
      alerts: page.map((h) => this.decode(h.source)),
      nextCursor: hits.length > filter.limit && last ? encodeAlertCursor(last.source.windowEndMs, last.source.id) : null,
    };
  }

  async transition(id: string, request: AlertTransitionRequest): Promise<AlertRecord> {
    for (let attempt = 0; attempt < MAX_TRANSITION_ATTEMPTS; attempt++) {
      const current = (await this.es.mget<AlertDoc>(this.index, [id])).get(id);
      if (!current) throw new AlertNotFoundError(id);
      const next = applyTransition(this.decode(current.source), request);
      const [item] = await this.es.bulk([
        { action: { index: { _index: this.index, _id: id, if_seq_no: current.seqNo, if_primary_term: current.primaryTerm } }, doc: this.toDoc(next) },
      ]);
      if (item.status >= 200 && item.status < 300) return next;
      if (item.status !== 409) throw new StoreUnavailableError(`alert update failed: ${item.error?.type ?? item.status}`);
      // Someone else changed it since we read it: read again and re-apply against what is stored.
    }
    throw new StoreUnavailableError('the alert kept changing under this update');
  }

  async cases(filter: CaseFilter): Promise<CasePage> {
    const must: object[] = [{ range: { windowEndMs: { gte: -8.64e15 } } }];
    if (filter.actor !== undefined) must.push({ term: { actorId: filter.actor } });
    const records: AlertRecord[] = [];
    let after: unknown[] | undefined;
    while (records.length < CASE_SCAN_LIMIT) {
      const hits = await this.es.search<AlertDoc>(this.index, {
        size: SCAN_PAGE,
        query: { bool: { filter: must } },
        sort: [{ windowEndMs: { order: 'desc' } }, { id: { order: 'desc' } }],
        ...(after ? { search_after: after } : {}),
      });
      for (const h of hits) if (h.source.caseId) records.push(this.decode(h.source));
      if (hits.length < SCAN_PAGE) break;
      const last = hits[hits.length - 1].source;
      after = [last.windowEndMs, last.id];
    }
    let cases = summarizeCases(records).sort(newestActivityFirst);
    if (filter.status !== undefined) cases = cases.filter((c) => c.status === filter.status);
    if (filter.cursor !== undefined) {
      const c = decodeCaseCursor(filter.cursor);
      if (!c) throw new Error('invalid case cursor');
      cases = cases.filter((x) => Date.parse(x.lastAlertAt) < c.lastAlertMs || (Date.parse(x.lastAlertAt) === c.lastAlertMs && x.id < c.id));
    }
    const page = cases.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { cases: page, nextCursor: cases.length > filter.limit && last ? encodeCaseCursor(Date.parse(last.lastAlertAt), last.id) : null };
  }

  /** Sets each record's case: the user's open case in the cluster (or one opened earlier in this batch), else a new one. */
  private async withCases(records: AlertRecord[]): Promise<AlertRecord[]> {
    const openCase = new Map<string, string>();
    for (const r of records) {
      const actor = alertActor(r);
      if (actor === undefined) {
        delete r.caseId;
        continue;
      }
      if (!openCase.has(actor)) {
        const [hit] = await this.es.search<AlertDoc>(this.index, {
          size: 1,
          query: { bool: { filter: [{ term: { actorId: actor } }], must_not: [{ term: { status: 'resolved' } }] } },
          sort: [{ windowEndMs: { order: 'desc' } }, { id: { order: 'desc' } }],
        });
        if (hit?.source.caseId) openCase.set(actor, hit.source.caseId);
      }
      const joined = openCase.get(actor) ?? caseIdFor(r.id);
      r.caseId = joined;
      if (r.status !== 'resolved') openCase.set(actor, joined);
    }
    return records;
  }

  private toDoc(r: AlertRecord): AlertDoc {
    const actor = alertActor(r);
    const patientTokens = this.indexing ? [...new Set(alertPatientIds(r).map((id) => this.indexing!.patientToken(id)))] : [];
    return {
      ...(actor !== undefined ? { actorId: actor } : {}),
      ...(r.caseId ? { caseId: r.caseId } : {}),
      ...(patientTokens.length ? { patientTokens } : {}),
      id: r.id,
      ruleId: r.ruleId,
      severity: r.severity,
      status: r.status,
      windowEndMs: Date.parse(r.windowEnd),
      position: r.position,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      record: this.sealer.seal(JSON.stringify(r)).toString('base64'),
    };
  }

  private decode(doc: AlertDoc): AlertRecord {
    return JSON.parse(this.sealer.open(Buffer.from(doc.record, 'base64'))) as AlertRecord;
  }
}

/** The alert store of the cluster the Elasticsearch event store uses (same client, ELASTICSEARCH_ALERTS_INDEX), queueing for delivery. */
export function elasticsearchAlertStoreFor(events: ElasticsearchEventStore, sealer: RecordSealer, indexing?: AlertIndexing): ElasticsearchAlertStore {
  return new ElasticsearchAlertStore(events.client, events.options.alertsIndex, sealer, {}, indexing, events.layout.deliveryQueueIndex);
}
