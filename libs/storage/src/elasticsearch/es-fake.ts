/**
 * Test support: a small stateful Elasticsearch behind the official client test double
 * (@elastic/elasticsearch-mock). It records every request the store sends (method, path, body) so
 * specs can assert them exactly, and it behaves like Elasticsearch where the store's correctness
 * depends on it: `create` refuses an existing `_id` (409) within one backing index, `index` with
 * `if_seq_no`/`if_primary_term` refuses a stale version (409), mget is realtime, data streams roll
 * over to a fresh backing index (`rollover()`), and searches evaluate the term/terms/range/bool
 * queries, sorts and search_after the store uses. `itemStatus` injects per-item answers (429,
 * 409, 500) and `down` makes every request fail like an unreachable cluster.
 *
 * It also models what a real cluster does that a naive double hides (issue 17):
 *   - writes still in flight (`delayWrites`/`applyDelayed`): they hold their `_seq_no` but are not
 *     visible to searches or realtime gets yet, and the shard's global checkpoint (`_stats`) stays
 *     below them, so documents become visible out of `_seq_no` order;
 *   - partial results (`failingIndices`, `timedOut`): shards that fail drop their hits and are
 *     counted in `_shards.failed`; with `allow_partial_search_results=false` the search fails (503);
 *     `failingCountIndices`: a shard that fails only the `_count` requests (a copy lost between a
 *     count and the searches beside it), whose count then leaves its documents out;
 *   - points in time: a snapshot of the documents visible when one opens; each response returns a
 *     new id and the previous one stops working; an id
 *     expires when not used within its `keep_alive` (fake clock, `advance`); an index deleted by
 *     ILM (`deleteBackingIndex`) while a point in time is open is a failed shard of that read;
 *   - limits: `from + size` beyond `index.max_result_window` (10,000) is refused (400), a request
 *     body beyond `http.max_content_length` (`maxContentLength`) is answered 413, and an HTTP line
 *     longer than 4,096 bytes is refused (400).
 *   - deleting a backing index (`DELETE /<index>`, the retention run): refused for a data stream's
 *     write index (400), gone from every later search; `failIndexDelete` makes it fail (503);
 *     searches of one backing index by name, and min/max and histogram aggregations (also inside terms buckets).
 */
import { Client, errors } from '@elastic/elasticsearch';
import Mock from '@elastic/elasticsearch-mock';

export interface RecordedRequest {
  method: string;
  path: string;
  querystring: Record<string, unknown>;
  body: unknown;
}

interface Doc {
  source: Record<string, unknown>;
  seqNo: number;
  primaryTerm: number;
}

type Action = 'create' | 'index';

