/**
 * Request helpers the small Elasticsearch stores (checkpoints, alerts) share: a call that retries
 * 429 with exponential back-off and turns every other failure into StoreUnavailableError (the API
 * answers 503), a bulk whose items answered 429 are sent again, and a realtime get by `_id` (mget,
 * with the document's `_seq_no`/`_primary_term` for optimistic concurrency), and the check that a
 * search answered from every shard (checkComplete).
 */
import { Client, errors } from '@elastic/elasticsearch';
import type { estypes } from '@elastic/elasticsearch';
import { StoreUnavailableError } from '../event-store.port';

export interface EsRequestOptions {
  /** Attempts for requests or bulk items answered 429. Default 6. */
  maxAttempts?: number;
  /** First back-off after a 429 (doubles each attempt). Default 100 ms. */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface EsBulkOp {
  action: Record<string, Record<string, unknown>>;
  doc: unknown;
}

export interface EsBulkItem {
  status: number;
  _seq_no?: number;
  _primary_term?: number;
  error?: { type?: string; reason?: string };
}

export interface EsVersioned<T> {
  source: T;
  seqNo: number;
  primaryTerm: number;
}

export class EsRequests {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly client: Client,
    private readonly options: EsRequestOptions = {},
  ) {
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Runs a request; 429 is retried, anything else becomes StoreUnavailableError. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = this.options.maxAttempts ?? 6;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (esStatusOf(err) === 429 && attempt + 1 < attempts) {
          await this.sleep((this.options.backoffMs ?? 100) * 2 ** attempt);
          continue;
        }
        throw unavailable(err);
      }
    }
  }

  /**
   * Bulk with per-item results in op order; items answered 429 are retried with back-off.
   * `refresh: wait_for`: once it resolves, searches (of any instance) see the documents.
   */
  async bulk(ops: EsBulkOp[]): Promise<EsBulkItem[]> {
    const results: EsBulkItem[] = new Array(ops.length);
    let todo = ops.map((_, i) => i);
    const attempts = this.options.maxAttempts ?? 6;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.sleep((this.options.backoffMs ?? 100) * 2 ** (attempt - 1));
      let resp;
      try {
        resp = await this.client.bulk({ refresh: 'wait_for', operations: todo.flatMap((i) => [ops[i].action, ops[i].doc]) });
      } catch (err) {
        if (esStatusOf(err) === 429) continue;
        throw unavailable(err);
      }
      const retry: number[] = [];
      resp.items.forEach((entry, k) => {
        const item = Object.values(entry)[0] as EsBulkItem;
        if (item.status === 429) retry.push(todo[k]);
        else results[todo[k]] = item;
      });
      if (retry.length === 0) return results;
      todo = retry;
    }
    throw new StoreUnavailableError('Elasticsearch kept rejecting writes (429 Too Many Requests)');
  }

  /** Documents by `_id`, realtime (not subject to the refresh interval). */
  async mget<T>(index: string, ids: readonly string[]): Promise<Map<string, EsVersioned<T>>> {
    const out = new Map<string, EsVersioned<T>>();
    if (ids.length === 0) return out;
    const resp = await this.call(() => this.client.mget<T>({ index, ids: [...ids] }));
    for (const d of resp.docs) {
      if ('found' in d && d.found && d._source) out.set(d._id, { source: d._source, seqNo: d._seq_no!, primaryTerm: d._primary_term! });
    }
    return out;
  }

  /** Sources of a complete search (partial results refused, see checkComplete); the caller gives query, sort, size and search_after. */
  async search<T>(index: string, body: Record<string, unknown>): Promise<{ source: T; sort: unknown[] }[]> {
    const resp = await this.call(() => this.client.search<T>({ index, track_total_hits: false, allow_partial_search_results: false, ...body }));
    checkComplete(resp, `a search of ${index}`);
    return resp.hits.hits.map((h) => ({ source: h._source!, sort: (h.sort ?? []) as unknown[] }));
  }
}

/**
 * Throws StoreUnavailableError when a search answered from only some shards or timed out: a
 * report, a chain read or a hold must never take a partial answer for the whole one.
 */
export function checkComplete(resp: { _shards?: estypes.ShardStatistics; timed_out?: boolean }, what: string): void {
  const failed = resp._shards?.failed ?? 0;
  if (failed > 0) {
    const reasons = [...new Set((resp._shards?.failures ?? []).map((f) => f.reason?.type).filter(Boolean))].join(', ');
    throw new StoreUnavailableError(`Elasticsearch answered ${what} from only part of the data: ${failed} of ${resp._shards!.total} shards failed${reasons ? ` (${reasons})` : ''}`);
  }
  if (resp.timed_out) throw new StoreUnavailableError(`Elasticsearch timed out reading ${what} (partial result refused)`);
}

export function esStatusOf(err: unknown): number | undefined {
  return err instanceof errors.ResponseError ? err.statusCode : undefined;
}

function unavailable(err: unknown): Error {
  if (err instanceof StoreUnavailableError) return err;
  const status = esStatusOf(err);
  return new StoreUnavailableError(`Elasticsearch request failed: ${(err as Error)?.name ?? 'error'}${status ? ` (${status})` : ''}`);
}
