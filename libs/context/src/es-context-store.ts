/**
 * Elasticsearch ContextStore (STORE=elasticsearch): every version a document of its own index
 * `<prefix>-context` (strict mappings, one primary shard), so every API instance of a scale-out
 * deployment loads the same context. A request's versions go in one bulk of `create`s with fresh
 * ids; should any item fail, the ones that did land are deleted again before the error is raised
 * (nothing half-applied). The record is sealed whole with the data keys (base64, not indexed).
 *
 * Other instances' writes (`othersSince`, polled by ContextSync): every document names its writer
 * (one id per store object) and when it was stored (`stored_at`, the writer's clock just before the
 * bulk). Each read asks for the documents of other writers stored at or after the newest `stored_at`
 * seen minus a look-back (CONTEXT_SYNC_LOOKBACK_MS: a slow bulk or a writer whose clock is behind
 * still lands inside it) and skips the ids it already returned or loaded, so each version is applied
 * once whatever order the documents become visible in; a request's documents (`count` of them) are
 * returned only once all are visible.
 *
 * Not exported from the library index: it loads @elastic/elasticsearch; import it lazily.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import { SMALL_INDEX_SETTINGS, StoreUnavailableError } from '@app/storage';
import type { ElasticsearchEventStore } from '@app/storage/elasticsearch/es-event-store';
import { EsRequestOptions, EsRequests, esStatusOf } from '@app/storage/elasticsearch/es-requests';
import { ContextKind, ContextVersion } from './context-records';
import { ContextSealer, ContextStore } from './context-store.port';

const keyword = { type: 'keyword' } as const;

export const CONTEXT_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    id: keyword,
    batch: keyword,
    ord: { type: 'integer' },
    kind: keyword,
    valid_from: { type: 'long' },
    received_at: { type: 'long' },
    record: { type: 'binary' },
    writer: keyword,
    stored_at: { type: 'long' },
    count: { type: 'integer' },
  },
} as const;

/** Fields added after the first release: put on an index created without them. */
const ADDED_FIELDS = { writer: keyword, stored_at: { type: 'long' }, count: { type: 'integer' } } as const;

/**
 * Sort key of one request's documents: requests received in the same millisecond keep this
 * instance's order (process start, then a counter); the random tail keeps instances apart.
 */
const PROCESS_KEY = Date.now().toString(36).padStart(9, '0');
let batchCounter = 0;
function nextBatchKey(): string {
  return `${PROCESS_KEY}-${(batchCounter++).toString(36).padStart(8, '0')}-${randomUUID()}`;
}

export interface ContextDocument {
  id: string;
  batch: string;
  ord: number;
  kind: ContextKind;
  valid_from: number;
  received_at: number;
  record: string;
  /** The storing EsContextStore's id; absent on documents of earlier builds. */
  writer?: string;
  /** When the writer stored it (ms, its clock); absent on documents of earlier builds. */
  stored_at?: number;
  /** How many documents its request stored (applied by other instances only once all are visible). */
  count?: number;
}

export interface EsContextStoreOptions extends EsRequestOptions {
  /** `<prefix>-context`. */
  index: string;
  sealer: ContextSealer;
  /** How far behind the newest `stored_at` seen each read of others' writes looks again (ms; default 30 s). */
  lookbackMs?: number;
  /** Clock of `stored_at` (tests). */
  now?: () => number;
}

export class EsContextStore implements ContextStore {
  private readonly es: EsRequests;
  private ready: Promise<void> | null = null;
  /** This store's writer id: its documents are not read back as others' writes. */
  readonly writer = randomUUID();
  /** Newest `stored_at` seen of another writer's document (loaded or read), at most this clock's now; 0: none yet. */
  private highWater = 0;
  /** Ids of documents loaded or read with `stored_at` inside the look-back, and their `stored_at`. */
  private readonly seen = new Map<string, number>();

  constructor(
    client: Client,
    private readonly options: EsContextStoreOptions,
  ) {
    this.es = new EsRequests(client, options);
  }

  init(): Promise<void> {
    this.ready ??= this.createIndex().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  async append(versions: readonly ContextVersion[]): Promise<void> {
    await this.init();
    if (versions.length === 0) return;
    const batch = nextBatchKey();
    const storedAt = (this.options.now ?? Date.now)();
    const docs: ContextDocument[] = versions.map((v, ord) => ({
      id: randomUUID(),
      batch,
      ord,
      kind: v.kind,
      valid_from: v.validFromMs,
      received_at: v.receivedAtMs,
      record: this.options.sealer.seal(JSON.stringify(v.record)).toString('base64'),
      writer: this.writer,
      stored_at: storedAt,
      count: versions.length,
    }));
    const items = await this.es.bulk(docs.map((d) => ({ action: { create: { _index: this.options.index, _id: d.id } }, doc: d })));
    const failed = items.filter((it) => it.status >= 300);
    if (failed.length > 0) {
      const landed = docs.filter((_, i) => items[i]!.status < 300);
      if (landed.length > 0) {
        await this.es.client.bulk({ refresh: 'wait_for', operations: landed.map((d) => ({ delete: { _index: this.options.index, _id: d.id } })) }).catch(() => undefined);
      }
      throw new StoreUnavailableError(`Elasticsearch refused ${failed.length} context record(s) (${failed[0]!.status} ${failed[0]!.error?.type ?? 'error'}); none were kept`);
    }
  }

  async scan(onBatch: (versions: ContextVersion[]) => void, batchSize = 10_000): Promise<void> {
    await this.init();
    // What was loaded is not read again as others' writes: remember the ids inside the look-back.
    this.highWater = 0;
    this.seen.clear();
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<ContextDocument>(this.options.index, {
        query: { match_all: {} },
        sort: [{ received_at: { order: 'asc' } }, { batch: { order: 'asc' } }, { ord: { order: 'asc' } }],
        size: batchSize,
        ...(after ? { search_after: after } : {}),
      });
      if (hits.length === 0) break;
      for (const h of hits) this.remember(h.source);
      onBatch(hits.map((h) => this.versionOf(h.source)));
      if (hits.length < batchSize) break;
      after = hits.at(-1)!.sort;
    }
    this.forgetBeforeLookback();
  }