export class EsFake {
  readonly mock = new Mock();
  readonly requests: RecordedRequest[] = [];
  /** Plain indices (heads, ids, checkpoints, alerts): name -> _id -> doc. */
  readonly indices = new Map<string, Map<string, Doc>>();
  /** Data streams: name -> backing indices (the last one takes writes). */
  readonly streams = new Map<string, Map<string, Doc>[]>();
  /** Per-item override: return a status to answer instead of applying the operation. */
  itemStatus: ((action: Action, index: string, id: string) => number | undefined) | null = null;
  /** Whole-request override for bulk (e.g. 429 or a connection error). */
  bulkError: (() => Error | undefined) | null = null;
  down = false;
  /** 409 answers given so far, by index (e.g. how often a writer lost a chain head). */
  readonly conflicts = new Map<string, number>();
  infoError: Error | null = null;
  /** `index.lifecycle.name` of backing indices set through `PUT <index>/_settings` (else the stream's class policy). */
  readonly lifecycle = new Map<string, string>();
  /** ILM phase `GET <index>/_ilm/explain` reports per backing index (default hot). */
  readonly phases = new Map<string, string>();
  /** Bulk items matching this are in flight: they take a `_seq_no` now and are applied at `applyDelayed()`. */
  delayWrites: ((action: Action, index: string, id: string) => boolean) | null = null;
  private readonly delayed: { target: Map<string, Doc>; id: string; doc: Doc }[] = [];
  /** Backing or plain indices whose shard fails every search (hits dropped, `_shards.failed`). */
  readonly failingIndices = new Set<string>();
  /** Plain indices whose shard fails `_count` requests only (their documents left out, `_shards.failed`). */
  readonly failingCountIndices = new Set<string>();
  /** Searches answer `timed_out: true` (with the hits gathered so far). */
  timedOut = false;
  /** Backing indices ILM deleted (`deleteBackingIndex`) or the service deleted (`DELETE /<index>`). */
  readonly deleted = new Set<string>();
  /** Backing indices deleted through `DELETE /<index>`, in order. */
  readonly indexDeletes: string[] = [];
  /** `DELETE /<index>` answers 503 while this says so (an interrupted retention run). */
  failIndexDelete: ((index: string) => boolean) | null = null;
  /** `http.max_content_length` in bytes (Elasticsearch's default is 100 MB). */
  maxContentLength = 100 * 1024 * 1024;
  /** Open points in time: id -> the indices it covers and when it expires (fake clock). */
  private readonly pits = new Map<string, { indices: string[]; expiresAt: number; docs: ReadonlySet<Doc> }>();
  private pitCounter = 0;
  private clockMs = 0;
  private seqNo = 0;

