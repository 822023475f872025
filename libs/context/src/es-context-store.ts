/**
 * Elasticsearch ContextStore (STORE=elasticsearch): every version a document of its own index
 * `<prefix>-context` (strict mappings, one primary shard), so every API instance of a scale-out
 * deployment loads the same context. A request's versions go in one bulk of `create`s with fresh
 * ids; should any item fail, the ones that did land are deleted again before the error is raised
 * (nothing half-applied). The record is sealed whole with the data keys (base64, not indexed).
 *
 * Not exported from the library index: it loads @elastic/elasticsearch; import it lazily.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import { SMALL_INDEX_SETTINGS, StoreUnavailableError } from '@app/storage';
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
  },
} as const;

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
}

export interface EsContextStoreOptions extends EsRequestOptions {
  /** `<prefix>-context`. */
  index: string;
  sealer: ContextSealer;
}

export class EsContextStore implements ContextStore {
  private readonly es: EsRequests;
  private ready: Promise<void> | null = null;

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
    const docs: ContextDocument[] = versions.map((v, ord) => ({
      id: randomUUID(),
      batch,
      ord,
      kind: v.kind,
      valid_from: v.validFromMs,
      received_at: v.receivedAtMs,
      record: this.options.sealer.seal(JSON.stringify(v.record)).toString('base64'),
    }));
    const items = await this.es.bulk(docs.map((d) => ({ action: { create: { _index: this.options.index, _id: d.id } }, doc: d })));
    const failed = items.filter((it) => it.status >= 300);
    if (failed.length > 0) {
      const landed = docs.filter((_, i) => items[i]!.status < 300);
      if (landed.length > 0) {
        await this.es.client.bulk({ refresh: 'wait_for', operations: landed.map((d) => ({ delete: { _index: this.options.index, _id: d.id } })) as never[] }).catch(() => undefined);
      }
      throw new StoreUnavailableError(`Elasticsearch refused ${failed.length} context record(s) (${failed[0]!.status} ${failed[0]!.error?.type ?? 'error'}); none were kept`);
    }
  }

  async scan(onBatch: (versions: ContextVersion[]) => void, batchSize = 10_000): Promise<void> {
    await this.init();
    let after: unknown[] | undefined;
    for (;;) {
      const hits = await this.es.search<ContextDocument>(this.options.index, {
        query: { match_all: {} },
        sort: [{ received_at: { order: 'asc' } }, { batch: { order: 'asc' } }, { ord: { order: 'asc' } }],
        size: batchSize,
        ...(after ? { search_after: after } : {}),
      });
      if (hits.length === 0) return;
      onBatch(
        hits.map((h) => ({
          kind: h.source.kind,
          validFromMs: h.source.valid_from,
          receivedAtMs: h.source.received_at,
          record: JSON.parse(this.options.sealer.open(Buffer.from(h.source.record, 'base64'))),
        })),
      );
      if (hits.length < batchSize) return;
      after = hits.at(-1)!.sort;
    }
  }

  private async createIndex(): Promise<void> {
    try {
      await this.es.client.indices.create({ index: this.options.index, settings: SMALL_INDEX_SETTINGS, mappings: CONTEXT_MAPPINGS as never });
    } catch (err) {
      if (err instanceof errors.ResponseError && err.body?.error?.type === 'resource_already_exists_exception') return;
      throw new StoreUnavailableError(`Elasticsearch: the context index could not be created (${(err as Error)?.name ?? 'error'}${esStatusOf(err) ? ` ${esStatusOf(err)}` : ''})`);
    }
  }
}

/** The context store on the cluster the event store uses (same client, `<prefix>-context`). */
export async function elasticsearchContextStoreFor(events: unknown, sealer: ContextSealer): Promise<EsContextStore> {
  const { ElasticsearchEventStore } = await import('@app/storage/scale-out-adapters');
  if (!(events instanceof ElasticsearchEventStore)) throw new Error('STORE=elasticsearch: the event store is not the Elasticsearch one');
  return new EsContextStore(events.client, { index: `${events.layout.prefix}-context`, sealer });
}