  async othersSince(batchSize = 10_000): Promise<ContextVersion[]> {
    await this.init();
    const from = Math.max(0, this.highWater - this.lookbackMs);
    const unseen: ContextDocument[] = [];
    const visible = new Map<string, number>(); // documents of each request in the window, seen or not
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<ContextDocument>(this.options.index, {
        query: { bool: { filter: [{ range: { stored_at: { gte: from } } }], must_not: [{ term: { writer: this.writer } }] } },
        sort: [{ stored_at: { order: 'asc' } }, { batch: { order: 'asc' } }, { ord: { order: 'asc' } }],
        size: batchSize,
        ...(after ? { search_after: after } : {}),
      });
      for (const h of hits) {
        visible.set(h.source.batch, (visible.get(h.source.batch) ?? 0) + 1);
        if (!this.seen.has(h.source.id)) unseen.push(h.source);
      }
      if (hits.length < batchSize) break;
      after = hits.at(-1)!.sort;
    }
    // A request is applied whole: one whose bulk is still landing waits for the next read, and one
    // undone after a partial failure (its landed documents deleted) is never applied.
    const fresh = unseen.filter((d) => (typeof d.count !== 'number' || visible.get(d.batch)! >= d.count) && this.remember(d));
    this.forgetBeforeLookback();
    // The store's order (as a restart loads them): received, then request, then position in it.
    fresh.sort((a, b) => a.received_at - b.received_at || (a.batch < b.batch ? -1 : a.batch > b.batch ? 1 : a.ord - b.ord));
    return fresh.map((d) => this.versionOf(d));
  }

  private get lookbackMs(): number {
    return this.options.lookbackMs ?? 30_000;
  }

  /** Notes a loaded or read document; false when it has no `stored_at` (earlier builds: never read as a change). */
  private remember(d: ContextDocument): boolean {
    if (typeof d.stored_at !== 'number') return false;
    // Never past this instance's clock: a writer whose clock runs ahead must not push the window
    // past the writes of the others (its own documents are then skipped by id until the clock is there).
    const at = Math.min(d.stored_at, (this.options.now ?? Date.now)());
    if (at > this.highWater) this.highWater = at;
    if (d.stored_at >= this.highWater - this.lookbackMs) this.seen.set(d.id, d.stored_at);
    return true;
  }

  private forgetBeforeLookback(): void {
    const floor = this.highWater - this.lookbackMs;
    for (const [id, at] of this.seen) if (at < floor) this.seen.delete(id);
  }

  private versionOf(d: ContextDocument): ContextVersion {
    return { kind: d.kind, validFromMs: d.valid_from, receivedAtMs: d.received_at, record: JSON.parse(this.options.sealer.open(Buffer.from(d.record, 'base64'))) };
  }

  private async createIndex(): Promise<void> {
    try {
      await this.es.client.indices.create({ index: this.options.index, settings: SMALL_INDEX_SETTINGS, mappings: CONTEXT_MAPPINGS });
    } catch (err) {
      if (err instanceof errors.ResponseError && err.body?.error?.type === 'resource_already_exists_exception') return this.addFields();
      throw new StoreUnavailableError(`Elasticsearch: the context index could not be created (${(err as Error)?.name ?? 'error'}${esStatusOf(err) ? ` ${esStatusOf(err)}` : ''})`);
    }
  }

  /** An index created by an earlier build: add the writer and stored_at fields (adding fields is allowed under strict). */
  private async addFields(): Promise<void> {
    try {
      await this.es.client.indices.putMapping({ index: this.options.index, properties: ADDED_FIELDS });
    } catch (err) {
      throw new StoreUnavailableError(`Elasticsearch: the context index mappings could not be updated (${(err as Error)?.name ?? 'error'}${esStatusOf(err) ? ` ${esStatusOf(err)}` : ''})`);
    }
  }
}

/** The context store on the cluster the event store uses (same client, `<prefix>-context`). */
export function elasticsearchContextStoreFor(events: ElasticsearchEventStore, sealer: ContextSealer, lookbackMs?: number): EsContextStore {
  return new EsContextStore(events.client, { index: `${events.layout.prefix}-context`, sealer, lookbackMs });
}