  constructor(readonly streamPrefix = 'audit-events-') {
    const record = (p: RecordedRequest) => this.requests.push({ method: p.method, path: p.path, querystring: p.querystring, body: p.body });
    const route = (method: string | string[], path: string | string[], fn: (p: RecordedRequest) => unknown) =>
      this.mock.add({ method, path } as never, ((p: RecordedRequest) => {
        record(p);
        if (this.down) return new errors.ConnectionError('connect ECONNREFUSED 127.0.0.1:9200');
        const qs = new URLSearchParams(p.querystring as Record<string, string>).toString();
        if (`${p.method} ${p.path}${qs ? '?' + qs : ''} HTTP/1.1`.length > 4096) return responseError(400, 'too_long_http_line_exception', 'An HTTP line is larger than 4096 bytes.');
        return fn(p);
      }) as never);
    route('GET', '/', () => this.infoError ?? { name: 'fake', cluster_name: 'fake', version: { number: '8.19.0' }, tagline: 'You Know, for Search' });
    route('HEAD', '/', () => '');
    route('PUT', '/_ilm/policy/:name', () => ({ acknowledged: true }));
    route('PUT', '/_component_template/:name', () => ({ acknowledged: true }));
    route('PUT', '/_index_template/:name', () => ({ acknowledged: true }));
    route('PUT', '/:index', (p) => {
      const index = decodeURIComponent(p.path.slice(1));
      if (this.indices.has(index)) {
        return new errors.ResponseError({
          body: { error: { type: 'resource_already_exists_exception', reason: `index [${index}] already exists` }, status: 400 },
          statusCode: 400,
          warnings: null,
          meta: {} as never,
        } as never);
      }
      this.indices.set(index, new Map());
      return { acknowledged: true, index };
    });
    route(['POST', 'PUT'], '/:index/_mapping', () => ({ acknowledged: true }));
    route(['POST', 'PUT'], '/_bulk', (p) => {
      const bytes = (p.body as unknown[]).reduce<number>((n, line) => n + Buffer.byteLength(JSON.stringify(line)) + 1, 0);
      if (bytes > this.maxContentLength) return responseError(413, 'content_too_long', `request body is ${bytes} bytes, over http.max_content_length`);
      return this.bulk(p.body as Record<string, unknown>[]);
    });
    route(['POST', 'GET'], '/:index/_refresh', () => ({ _shards: { total: 1, successful: 1, failed: 0 } }));
    route(['POST', 'GET'], '/:index/_mget', (p) => this.mget(indexOf(p.path), p.body as { ids: string[] }));
    route(['POST', 'GET'], '/:index/_search', (p) => this.search(indexOf(p.path), p.body as SearchBody, p.querystring));
    // Point in time: covers the backing indices that exist when it opens and the documents visible
    // then (a snapshot: what is written later is not seen). Every response carries a new id; the old one is gone.
    route('POST', '/:index/_pit', (p) => {
      const expr = indexOf(p.path);
      const indices = this.indices.has(expr) ? [expr] : this.backingMatching(expr).map((b) => b.index);
      const id = `pit:${++this.pitCounter}:${expr}`;
      const docs = new Set(this.visibleDocs(expr).map((d) => d.doc));
      this.pits.set(id, { indices, expiresAt: this.clockMs + durationMs(String(p.querystring.keep_alive ?? '0s')), docs });
      return { id, _shards: { total: indices.length, successful: indices.length, skipped: 0, failed: 0 } };
    });
    route('DELETE', '/_pit', (p) => {
      const found = this.pits.delete((p.body as { id: string }).id);
      return found ? { succeeded: true, num_freed: 1 } : notFound('search_context_missing_exception', 'No search context found');
    });
    route(['POST', 'GET'], '/_search', (p) => {
      const body = p.body as SearchBody & { pit: { id: string; keep_alive?: string } };
      const pit = this.pits.get(body.pit.id);
      if (!pit || pit.expiresAt < this.clockMs) return notFound('search_context_missing_exception', 'No search context found for id');
      this.pits.delete(body.pit.id);
      const id = `pit:${++this.pitCounter}:${body.pit.id.split(':').slice(2).join(':')}`;
      this.pits.set(id, { indices: pit.indices, expiresAt: this.clockMs + durationMs(body.pit.keep_alive ?? '0s'), docs: pit.docs });
      const resp = this.search(body.pit.id.split(':').slice(2).join(':'), body, p.querystring, pit.indices, false, pit.docs);
      return resp instanceof errors.ResponseError ? resp : { pit_id: id, ...resp };
    });
    // Shard-level stats: the sequence-number checkpoints of a plain index's one shard.
    route('GET', ['/:index/_stats', '/:index/_stats/:metric'], (p) => {
      const index = indexOf(p.path);
      if (!this.indices.has(index)) return notFound('index_not_found_exception', `no such index [${index}]`);
      const g = this.globalCheckpoint();
      return {
        _shards: { total: 1, successful: 1, failed: 0 },
        indices: { [index]: { shards: { '0': [{ routing: { state: 'STARTED', primary: true, node: 'fake' }, seq_no: { max_seq_no: this.seqNo - 1, local_checkpoint: g, global_checkpoint: g } }] } } },
      };
    });
    // Data streams, backing-index settings and ILM explain: what the legal-hold reconciler reads and writes.
    route('GET', '/_data_stream/:name', (p) => ({
      data_streams: this.streamsMatching(indexOf(p.path.slice('/_data_stream'.length))).map(([name, b]) => ({
        name,
        indices: b.map((_, g) => ({ index_name: backingName(name, g) })).filter((i) => !this.deleted.has(i.index_name)),
      })),
    }));
    route('GET', ['/:index/_settings', '/:index/_settings/:name'], (p) =>
      Object.fromEntries(this.backingMatching(indexOf(p.path)).map(({ index, stream }) => [index, { settings: { index: { lifecycle: { name: this.lifecycle.get(index) ?? stream } } } }])),
    );
    route('PUT', '/:index/_settings', (p) => {
      const body = p.body as Record<string, unknown>;
      const name = (body['index.lifecycle.name'] ?? (body.index as { lifecycle?: { name?: string } } | undefined)?.lifecycle?.name) as string | undefined;
      const targets = this.backingMatching(indexOf(p.path));
      if (targets.length === 0) return notFound('index_not_found_exception', `no such index [${indexOf(p.path)}]`);
      if (name !== undefined) for (const { index } of targets) this.lifecycle.set(index, name);
      return { acknowledged: true };
    });
    route('POST', '/:index/_ilm/remove', (p) => {
      const targets = this.backingMatching(indexOf(p.path));
      for (const { index } of targets) {
        this.lifecycle.set(index, ''); // unmanaged until a policy is assigned again
        this.phases.delete(index);
      }
      return { has_failures: false, failed_indexes: [] };
    });
    route('GET', '/:index/_ilm/explain', (p) => this.explain(indexOf(p.path)));
    // Deleting a backing index (the retention run): refused for a stream's write index, as Elasticsearch does.
    route('DELETE', '/:index', (p) => {
      const name = indexOf(p.path);
      const found = this.backingMatching(name).filter(({ index }) => index === name && !this.deleted.has(index));
      if (found.length === 0) return notFound('index_not_found_exception', `no such index [${name}]`);
      if (this.failIndexDelete?.(name)) return responseError(503, 'unavailable_shards_exception', 'primary shard is not active');
      const { stream } = found[0];
      const backing = this.streams.get(stream)!;
      if (name === backingName(stream, backing.length - 1)) {
        return responseError(400, 'illegal_argument_exception', `index [${name}] is the write index for data stream [${stream}] and cannot be deleted`);
      }
      this.deleted.add(name);
      this.indexDeletes.push(name);
      return { acknowledged: true };
    });
    // find-my-way (the mock's router) matches a path parameter of at most 100 characters: longer
    // index lists (up to Elasticsearch's 4 kB line limit) are served here.
    route('GET', '/*', (p) => {
      const m = /^\/([^/]+)\/_ilm\/explain$/.exec(p.path);
      if (/^\/[^/]+\/_refresh$/.test(p.path)) return { _shards: { total: 1, successful: 1, failed: 0 } };
      return m ? this.explain(decodeURIComponent(m[1])) : notFound('mock_not_found', `GET ${p.path}`);
    });
    route(['POST', 'GET'], '/:index/_count', (p) => {
      const index = indexOf(p.path);
      // The search below is synchronous: the count-only failure covers this count and nothing else.
      const failing = this.failingCountIndices.has(index) && !this.failingIndices.has(index);
      if (failing) this.failingIndices.add(index);
      let resp;
      try {
        resp = this.search(index, { ...(p.body as SearchBody), size: 1e9 }, p.querystring, undefined, true);
      } finally {
        if (failing) this.failingIndices.delete(index);
      }
      return resp instanceof errors.ResponseError ? resp : { count: resp.hits.hits.length, _shards: resp._shards };
    });
    // The refresh of every write index (the detection tail's poll) names them all in one path, past
    // the router's 100 characters. Registered last: registered earlier it took paths routes above serve (`<pattern>/_count`).
    route('POST', '/*', (p) => (/^\/[^/]+\/_refresh$/.test(p.path) ? { _shards: { total: 1, successful: 1, failed: 0 } } : notFound('mock_not_found', `POST ${p.path}`)));
  }

  private explain(expr: string) {
    return {
      indices: Object.fromEntries(
        this.backingMatching(expr).map(({ index, stream }) => [index, { index, managed: true, policy: this.lifecycle.get(index) ?? stream, phase: this.phases.get(index) ?? 'hot' }]),
      ),
    };
  }

  /** Applies the in-flight writes (`delayWrites`): they become visible with the `_seq_no` they took. */
  applyDelayed(): void {
    for (const d of this.delayed.splice(0)) d.target.set(d.id, d.doc);
  }

  /** ILM deleted this backing index (e.g. `.ds-audit-events-data_access-0`). */
  deleteBackingIndex(name: string): void {
    this.deleted.add(name);
  }

  /** Moves the fake clock (point-in-time expiry). */
  advance(ms: number): void {
    this.clockMs += ms;
  }

  /** Every operation at or below it has been applied (the lowest in-flight `_seq_no` minus one). */
  globalCheckpoint(): number {
    return this.delayed.length > 0 ? Math.min(...this.delayed.map((d) => d.doc.seqNo)) - 1 : this.seqNo - 1;
  }

  client(): Client {
    return new Client({ node: 'http://localhost:9200', Connection: this.mock.getConnection(), maxRetries: 0 });
  }

  /** Bulk requests sent so far, each as its action/document pairs. */
  bulks(): { action: Record<string, Record<string, unknown>>; doc: Record<string, unknown> }[][] {
    return this.requests
      .filter((r) => r.path === '/_bulk')
      .map((r) => {
        const lines = r.body as Record<string, unknown>[];
        const pairs = [];
        for (let i = 0; i < lines.length; i += 2) pairs.push({ action: lines[i] as Record<string, Record<string, unknown>>, doc: lines[i + 1] as Record<string, unknown> });
        return pairs;
      });
  }

  /** Starts a new backing index for every data stream (what ILM rollover does). */
  rollover(): void {
    for (const backing of this.streams.values()) backing.push(new Map());
  }

  /** Every event document of every data stream (all backing indices). */
  eventDocs(): Record<string, unknown>[] {
    return [...this.streams.values()].flatMap((b) => b.flatMap((m) => [...m.values()].map((d) => d.source)));
  }

  /** Writes a document straight into a data stream, bypassing the store (a rogue writer). */
  putEvent(stream: string, id: string, source: Record<string, unknown>): void {
    this.backing(stream).at(-1)!.set(id, { source, seqNo: this.seqNo++, primaryTerm: 1 });
  }

  /** Data streams whose names match a comma-separated list of names or wildcard patterns. */
  private streamsMatching(expr: string): [string, Map<string, Doc>[]][] {
    const pattern = namePattern(expr);
    return [...this.streams].filter(([name]) => pattern.test(name));
  }

  /** Backing indices named by an expression of data stream patterns and/or backing index names. */
  private backingMatching(expr: string): { index: string; stream: string }[] {
    const pattern = namePattern(expr);
    const out: { index: string; stream: string }[] = [];
    for (const [stream, b] of this.streams) {
      b.forEach((_, g) => {
        const index = backingName(stream, g);
        if (pattern.test(stream) || pattern.test(index)) out.push({ index, stream });
      });
    }
    return out;
  }

  private backing(stream: string): Map<string, Doc>[] {
    let b = this.streams.get(stream);
    if (!b) this.streams.set(stream, (b = [new Map()]));
    return b;
  }

  private bulk(lines: Record<string, unknown>[]) {
    const err = this.bulkError?.();
    if (err) return err;
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const [action, meta] = Object.entries(lines[i])[0] as [Action | 'delete', Record<string, unknown>];
      const index = meta._index as string;
      const id = meta._id as string;
      if (action === 'delete') {
        // A delete has no document line; plain indices only.
        const found = this.indices.get(index)?.delete(id) ?? false;
        items.push({ delete: { _index: index, _id: id, status: found ? 200 : 404, result: found ? 'deleted' : 'not_found' } });
        i -= 1;
        continue;
      }
      const injected = this.itemStatus?.(action, index, id);
      const answer = (status: number, extra: Record<string, unknown> = {}) => items.push({ [action]: { _index: index, _id: id, status, ...extra } });
      if (injected !== undefined) {
        answer(injected, injected >= 300 ? { error: { type: injected === 429 ? 'es_rejected_execution_exception' : injected === 409 ? 'version_conflict_engine_exception' : 'internal_error' } } : {});
        continue;
      }
      const doc = lines[i + 1] as Record<string, unknown>;
      const isStream = index.startsWith(this.streamPrefix);
      const target = isStream ? this.backing(index).at(-1)! : this.indices.get(index) ?? this.indices.set(index, new Map()).get(index)!;
      const existing = target.get(id);
      const conflict = () => this.conflicts.set(index, (this.conflicts.get(index) ?? 0) + 1);
      if (action === 'create' && existing) {
        conflict();
        answer(409, { error: { type: 'version_conflict_engine_exception', reason: 'document already exists' } });
        continue;
      }
      if (action === 'index' && meta.if_seq_no !== undefined && (!existing || existing.seqNo !== meta.if_seq_no || existing.primaryTerm !== meta.if_primary_term)) {
        conflict();
        answer(409, { error: { type: 'version_conflict_engine_exception', reason: 'required seqNo differs' } });
        continue;
      }
      const stored: Doc = { source: doc, seqNo: this.seqNo++, primaryTerm: 1 };
      if (this.delayWrites?.(action, index, id)) this.delayed.push({ target, id, doc: stored });
      else target.set(id, stored);
      answer(existing ? 200 : 201, { result: existing ? 'updated' : 'created', _seq_no: stored.seqNo, _primary_term: 1 });
    }
    return { took: 1, errors: items.some((it) => (Object.values(it)[0] as { status: number }).status >= 300), items };
  }

  private mget(index: string, body: { ids: string[] }) {
    const docs = this.indices.get(index) ?? new Map<string, Doc>();
    return {
      docs: body.ids.map((id) => {
        const d = docs.get(id);
        return d ? { _index: index, _id: id, found: true, _seq_no: d.seqNo, _primary_term: d.primaryTerm, _source: d.source } : { _index: index, _id: id, found: false };
      }),
    };
  }

  /** Documents of a plain index, or of the data streams / backing indices a name or pattern matches. */
  private visibleDocs(index: string): { id: string; doc: Doc; index: string }[] {
    if (this.indices.has(index)) return [...this.indices.get(index)!].map(([id, doc]) => ({ id, doc, index }));
    // Data stream names or patterns, or backing index names (the retention run reads one backing index).
    const pattern = namePattern(index);
    return [...this.streams].flatMap(([name, b]) =>
      b.flatMap((m, g) => (pattern.test(name) || pattern.test(backingName(name, g)) ? [...m].map(([id, doc]) => ({ id, doc, index: backingName(name, g) })) : [])),
    );
  }

  private search(index: string, body: SearchBody, qs: Record<string, unknown> = {}, pitIndices?: string[], unbounded = false, pitDocs?: ReadonlySet<Doc>) {
    let docs = this.visibleDocs(index);
    if (pitDocs) docs = docs.filter((d) => pitDocs.has(d.doc));
    if (!unbounded && (body.from ?? 0) + (body.size ?? 10) > 10_000) {
      return responseError(400, 'illegal_argument_exception', 'Result window is too large, from + size must be less than or equal to: [10000]');
    }
    // A deleted index is gone from a new search; only a point in time opened before still names it.
    if (!pitIndices) docs = docs.filter((d) => !this.deleted.has(d.index));
    // Shards that fail: a failing index, or one ILM deleted under an open point in time.
    const shards = pitIndices ?? [...new Set(docs.map((d) => d.index))];
    const failed = shards.filter((i) => this.failingIndices.has(i) || this.deleted.has(i));
    if (failed.length > 0 && qs.allow_partial_search_results === 'false') {
      return responseError(503, 'search_phase_execution_exception', 'Partial shards failure');
    }
    docs = docs.filter((d) => !this.deleted.has(d.index) && !this.failingIndices.has(d.index) && (!pitIndices || pitIndices.includes(d.index)));
    let hits = docs.filter((d) => matches(d.doc.source, body.query));
    const sort = (body.sort ?? []).map((s) => Object.entries(s)[0] as [string, { order: 'asc' | 'desc' }]);
    const key = (src: Record<string, unknown>) => sort.map(([f]) => sortValue(src, f));
    hits.sort((a, b) => compareKeys(key(a.doc.source), key(b.doc.source), sort.map(([, o]) => o.order)));
    if (body.search_after) {
      const after = body.search_after;
      hits = hits.filter((h) => compareKeys(key(h.doc.source), after, sort.map(([, o]) => o.order)) > 0);
    }
    const aggregations = body.aggs ? aggregate(body.aggs, hits) : undefined;
    hits = hits.slice(0, body.size ?? 10);
    return {
      took: 1,
      timed_out: this.timedOut,
      _shards: {
        total: Math.max(shards.length, 1),
        successful: Math.max(shards.length, 1) - failed.length,
        skipped: 0,
        failed: failed.length,
        ...(failed.length ? { failures: failed.map((i) => ({ shard: 0, index: i, reason: { type: this.deleted.has(i) ? 'search_context_missing_exception' : 'node_disconnected_exception' } })) } : {}),
      },
      ...(aggregations ? { aggregations } : {}),
      hits: {
        hits: hits.map((h) => ({
          _index: h.index,
          _id: h.id,
          _source: h.doc.source,
          ...(body.seq_no_primary_term ? { _seq_no: h.doc.seqNo, _primary_term: h.doc.primaryTerm } : {}),
          ...(sort.length ? { sort: key(h.doc.source) } : {}),
        })),
      },
    };
  }
}

interface SearchBody {
  query?: Query;
  aggs?: Record<string, Aggregation>;
  sort?: Record<string, { order: 'asc' | 'desc' }>[];
  search_after?: unknown[];
  size?: number;
  from?: number;
  seq_no_primary_term?: boolean;
}

type Query = Record<string, unknown>;

/** Backing index name of generation g of a data stream (Elasticsearch adds a date; the fake does not). */
function backingName(stream: string, g: number): string {
  return `.ds-${stream}-${g}`;
}

function namePattern(expr: string): RegExp {
  return new RegExp('^(' + expr.split(',').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')).join('|') + ')$');
}

function notFound(type: string, reason: string): errors.ResponseError {
  return responseError(404, type, reason);
}

function responseError(status: number, type: string, reason: string): errors.ResponseError {
  return new errors.ResponseError({ body: { error: { type, reason }, status }, statusCode: status, warnings: null, meta: {} as never } as never);
}

/** An Elasticsearch time unit (`90s`, `10m`, `1h`) in milliseconds. */
function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new Error(`EsFake: unsupported duration ${d}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms']!;
}

/** Aggregations over the matching hits: terms (on `_index` or a source field, with sub-aggregations), min and max (numbers or dates, as epoch ms), histogram (of a number field, non-empty buckets). */
function aggregate(aggs: Record<string, Aggregation>, hits: { doc: Doc; index: string }[]): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(aggs).map(([name, a]) => {
      if (a.min || a.max) {
        const field = (a.min ?? a.max)!.field;
        const values = hits.map((h) => get(h.doc.source, field)).filter((v) => v !== undefined && v !== null).map((v) => (typeof v === 'number' ? v : Date.parse(String(v))));
        const value = values.length === 0 ? null : a.min ? Math.min(...values) : Math.max(...values);
        return [name, { value }];
      }
      if (a.histogram) {
        // Like Elasticsearch's histogram: key = floor((value - offset) / interval) * interval + offset, ascending (empty buckets left out).
        const { field, interval, offset = 0 } = a.histogram;
        const counts = new Map<number, number>();
        for (const h of hits) {
          const v = get(h.doc.source, field);
          if (typeof v !== 'number') continue;
          const key = Math.floor((v - offset) / interval) * interval + offset;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        return [name, { buckets: [...counts].sort((x, y) => x[0] - y[0]).map(([key, doc_count]) => ({ key, doc_count })) }];
      }
      if (!a.terms) throw new Error(`EsFake: unsupported aggregation ${JSON.stringify(a)}`);
      const groups = new Map<string, { doc: Doc; index: string }[]>();
      for (const h of hits) {
        const key = a.terms.field === '_index' ? h.index : String(get(h.doc.source, a.terms.field));
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(h);
      }
      const buckets = [...groups].sort((x, y) => y[1].length - x[1].length || (x[0] < y[0] ? -1 : 1)).slice(0, a.terms.size ?? 10);
      return [name, { buckets: buckets.map(([key, g]) => ({ key, doc_count: g.length, ...(a.aggs ? aggregate(a.aggs, g) : {}) })) }];
    }),
  );
}

interface Aggregation {
  terms?: { field: string; size?: number };
  min?: { field: string };
  max?: { field: string };
  histogram?: { field: string; interval: number; offset?: number; min_doc_count?: number };
  aggs?: Record<string, Aggregation>;
}

function indexOf(path: string): string {
  return decodeURIComponent(path.split('/')[1]);
}

function get(src: unknown, field: string): unknown {
  if (src && typeof src === 'object' && field in (src as object)) return (src as Record<string, unknown>)[field];
  const dot = field.indexOf('.');
  if (dot < 0 || !src || typeof src !== 'object') return undefined;
  return get((src as Record<string, unknown>)[field.slice(0, dot)], field.slice(dot + 1));
}

function sortValue(src: Record<string, unknown>, field: string): number | string {
  const v = get(src, field);
  if (field === '@timestamp') return Date.parse(String(v));
  return v as number | string;
}

function compareKeys(a: unknown[], b: unknown[], orders: ('asc' | 'desc')[]): number {
  for (let i = 0; i < orders.length; i++) {
    const x = a[i] as number | string;
    const y = b[i] as number | string;
    if (x === y) continue;
    const c = x < y ? -1 : 1;
    return orders[i] === 'asc' ? c : -c;
  }
  return 0;
}

function matches(src: Record<string, unknown>, q: Query | undefined): boolean {
  if (!q || 'match_all' in q) return true;
  if ('bool' in q) {
    const b = q.bool as { filter?: Query[]; must_not?: Query[]; should?: Query[] };
    return (
      (b.filter ?? []).every((f) => matches(src, f)) &&
      !(b.must_not ?? []).some((f) => matches(src, f)) &&
      (!b.should || b.should.some((f) => matches(src, f)))
    );
  }
  if ('term' in q) {
    const [field, spec] = Object.entries(q.term as object)[0];
    const v = get(src, field);
    if (spec !== null && typeof spec === 'object') {
      // { value, case_insensitive }: the long form of a term query.
      const { value: want, case_insensitive: ci } = spec as { value: unknown; case_insensitive?: boolean };
      const same = (x: unknown) => (ci ? String(x).toLowerCase() === String(want).toLowerCase() : String(x) === String(want));
      return Array.isArray(v) ? v.some(same) : v !== undefined && typeof v !== 'object' && same(v);
    }
    const value = spec;
    // Like a keyword or flattened field: the stored value's text must equal the term.
    return Array.isArray(v) ? v.includes(value) : v === value || (v !== undefined && typeof v !== 'object' && String(v) === value);
  }
  if ('terms' in q) {
    const [field, values] = Object.entries(q.terms as object)[0] as [string, unknown[]];
    return values.includes(get(src, field));
  }
  if ('range' in q) {
    const [field, r] = Object.entries(q.range as object)[0] as [string, { gt?: number; gte?: number; lte?: number; lt?: number }];
    const v = sortValue(src, field) as number;
    if (v === undefined || Number.isNaN(v)) return false; // like Elasticsearch: a document without the field never matches a range
    return (r.gt === undefined || v > r.gt) && (r.gte === undefined || v >= r.gte) && (r.lte === undefined || v <= r.lte) && (r.lt === undefined || v < r.lt);
  }
  throw new Error(`EsFake: unsupported query ${JSON.stringify(q)}`);
}
