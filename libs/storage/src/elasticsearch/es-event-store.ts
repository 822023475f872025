/**
 * Elasticsearch adapter of the EventStore port (@elastic/elasticsearch 8.x).
 *
 * Layout (es-schema.ts): one data stream per retention class (category) with its own ILM policy;
 * event documents `_id` = `chain:seq`, written with `op_type=create`; a chain-heads index (one
 * document per chain); an event-ids index (`_id` = event id) for realtime idempotency and by-id
 * reads.
 *
 * Fencing. A bulk request is not atomic, and `_id` uniqueness only holds inside one backing index
 * (a data stream rolls over to a fresh one), so `create` on `chain:seq` alone cannot stop two
 * writers from splicing their records into one chain. The fence is the chain's head document: an
 * append first moves the head from the version this writer last saw to the new last record, with
 * `if_seq_no`/`if_primary_term` (optimistic concurrency; `create` for a new chain). Exactly one
 * writer can move a head from a given version, so exactly one can own each range of sequence
 * numbers; the loser gets a 409, which becomes SequenceConflictError (the chain writer re-reads
 * the heads and chains again). The head carries the records it commits (`pending`), so if the
 * winner dies before its event documents are written, whoever reads the head next writes them,
 * identically (write-ahead). Only then are the event and event-id documents created; a 409 there
 * means they already exist: identical content (a replay) is fine, different content is reported
 * as SequenceConflictError. `chainHeads()` is therefore realtime and fenced, unlike a max(seq)
 * aggregation, which lags the refresh interval and fences nothing.
 *
 * Idempotency. Event ids are `_id`s of the event-ids index, read with mget (realtime, unlike
 * search); the chain writer looks them up before chaining, so a redelivered message is recognized
 * on any instance. An append is atomic per chain (per slice of `maxRecordsPerCommit` records):
 * when one chain of a group loses its fence and another wins, the winner's records are stored and
 * the writer's retry finds them by id.
 *
 * Errors: a 429 (whole request or single bulk items) is retried with exponential back-off; other
 * failures become StoreUnavailableError (the API answers 503, Kafka writers pause and redeliver).
 *
 * Tailing (detection): event documents carry `audit.commit_position`, the `_seq_no` of the head
 * move that committed them (the heads index has one shard: a total order of all commits) times
 * COMMIT_SLOTS plus their index in the commit. readSince/lastPosition never go past the committed
 * watermark (see committedWatermark), so a tail never skips a record that becomes visible later.
 *
 * PHI (`protection`, which the service always passes): as in the embedded store, `patient.id`, the search string `query.text`,
 * `actor.ip` and a Patient resource's id are cut out of the canonical text and sealed with one
 * AES-256-GCM envelope per record (sealed-fields.ts), stored base64 in a binary field (neither
 * indexed nor searchable); the patient field indexes the keyed-HMAC patient token instead, so
 * queries and reports by patient still work; ECS `source.ip`/`client.ip` are not written. The
 * event documents, the event-id documents and the heads' write-ahead copies all hold only the
 * protected form. Reads splice the opened values back, which gives exactly the canonical bytes
 * the chain hash covers, so verification is unchanged. Every instance of a deployment must share
 * the data keys and the tokenization key (DATA_KEYS_DIR, TOKENIZATION_KEY_FILE).
 */
import { Client, errors } from '@elastic/elasticsearch';
import type { estypes } from '@elastic/elasticsearch';
import { ACCESS_LOG_CHAIN, AccessEvent, ES_MAX_RESULT_WINDOW, EventCategory } from '@app/core';
import { ChainHead, ChainRow, GENESIS_HASH } from '@app/ledger';
import {
  ChainedRecord,
  EventPage,
  EventQuery,
  EventStore,
  EventStreamQuery,
  EventTimeRange,
  PositionedEvent,
  SequenceConflictError,
  StoreUnavailableError,
  StoredReceipt,
  StoredRecord,
} from '../event-store.port';
import {
  ALERT_MAPPINGS,
  CHECKPOINT_MAPPINGS,
  CONSOLE_MAPPINGS,
  ISSUED_CERTIFICATE_MAPPINGS,
  RETENTION_RUN_MAPPINGS,
  REVOCATION_MAPPINGS,
  SIGN_IN_FAILURE_MAPPINGS,
  DELIVERY_MAPPINGS,
  DELIVERY_QUEUE_MAPPINGS,
  DETECTION_STATE_MAPPINGS,
  COMMIT_SLOTS,
  EVENT_MAPPINGS,
  EsLayout,
  EsLayoutOptions,
  HEADS_MAPPINGS,
  IDS_MAPPINGS,
  MERKLE_BLOCK_MAPPINGS,
  PURGED_PREFIX_MAPPINGS,
  RULE_OVERRIDE_MAPPINGS,
  PendingRecord,
  ProtectedFields,
  SMALL_INDEX_SETTINGS,
  EsMappings,
  commitPosition,
  eventDocument,
  mappingOf,
  fromPending,
  idsDocument,
  pendingRecord,
  recordId,
  recordPosition,
} from './es-schema';
import { checkComplete } from './es-requests';
import type { FieldProtection } from '../field-protection.port';
import { SealedFieldCodec, SealedRecordError } from '../sqlite/sealed-fields';
import { DerivedColumnMismatchError, PatientTokenCache } from '../derived-columns';

export interface ElasticsearchEventStoreOptions extends EsLayoutOptions {
  /** For start-up messages only (credentials are stripped). */
  url?: string;
  /** Most records of one chain committed under one head move (the head doc carries them). Default 1000. */
  maxRecordsPerCommit?: number;
  /** Attempts for requests or bulk items answered 429. Default 6. */
  maxAttempts?: number;
  /** First back-off after a 429 (doubles each attempt). Default 100 ms. */
  backoffMs?: number;
  /**
   * How long a report's point in time stays open between two pages (renewed at every page): as
   * long as a slow consumer may take to take the next page. Default `10m`.
   */
  pitKeepAlive?: string;
  /** Readiness probe interval. Default 5 s. */
  healthIntervalMs?: number;
  /**
   * Field protection (the service always passes it): `patient.id` and `actor.ip` are sealed with
   * the data keys and the patient field indexes the patient token, as in the embedded store.
   */
  protection?: FieldProtection;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

export type EsLog = (level: 'error' | 'warn' | 'info', msg: string, fields?: Record<string, unknown>) => void;

interface HeadState {
  seq: number;
  hash: Buffer;
  seqNo: number;
  primaryTerm: number;
  /** Records the head committed; written to the event indices once `written` is true. */
  pending: PendingRecord[];
  written: boolean;
}

interface BulkOp {
  action: Record<string, Record<string, unknown>>;
  doc: unknown;
}

interface BulkItem {
  status: number;
  _seq_no?: number;
  _primary_term?: number;
  error?: { type?: string; reason?: string };
}

interface EventSource {
  audit: { chain: string; seq: number; position: number; commit_position?: number; received_at: string; canonical: string; sealed?: string; prev_hash: string; hash: string };
}

interface IdsSource {
  chain: string;
  seq: number;
  hash: string;
  prev_hash: string;
  received_at: string;
  canonical: string;
  sealed?: string;
}

const RECORD_FIELDS = ['audit.chain', 'audit.seq', 'audit.position', 'audit.received_at', 'audit.canonical', 'audit.sealed', 'audit.prev_hash', 'audit.hash'];
const MGET_CHUNK = 1000;
export const DEFAULT_PIT_KEEP_ALIVE = '10m';

export class ElasticsearchEventStore implements EventStore {
  readonly layout: EsLayout;
  private heads = new Map<string, HeadState>();
  /** Chains whose cached head may be wrong (lost fence, unknown outcome): re-read before writing. */
  private readonly stale = new Set<string>();
  private initialized = false;
  private reachable = false;
  private closed = false;
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  private healthTimer?: NodeJS.Timeout;
  /** Event write indices at the last detection poll, and every backing index then (refreshWriteIndices). */
  private lastWriteIndices = new Set<string>();
  private lastAllIndices: Set<string> | null = null;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => Date;
  private readonly codec: SealedFieldCodec | null;
  private readonly tokens: PatientTokenCache | null;
  /** Protected forms of the records being appended (sealed once, written to heads, events and ids). */
  private readonly protectedForms = new WeakMap<ChainedRecord, ProtectedFields>();
  /** Commit positions of records whose head move succeeded (written into their event documents). */
  private readonly commitPositions = new WeakMap<ChainedRecord, number>();
  /** With field protection the patient field holds tokens, so `patientToken` filters work. */
  readonly patientTokenLookups: boolean;

  constructor(
    /** Shared with the checkpoint and alert stores of the same cluster (scale-out wiring). */
    readonly client: Client,
    readonly options: ElasticsearchEventStoreOptions,
    private readonly log: EsLog = () => undefined,
  ) {
    this.layout = new EsLayout(options);
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = options.now ?? (() => new Date());
    this.codec = options.protection ? new SealedFieldCodec(options.protection.dataKeys) : null;
    this.tokens = options.protection ? new PatientTokenCache((id) => options.protection!.patientToken(id)) : null;
    this.patientTokenLookups = this.codec !== null;
  }

  /**
   * Appends do not refuse a stored id themselves (the event-ids index is written after the chain
   * positions, and a 409 there is accepted), so the chain writer looks the ids up first (findReceipts).
   */
  refusesStoredIds(): boolean {
    return false;
  }

  /** Checks the connection and declares ILM policies, templates and indices (idempotent). */
  async init(): Promise<void> {
    try {
      await this.client.info();
    } catch (err) {
      throw new StoreUnavailableError(describeEsError(err, this.options.url));
    }
    try {
      for (const category of this.layout.categories) {
        await this.client.ilm.putLifecycle({ name: this.layout.ilmPolicy(category), policy: this.layout.ilmPolicyBody(category) });
      }
      await this.client.cluster.putComponentTemplate({ name: this.layout.componentTemplate, ...this.layout.componentTemplateBody() });
      for (const category of this.layout.categories) {
        await this.client.indices.putIndexTemplate({ name: this.layout.indexTemplate(category), ...this.layout.indexTemplateBody(category) });
      }
      // Existing data streams keep the mappings they were created with until rollover: add new fields to them now.
      await this.client.indices.putMapping({ index: this.layout.eventsPattern, allow_no_indices: true, ignore_unavailable: true, ...mappingOf(EVENT_MAPPINGS) });
      await this.createIndex(this.layout.headsIndex, HEADS_MAPPINGS);
      await this.createIndex(this.layout.idsIndex, IDS_MAPPINGS);
      await this.createIndex(this.options.checkpointsIndex, CHECKPOINT_MAPPINGS);
      await this.createIndex(this.layout.blocksIndex, MERKLE_BLOCK_MAPPINGS);
      await this.createIndex(this.layout.purgedIndex, PURGED_PREFIX_MAPPINGS);
      await this.createIndex(this.options.alertsIndex, ALERT_MAPPINGS);
      await this.createIndex(this.layout.detectionStateIndex, DETECTION_STATE_MAPPINGS);
      await this.createIndex(this.layout.deliveryQueueIndex, DELIVERY_QUEUE_MAPPINGS);
      await this.createIndex(this.layout.deliveriesIndex, DELIVERY_MAPPINGS);
      await this.createIndex(this.layout.ruleOverridesIndex, RULE_OVERRIDE_MAPPINGS);
      await this.createIndex(this.layout.consoleIndex, CONSOLE_MAPPINGS);
      await this.createIndex(this.layout.signInFailuresIndex, SIGN_IN_FAILURE_MAPPINGS);
      await this.createIndex(this.layout.revocationsIndex, REVOCATION_MAPPINGS);
      await this.createIndex(this.layout.issuedCertificatesIndex, ISSUED_CERTIFICATE_MAPPINGS);
      await this.createIndex(this.layout.retentionRunsIndex, RETENTION_RUN_MAPPINGS);
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw err;
      throw new StoreUnavailableError(describeEsError(err, this.options.url));
    }
    this.initialized = true;
    this.reachable = true;
    if (!this.healthTimer) {
      this.healthTimer = setInterval(() => void this.probe(), this.options.healthIntervalMs ?? 5000);
      this.healthTimer.unref();
    }
  }

  isReady(): boolean {
    return this.initialized && this.reachable && !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    await this.exclusiveTail.catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }

  async chainHeads(): Promise<Map<string, ChainHead>> {
    return this.exclusive(async () => {
      await this.loadHeads();
      await this.finishPendingWrites();
      const out = new Map<string, ChainHead>();
      for (const [chain, h] of this.heads) out.set(chain, { seq: h.seq, hash: h.hash });
      return out;
    });
  }

  async chains(): Promise<string[]> {
    const heads = await this.chainHeads();
    return [...heads.keys()].sort();
  }

  async findReceipts(ids: readonly string[]): Promise<Map<string, StoredReceipt>> {
    if (this.needsRepair()) await this.exclusive(() => this.repair());
    const out = new Map<string, StoredReceipt>();
    for (let i = 0; i < ids.length; i += MGET_CHUNK) {
      for (const [id, src] of await this.mgetIds(ids.slice(i, i + MGET_CHUNK))) {
        out.set(id, { id, chain: src.chain, seq: src.seq, hash: Buffer.from(src.hash, 'hex'), eventJson: this.open(src.canonical, src.sealed) });
      }
    }
    return out;
  }

  /**
   * A stored record by event id (realtime, through `<prefix>-event-ids`). A purged record is not
   * found, as with the embedded store. The retention run (es-retention-runner.ts) records the
   * chain's purged prefix, removes the ids entries and then the backing index; a record old enough
   * to be past its class's window is returned only when it lies after its chain's purged prefix
   * and its event document still exists (a backing index deleted by other means: an older ILM
   * policy with a delete phase, an operator). Younger records are the realtime read alone.
   */
  async getById(id: string): Promise<StoredRecord | null> {
    const src = (await this.mgetIds([id])).get(id);
    if (!src) return null;
    const canonical = this.open(src.canonical, src.sealed);
    const event = JSON.parse(canonical) as AccessEvent;
    if (this.mayBePurged(event, src.received_at) && ((await this.purgedBelow(src.chain, src.seq)) || !(await this.eventDocumentExists(src.chain, src.seq)))) return null;
    return {
      position: recordPosition(src.chain, src.seq),
      chain: src.chain,
      seq: src.seq,
      receivedAt: src.received_at,
      event,
      eventJson: canonical,
      prevHash: Buffer.from(src.prev_hash, 'hex'),
      hash: Buffer.from(src.hash, 'hex'),
    };
  }

  /** Whether retention may have purged a record received at `receivedAt` (the fewest days its class's window can span). */
  private mayBePurged(event: AccessEvent, receivedAt: string): boolean {
    const category = this.layout.categories.includes(event.category as EventCategory) ? (event.category as EventCategory) : null;
    if (!category) return true; // unknown class: always check
    const r = this.layout.retention(category);
    const days = r.minDays ?? Number(r.deleteAfter.replace(/d$/, ''));
    return this.now().getTime() - Date.parse(receivedAt) >= days * 86_400_000;
  }

  /** Whether the record lies in its chain's purged prefix. */
  private async purgedBelow(chain: string, seq: number): Promise<boolean> {
    return seq < ((await this.purgedSizes([chain])).get(chain) ?? 0);
  }

  /** The purged-prefix size of each chain that has one (realtime read of `<prefix>-purged-prefixes`, kept by the retention run). */
  private async purgedSizes(chains: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (chains.length === 0) return out;
    const resp = await this.call(() => this.client.mget<{ size: number }>({ index: this.layout.purgedIndex, ids: chains }));
    for (const d of resp.docs) if ('found' in d && d.found && d._source) out.set(d._id, d._source.size);
    return out;
  }

  /** Whether the event document `chain:seq` is still in an event data stream (a complete search). */
  private async eventDocumentExists(chain: string, seq: number): Promise<boolean> {
    const resp = await this.search<unknown>(
      {
        index: this.layout.eventsPattern,
        ignore_unavailable: true,
        allow_no_indices: true,
        size: 1,
        track_total_hits: false,
        query: { term: { 'audit.record_id': recordId(chain, seq) } },
        _source: false,
      },
      'a stored record',
    );
    return resp.hits.hits.length > 0;
  }

  async append(records: readonly ChainedRecord[]): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('store is closed');
    if (records.length === 0) return;
    // Each chain's records must link one to the next (the head check below covers only the first):
    // a group with a gap or a wrong prevHash is refused whole, before anything is written.
    const broken = brokenLink(records);
    if (broken) throw new SequenceConflictError(broken.chain, broken.seq);
    await this.exclusive(async () => {
      if (this.needsRepair()) await this.repair();
      // A head move carries its records; one over http.max_content_length (413) is committed
      // again in smaller slices (the refused move changed nothing), never resent as it was.
      let max = Math.min(this.options.maxRecordsPerCommit ?? 1000, COMMIT_SLOTS);
      let todo: readonly ChainedRecord[] = records;
      for (;;) {
        try {
          await this.commitSlices(todo, max);
          return;
        } catch (err) {
          if (!(err instanceof ContentTooLargeError) || max <= 1) throw err;
          max = Math.ceil(max / 2);
          todo = todo.filter((r) => !this.commitPositions.has(r)); // what was won is stored
          this.log('warn', 'a head move was over http.max_content_length; committing in smaller slices', { recordsPerCommit: max });
          if (this.needsRepair()) await this.repair();
        }
      }
    });
  }

  /** Commits records in rounds: each round moves every chain's head at most once, by at most `max` records. */
  private async commitSlices(records: readonly ChainedRecord[], max: number): Promise<void> {
    const slices = new Map<string, ChainedRecord[][]>();
    for (const r of records) {
      let list = slices.get(r.chain);
      if (!list) slices.set(r.chain, (list = [[]]));
      if (list[list.length - 1].length >= max) list.push([]);
      list[list.length - 1].push(r);
    }
    const rounds = Math.max(...[...slices.values()].map((l) => l.length));
    for (let i = 0; i < rounds; i++) {
      const round: ChainedRecord[][] = [];
      for (const list of slices.values()) if (list[i]) round.push(list[i]);
      await this.commitRound(round);
    }
  }

  async query(q: EventQuery): Promise<EventPage> {
    const filter: object[] = [];
    const mustNot: object[] = [];
    if (!this.patientFilter(q, filter)) return { records: [], next: null };
    const term = (field: string, value: string | undefined) => value !== undefined && filter.push({ term: { [field]: value } });
    term('audit.actor.id', q.actor);
    // Actions are an open vocabulary: a filter matches them in any case (READ finds read).
    if (q.action !== undefined) filter.push({ term: { 'event.action': { value: q.action, case_insensitive: true } } });
    term('audit.outcome', q.outcome);
    term('audit.category', q.category);
    term('audit.source.integration', q.integration);
    term('audit.chain', q.chain);
    if (q.excludeChain !== undefined) mustNot.push({ term: { 'audit.chain': q.excludeChain } });
    if (q.fromMs !== undefined || q.toMs !== undefined) filter.push(timeRange(q.fromMs, q.toMs));
    const resp = await this.search<EventSource>(
      {
        index: this.layout.eventsPattern,
        ignore_unavailable: true,
        allow_no_indices: true,
        size: q.limit + 1,
        track_total_hits: false,
        query: { bool: { filter, ...(mustNot.length ? { must_not: mustNot } : {}) } },
        sort: [{ '@timestamp': { order: 'desc' } }, { 'audit.position': { order: 'desc' } }],
        ...(q.after ? { search_after: [q.after.occurredMs, q.after.position] } : {}),
        _source: RECORD_FIELDS,
      },
      'an event query',
    );
    const hits = resp.hits.hits;
    const page = hits.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      records: page.map((h) => this.toStoredRecord(h._source!)),
      next: hits.length > q.limit && last?.sort ? { occurredMs: Number(last.sort[0]), position: Number(last.sort[1]) } : null,
    };
  }

  /** Every matching record, oldest first, in pages; a point-in-time keeps the read a snapshot. */
  async *stream(q: EventStreamQuery): AsyncIterable<StoredRecord[]> {
    const filter: object[] = [];
    if (!this.patientFilter(q, filter)) return;
    const term = (field: string, value: string | undefined) => value !== undefined && filter.push({ term: { [field]: value } });
    term('audit.actor.id', q.actor);
    term('audit.category', q.category);
    if (q.actions) filter.push({ terms: { 'event.action': [...q.actions] } });
    if (q.outcomes) filter.push({ terms: { 'audit.outcome': [...q.outcomes] } });
    if (q.breakGlass) filter.push({ bool: { should: [{ term: { 'event.action': 'break_glass' } }, { term: { 'audit.details.breakGlass': 'true' } }], minimum_should_match: 1 } });
    if (q.fromMs !== undefined || q.toMs !== undefined) filter.push(timeRange(q.fromMs, q.toMs));
    // Reports leave out the access log (the service's own reads of the audit data), as query does.
    const mustNot = q.excludeChain !== undefined ? [{ term: { 'audit.chain': q.excludeChain } }] : [];
    await this.refresh(this.layout.eventsPattern);
    // The point in time is kept alive per page for as long as a slow consumer may take between two
    // pages; each response may carry a new id, which replaces the old one (Elasticsearch 8 docs).
    const keepAlive = this.options.pitKeepAlive ?? DEFAULT_PIT_KEEP_ALIVE;
    let pit: string;
    try {
      const opened = await this.call(() => this.client.openPointInTime({ index: this.layout.eventsPattern, keep_alive: keepAlive, ignore_unavailable: true }));
      checkComplete(opened as { _shards?: estypes.ShardStatistics }, 'a report');
      pit = opened.id;
    } catch (err) {
      if (/404/.test((err as Error).message)) return; // no event index yet
      throw err;
    }
    try {
      let after: unknown[] | undefined;
      // A search never returns more than index.max_result_window hits (REPORT_PAGE_SIZE is checked at start).
      const size = Math.min(q.pageSize ?? 1000, ES_MAX_RESULT_WINDOW);
      for (;;) {
        const resp = await this.search<EventSource>(
          {
            pit: { id: pit, keep_alive: keepAlive },
            size,
            track_total_hits: false,
            query: { bool: { filter, ...(mustNot.length ? { must_not: mustNot } : {}) } },
            sort: [{ '@timestamp': { order: 'asc' } }, { 'audit.position': { order: 'asc' } }],
            ...(after ? { search_after: after as estypes.SortResults } : {}),
            _source: RECORD_FIELDS,
          },
          'a report',
        );
        if (resp.pit_id) pit = resp.pit_id;
        const hits = resp.hits.hits;
        if (hits.length > 0) yield hits.map((h) => this.toStoredRecord(h._source!));
        if (hits.length < size) return;
        after = hits[hits.length - 1].sort as unknown[];
      }
    } finally {
      await this.client.closePointInTime({ id: pit }).catch(() => undefined);
    }
  }

  async *readChain(chain: string, fromSeq: number, toSeq?: number, pageSize = 5000): AsyncIterable<ChainRow[]> {
    await this.refresh(this.layout.eventsPattern);
    let after: number | undefined;
    let previous: ChainRow | undefined;
    for (;;) {
      const resp = await this.search<EventSource>(
        {
          index: this.layout.eventsPattern,
          ignore_unavailable: true,
          allow_no_indices: true,
          size: pageSize,
          track_total_hits: false,
          query: { bool: { filter: [{ term: { 'audit.chain': chain } }, { range: { 'audit.seq': { gte: fromSeq, ...(toSeq !== undefined ? { lte: toSeq } : {}) } } }] } },
          sort: [{ 'audit.seq': { order: 'asc' } }],
          ...(after !== undefined ? { search_after: [after] } : {}),
          // The whole document: every field derived from the record is checked against it.
          _source: true,
        },
        'a chain',
      );
      const hits = resp.hits.hits;
      if (hits.length === 0) return;
      const rows: ChainRow[] = [];
      const texts = this.openForVerification(hits.map((h) => h._source!.audit));
      for (let k = 0; k < hits.length; k++) {
        const h = hits[k];
        const a = h._source!.audit;
        const row: ChainRow = { seq: a.seq, receivedAt: a.received_at, eventJson: texts[k], prevHash: Buffer.from(a.prev_hash, 'hex'), hash: Buffer.from(a.hash, 'hex') };
        const field = this.derivedFieldMismatch(chain, row, h._source!);
        if (field !== null) row.columnMismatch = field;
        // The same record written twice across a rollover is one record; anything else is shown as stored.
        if (previous && previous.seq === row.seq && previous.hash.equals(row.hash) && previous.eventJson === row.eventJson) continue;
        rows.push(row);
        previous = row;
      }
      if (rows.length > 0) yield rows;
      if (hits.length < pageSize) return;
      after = hits[hits.length - 1]._source!.audit.seq;
    }
  }

  async countChain(chain: string): Promise<number> {
    await this.refresh(this.layout.eventsPattern);
    const resp = await this.call(() =>
      this.client.count({ index: this.layout.eventsPattern, ignore_unavailable: true, allow_no_indices: true, query: { term: { 'audit.chain': chain } } }),
    );
    checkComplete(resp, 'a chain count');
    return resp.count;
  }

  // ---- tailing (detection) ----

  /**
   * Committed events after a commit position, in commit order (see commitPosition), up to the
   * committed watermark: never past a commit whose records may not all be visible yet, so a
   * tail never skips a record that appears later. The access log is left out.
   */
  async readSince(afterPosition: number, limit: number, range?: EventTimeRange): Promise<PositionedEvent[]> {
    const hits = await this.tail(afterPosition, limit, RECORD_FIELDS, range);
    const texts = this.openForVerification(hits.map((h) => h.audit)); // detection must not stall on one unreadable record
    return hits.map((h, i) => ({ position: h.audit.commit_position!, receivedAt: h.audit.received_at, event: JSON.parse(texts[i]) as AccessEvent }));
  }

  async readIdsSince(afterPosition: number, limit: number): Promise<{ position: number; id: string }[]> {
    const hits = await this.tail(afterPosition, limit, ['audit.commit_position', 'event.id']);
    return hits.map((h) => ({ position: h.audit.commit_position!, id: (h as unknown as { event: { id: string } }).event.id }));
  }

  /** Highest commit position of an event (not the access log) at or below the committed watermark; -1 when none. */
  async lastPosition(): Promise<number> {
    const watermark = await this.committedWatermark();
    if (watermark < 0) return -1;
    const resp = await this.search<EventSource>(
      {
        index: this.layout.eventsPattern,
        ignore_unavailable: true,
        allow_no_indices: true,
        size: 1,
        track_total_hits: false,
        query: { bool: { filter: [{ range: { 'audit.commit_position': { lte: watermark } } }], must_not: [{ term: { 'audit.chain': ACCESS_LOG_CHAIN } }] } },
        sort: [{ 'audit.commit_position': { order: 'desc' } }],
        _source: ['audit.commit_position'],
      },
      'the last commit position',
    );
    return resp.hits.hits[0]?._source?.audit.commit_position ?? -1;
  }

  private async tail(afterPosition: number, limit: number, fields: string[], range?: EventTimeRange): Promise<EventSource[]> {
    const watermark = await this.committedWatermark(afterPosition);
    if (watermark <= afterPosition) return [];
    const filter: object[] = [{ range: { 'audit.commit_position': { gt: afterPosition, lte: watermark } } }];
    if (range && (range.fromMs !== undefined || range.toMs !== undefined)) filter.push(timeRange(range.fromMs, range.toMs));
    const resp = await this.search<EventSource>(
      {
        index: this.layout.eventsPattern,
        ignore_unavailable: true,
        allow_no_indices: true,
        size: limit,
        track_total_hits: false,
        query: { bool: { filter, must_not: [{ term: { 'audit.chain': ACCESS_LOG_CHAIN } }] } },
        sort: [{ 'audit.commit_position': { order: 'asc' } }],
        _source: [...fields, 'audit.commit_position'],
      },
      'committed events',
    );
    return resp.hits.hits.map((h) => h._source!);
  }

  /**
   * The highest commit position below which every commit is fully visible, so a tail that reads up
   * to it never skips a record that becomes visible later.
   *
   * `_seq_no` is not a visibility order: a head move can hold a lower `_seq_no` than another that is
   * already searchable while it is still being applied (issue 17). So the watermark never passes
   * the heads shard's global checkpoint (every operation at or below it has been applied on every
   * copy), read before the heads are refreshed and searched: every move at or below it is then
   * visible. A chain's head moves from a version only after that version's records are written
   * (the mover finishes them first), so only each chain's latest move can be incomplete: the
   * watermark stops just before the first one at or below the checkpoint, after `after`, with any
   * of its records not yet searchable (all of them are checked: the event shards apply a bulk in
   * parallel). Event indices are refreshed only where writes can have landed since the last poll.
   */
  private async committedWatermark(after = -1): Promise<number> {
    const checkpoint = await this.headsCheckpoint();
    if (checkpoint < 0) return -1;
    await this.refresh(this.layout.headsIndex);
    const heads = await this.search<{ chain: string; seq: number; pending?: { records?: { seq: number }[] } }>(
      {
        index: this.layout.headsIndex,
        size: 10_000,
        seq_no_primary_term: true,
        query: { match_all: {} },
        _source: ['chain', 'seq', 'pending.records.seq'],
      },
      'chain heads',
    );
    let watermark = commitPosition(checkpoint, COMMIT_SLOTS - 1);
    const moves = heads.hits.hits
      .map((h) => ({ chain: h._source!.chain, seqs: (h._source!.pending?.records ?? []).map((r) => r.seq), last: h._source!.seq, seqNo: h._seq_no! }))
      .filter((m) => m.seqNo <= checkpoint && commitPosition(m.seqNo, COMMIT_SLOTS - 1) > after);
    if (moves.length === 0) return watermark;
    await this.refreshWriteIndices();
    const ids = moves.flatMap((m) => (m.seqs.length > 0 ? m.seqs : [m.last]).map((seq) => recordId(m.chain, seq)));
    const visible = new Set<string>();
    for (let i = 0; i < ids.length; i += MGET_CHUNK) {
      const chunk = ids.slice(i, i + MGET_CHUNK);
      const found = await this.search<{ audit: { record_id: string } }>(
        {
          index: this.layout.eventsPattern,
          ignore_unavailable: true,
          allow_no_indices: true,
          size: chunk.length * 2,
          track_total_hits: false,
          query: { terms: { 'audit.record_id': chunk } },
          _source: ['audit.record_id'],
        },
        'committed records',
      );
      for (const h of found.hits.hits) visible.add(h._source!.audit.record_id);
    }
    const incomplete = moves.filter((m) => !(m.seqs.length > 0 ? m.seqs : [m.last]).every((seq) => visible.has(recordId(m.chain, seq))));
    // Records the retention run purged (the index of a chain's last commit deleted) never become visible: they count as done.
    const purged = incomplete.length > 0 ? await this.purgedSizes([...new Set(incomplete.map((m) => m.chain))]) : new Map<string, number>();
    for (const m of incomplete) {
      const complete = (m.seqs.length > 0 ? m.seqs : [m.last]).every((seq) => visible.has(recordId(m.chain, seq)) || seq < (purged.get(m.chain) ?? 0));
      if (!complete) watermark = Math.min(watermark, commitPosition(m.seqNo, 0) - 1);
    }
    return watermark;
  }

  /** The global checkpoint of the heads index's one shard (primary copy); -1 before any head move. */
  private async headsCheckpoint(): Promise<number> {
    const index = this.layout.headsIndex;
    const stats = await this.call(() => this.client.indices.stats({ index, level: 'shards', metric: 'docs' }));
    const copies = Object.values(stats.indices?.[index]?.shards ?? {}).flat() as estypes.IndicesStatsShardStats[];
    if (copies.length !== 1 && !copies.some((c) => c.routing?.primary)) {
      throw new StoreUnavailableError(`Elasticsearch: the chain heads index must have one primary shard (found ${copies.length} copies without a primary)`);
    }
    const primary = copies.find((c) => c.routing?.primary) ?? copies[0];
    const g = primary?.seq_no?.global_checkpoint;
    if (typeof g !== 'number') throw new StoreUnavailableError('Elasticsearch: the chain heads index reports no global checkpoint (index stats)');
    return g;
  }

  /**
   * Refreshes only the event indices writes can have reached since the last poll: the data
   * streams' write indices now and at the last poll, and any backing index new since then (not
   * every backing index of every stream, which a real cluster would fan out to every shard).
   */
  private async refreshWriteIndices(): Promise<void> {
    const streams = await this.call(() => this.client.indices.getDataStream({ name: this.layout.eventsPattern, expand_wildcards: 'open' }));
    const all = new Set<string>();
    const writing = new Set<string>();
    for (const ds of streams.data_streams) {
      ds.indices.forEach((i) => all.add(i.index_name));
      const last = ds.indices.at(-1);
      if (last) writing.add(last.index_name);
    }
    const targets = new Set(writing);
    for (const i of this.lastWriteIndices) if (all.has(i)) targets.add(i);
    for (const i of all) {
      if (!this.lastAllIndices || !this.lastAllIndices.has(i)) targets.add(i); // new since the last poll (first poll: all, once)
    }
    this.lastWriteIndices = writing;
    this.lastAllIndices = all;
    if (targets.size > 0) await this.refresh([...targets].sort().join(','));
  }

  // ---- field protection ----

  /** The record's protected form (sealed once per record object), or undefined without protection. */
  private protect(r: ChainedRecord): ProtectedFields | undefined {
    if (!this.codec) return undefined;
    let p = this.protectedForms.get(r);
    if (!p) {
      const { storedJson, sealed } = this.codec.seal(r.event, r.eventJson);
      p = { storedJson, sealed, ...(r.event.patient ? { patientToken: this.options.protection!.patientToken(r.event.patient.id) } : {}) };
      this.protectedForms.set(r, p);
    }
    return p;
  }

  /**
   * The first field of a stored event document that differs from the document its record gives
   * (eventDocument with the stored protected form: the fields queries, reports and holds filter on
   * are copies of the record, not covered by the chain hash), or null when they all match.
   */
  private derivedFieldMismatch(chain: string, row: ChainRow, source: EventSource): string | null {
    let event: AccessEvent;
    try {
      event = JSON.parse(row.eventJson) as AccessEvent;
    } catch {
      return null; // not a record: its hash cannot match either
    }
    const a = source.audit;
    const p: ProtectedFields | undefined = this.codec
      ? { storedJson: a.canonical, sealed: a.sealed === undefined ? null : Buffer.from(a.sealed, 'base64'), ...(event.patient ? { patientToken: this.tokens!.token(event.patient.id) } : {}) }
      : undefined;
    let expected: unknown;
    try {
      expected = JSON.parse(JSON.stringify(eventDocument({ chain, seq: row.seq, receivedAt: row.receivedAt, event, eventJson: row.eventJson, prevHash: row.prevHash, hash: row.hash }, p, a.commit_position)));
    } catch {
      return null; // a record that does not even build a document: its hash check decides
    }
    return firstDifference(expected, source, '');
  }

  /** The canonical JSON (the bytes the chain hash covers) of a stored text and its sealed values. */
  private open(stored: string, sealed?: string): string {
    if (sealed === undefined) return stored;
    if (!this.codec) throw new SealedRecordError('unknown-key');
    return this.codec.open(stored, Buffer.from(sealed, 'base64'));
  }

  /**
   * Canonical texts for verification: a record whose sealed values cannot be opened keeps its
   * emptied text, so the verifier reports it as modified instead of the read failing.
   */
  private openForVerification(rows: { canonical: string; sealed?: string }[]): string[] {
    if (!this.codec) return rows.map((r) => r.canonical);
    const opened = this.codec.openForVerification(rows.map((r) => ({ storedJson: r.canonical, sealed: r.sealed === undefined ? null : Buffer.from(r.sealed, 'base64') })));
    return opened.map((o, i) => (typeof o === 'string' ? o : rows[i].canonical));
  }

  /**
   * A document as returned by getById, query and stream: every field derived from its record (what
   * selected it) is re-checked first; a mismatch throws DerivedColumnMismatchError naming the field.
   */
  private toStoredRecord(src: EventSource): StoredRecord {
    const a = src.audit;
    const canonical = this.open(a.canonical, a.sealed);
    const record: StoredRecord = {
      position: a.position,
      chain: a.chain,
      seq: a.seq,
      receivedAt: a.received_at,
      event: JSON.parse(canonical) as AccessEvent,
      eventJson: canonical,
      prevHash: Buffer.from(a.prev_hash, 'hex'),
      hash: Buffer.from(a.hash, 'hex'),
    };
    const field = this.derivedFieldMismatch(a.chain, record, src);
    if (field !== null) throw new DerivedColumnMismatchError(a.chain, a.seq, field);
    return record;
  }

  /** The patient filter: with protection the index holds tokens, so an id is looked up by its token. */
  private patientFilter(q: { patient?: string; patientToken?: string }, filter: object[]): boolean {
    const protection = this.options.protection;
    if (!protection) {
      if (q.patientToken !== undefined) return false; // no tokens indexed: nothing can match
      if (q.patient !== undefined) filter.push({ term: { 'audit.patient.id': q.patient } });
      return true;
    }
    if (q.patient !== undefined) filter.push({ term: { 'audit.patient.token': protection.patientToken(q.patient) } });
    if (q.patientToken !== undefined) filter.push({ term: { 'audit.patient.token': q.patientToken } });
    return true;
  }

  // ---- writing ----

  /** Moves the head of every chain in the round (the fence), then writes the records it won. */
  private async commitRound(round: ChainedRecord[][]): Promise<void> {
    let conflict: SequenceConflictError | null = null;
    const ops: (BulkOp & { records: ChainedRecord[]; pending: PendingRecord[] })[] = [];
    for (const records of round) {
      const first = records[0];
      const last = records[records.length - 1];
      const head = this.heads.get(first.chain);
      const follows = head ? head.seq + 1 === first.seq && head.hash.equals(first.prevHash) : first.seq === 0 && first.prevHash.equals(GENESIS_HASH);
      if (this.stale.has(first.chain) || !follows) {
        conflict ??= new SequenceConflictError(first.chain, first.seq);
        continue;
      }
      const doc = {
        chain: first.chain,
        seq: last.seq,
        hash: last.hash.toString('hex'),
        updated_at: this.now().toISOString(),
        pending: { records: records.map((r) => pendingRecord(r, this.protect(r))) },
      };
      const action: BulkOp['action'] = head
        ? { index: { _index: this.layout.headsIndex, _id: first.chain, if_seq_no: head.seqNo, if_primary_term: head.primaryTerm } }
        : { create: { _index: this.layout.headsIndex, _id: first.chain } };
      ops.push({ action, doc, records, pending: doc.pending.records });
    }

    let failure: StoreUnavailableError | null = null;
    const won: { chain: string; records: ChainedRecord[] }[] = [];
    if (ops.length > 0) {
      let items: BulkItem[];
      try {
        items = await this.bulk(ops);
      } catch (err) {
        for (const op of ops) this.stale.add(op.records[0].chain); // outcome unknown: re-read before writing again
        throw err;
      }
      items.forEach((item, i) => {
        const { records } = ops[i];
        const chain = records[0].chain;
        if (item.status >= 200 && item.status < 300) {
          const last = records[records.length - 1];
          this.heads.set(chain, { seq: last.seq, hash: last.hash, seqNo: item._seq_no!, primaryTerm: item._primary_term!, pending: ops[i].pending, written: false });
          records.forEach((r, k) => this.commitPositions.set(r, commitPosition(item._seq_no!, k)));
          won.push({ chain, records });
        } else if (item.status === 409) {
          this.stale.add(chain);
          conflict ??= new SequenceConflictError(chain, records[0].seq);
        } else if (item.status === 413) {
          this.stale.add(chain);
          failure ??= new ContentTooLargeError();
        } else {
          this.stale.add(chain);
          failure ??= new StoreUnavailableError(`head update failed: ${item.error?.type ?? item.status}`);
        }
      });
    }
    if (won.length > 0) {
      await this.writeRecords(won.flatMap((w) => w.records), false);
      for (const w of won) this.heads.get(w.chain)!.written = true;
    }
    if (conflict) throw conflict;
    if (failure) throw failure;
  }

  /**
   * Creates the event and event-id documents of committed records. With `checkExisting` (finishing
   * another writer's commit), records already present are skipped, so a rollover in between cannot
   * produce a second copy.
   */
  private async writeRecords(records: ChainedRecord[], checkExisting: boolean): Promise<void> {
    let toWrite = records;
    if (checkExisting) {
      const existing = await this.existingHashes(records);
      for (const r of records) {
        const h = existing.get(recordId(r.chain, r.seq));
        if (h !== undefined && h !== r.hash.toString('hex')) this.log('error', 'stored record differs from its chain head; verification will name it', { chain: r.chain, seq: r.seq });
      }
      toWrite = records.filter((r) => !existing.has(recordId(r.chain, r.seq)));
    }
    if (toWrite.length > 0) {
      const items = await this.bulk(
        toWrite.map((r) => ({ action: { create: { _index: this.layout.dataStream(r.event.category), _id: recordId(r.chain, r.seq) } }, doc: eventDocument(r, this.protect(r), this.commitPositions.get(r)) })),
      );
      const taken: ChainedRecord[] = [];
      items.forEach((item, i) => {
        if (item.status === 409) taken.push(toWrite[i]);
        else if (item.status < 200 || item.status >= 300) throw new StoreUnavailableError(`event write failed: ${item.error?.type ?? item.status}`);
      });
      if (taken.length > 0) {
        // Someone wrote these positions already: fine when it is the same record, a fork attempt otherwise.
        const existing = await this.existingHashes(taken);
        for (const r of taken) {
          if (existing.get(recordId(r.chain, r.seq)) !== r.hash.toString('hex')) {
            this.stale.add(r.chain);
            throw new SequenceConflictError(r.chain, r.seq);
          }
        }
      }
    }
    const idItems = await this.bulk(records.map((r) => ({ action: { create: { _index: this.layout.idsIndex, _id: r.event.id } }, doc: idsDocument(r, this.protect(r)) })));
    idItems.forEach((item) => {
      // 409: the id is already recorded (a replay, or an id a client reused in another chain).
      if (item.status !== 409 && (item.status < 200 || item.status >= 300)) throw new StoreUnavailableError(`event id write failed: ${item.error?.type ?? item.status}`);
    });
  }

  private needsRepair(): boolean {
    if (this.stale.size > 0) return true;
    for (const h of this.heads.values()) if (!h.written) return true;
    return false;
  }

  /** Re-reads heads that may be wrong and finishes writing every committed record. */
  private async repair(): Promise<void> {
    if (this.stale.size > 0) await this.loadHeads();
    await this.finishPendingWrites();
  }

  private async loadHeads(): Promise<void> {
    await this.refresh(this.layout.headsIndex);
    const resp = await this.search<{ chain: string; seq: number; hash: string; pending?: { records?: PendingRecord[] } }>(
      {
        index: this.layout.headsIndex,
        size: 10_000,
        seq_no_primary_term: true,
        query: { match_all: {} },
        sort: [{ chain: { order: 'asc' } }],
      },
      'chain heads',
    );
    const heads = new Map<string, HeadState>();
    for (const hit of resp.hits.hits) {
      const s = hit._source!;
      heads.set(s.chain, {
        seq: s.seq,
        hash: Buffer.from(s.hash, 'hex'),
        seqNo: hit._seq_no!,
        primaryTerm: hit._primary_term!,
        pending: s.pending?.records ?? [],
        written: false,
      });
    }
    this.heads = heads;
    this.stale.clear();
  }

  private async finishPendingWrites(): Promise<void> {
    const chains = [...this.heads].filter(([, h]) => !h.written);
    // A chain idle since retention deleted the index of its last commit: those records stay purged.
    const purged = chains.some(([, h]) => h.pending.length > 0) ? await this.purgedSizes(chains.map(([chain]) => chain)) : new Map<string, number>();
    const records = chains.flatMap(([chain, h]) =>
      h.pending.flatMap((p, k) => {
        if (p.seq < (purged.get(chain) ?? 0)) return [];
        const r = fromPending(chain, p, (stored, sealed) => this.open(stored, sealed));
        this.commitPositions.set(r, commitPosition(h.seqNo, k));
        return [r];
      }),
    );
    if (records.length > 0) await this.writeRecords(records, true);
    for (const [, h] of chains) h.written = true;
  }

  // ---- requests ----

  /**
   * Bulk with per-item results in op order. A request over `http.max_content_length` (413) is
   * sent again in halves; an op too large on its own is answered 413 in its item.
   */
  private async bulk(ops: BulkOp[]): Promise<BulkItem[]> {
    try {
      return await this.bulkOnce(ops);
    } catch (err) {
      if (!(err instanceof ContentTooLargeError)) throw err;
      if (ops.length === 1) return [{ status: 413, error: { type: 'content_too_long' } }];
      const mid = Math.ceil(ops.length / 2);
      return [...(await this.bulk(ops.slice(0, mid))), ...(await this.bulk(ops.slice(mid)))];
    }
  }

  /** One bulk request: items answered 429 are retried with back-off; results in op order. */
  private async bulkOnce(ops: BulkOp[]): Promise<BulkItem[]> {
    const results: BulkItem[] = new Array(ops.length);
    let todo = ops.map((_, i) => i);
    const attempts = this.options.maxAttempts ?? 6;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.sleep((this.options.backoffMs ?? 100) * 2 ** (attempt - 1));
      let resp;
      try {
        resp = await this.client.bulk({ operations: todo.flatMap((i) => [ops[i].action, ops[i].doc]) });
        this.reachable = true;
      } catch (err) {
        if (statusOf(err) === 429) continue;
        if (statusOf(err) === 413 && attempt === 0) throw new ContentTooLargeError();
        throw this.unavailable(err);
      }
      const retry: number[] = [];
      resp.items.forEach((entry, k) => {
        const item = Object.values(entry)[0] as BulkItem;
        if (item.status === 429) retry.push(todo[k]);
        else results[todo[k]] = item;
      });
      if (retry.length === 0) return results;
      todo = retry;
    }
    throw new StoreUnavailableError('Elasticsearch kept rejecting writes (429 Too Many Requests)');
  }

  private async mgetIds(ids: string[]): Promise<Map<string, IdsSource>> {
    const out = new Map<string, IdsSource>();
    if (ids.length === 0) return out;
    const resp = await this.call(() => this.client.mget<IdsSource>({ index: this.layout.idsIndex, ids }));
    for (const d of resp.docs) {
      if ('found' in d && d.found && d._source) out.set(d._id, d._source);
    }
    return out;
  }

  /** Stored hashes of these records' `chain:seq` ids (after a refresh, so recent writes count). */
  private async existingHashes(records: ChainedRecord[]): Promise<Map<string, string>> {
    await this.refresh(this.layout.eventsPattern);
    const out = new Map<string, string>();
    const all = records.map((r) => recordId(r.chain, r.seq));
    for (let i = 0; i < all.length; i += MGET_CHUNK) {
      const ids = all.slice(i, i + MGET_CHUNK);
      const resp = await this.search<{ audit: { record_id: string; hash: string } }>(
        {
          index: this.layout.eventsPattern,
          ignore_unavailable: true,
          allow_no_indices: true,
          size: ids.length * 2,
          track_total_hits: false,
          query: { terms: { 'audit.record_id': ids } },
          _source: ['audit.record_id', 'audit.hash'],
        },
        'stored records',
      );
      for (const h of resp.hits.hits) out.set(h._source!.audit.record_id, h._source!.audit.hash);
    }
    return out;
  }

  private async refresh(index: string): Promise<void> {
    await this.call(() => this.client.indices.refresh({ index, ignore_unavailable: true, allow_no_indices: true }));
  }

  private async createIndex(index: string, mappings: EsMappings): Promise<void> {
    try {
      await this.client.indices.create({ index, settings: SMALL_INDEX_SETTINGS, mappings: mappingOf(mappings) });
    } catch (err) {
      if (!(err instanceof errors.ResponseError && err.body?.error?.type === 'resource_already_exists_exception')) throw err;
      // Created by an earlier version: add the fields declared since (adding fields is always allowed).
      await this.client.indices.putMapping({ index, ...mappingOf(mappings) });
    }
  }

  /** Runs a read or small request; 429 is retried, anything else becomes StoreUnavailableError. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = this.options.maxAttempts ?? 6;
    for (let attempt = 0; ; attempt++) {
      try {
        const out = await fn();
        this.reachable = true;
        return out;
      } catch (err) {
        if (statusOf(err) === 429 && attempt + 1 < attempts) {
          await this.sleep((this.options.backoffMs ?? 100) * 2 ** attempt);
          continue;
        }
        throw this.unavailable(err);
      }
    }
  }

  private unavailable(err: unknown): Error {
    if (err instanceof StoreUnavailableError || err instanceof SequenceConflictError) return err;
    if (err instanceof errors.ConnectionError || err instanceof errors.TimeoutError || err instanceof errors.NoLivingConnectionsError) this.reachable = false;
    const status = statusOf(err);
    return new StoreUnavailableError(`Elasticsearch request failed: ${(err as Error)?.name ?? 'error'}${status ? ` (${status})` : ''}`);
  }

  private async probe(): Promise<void> {
    if (this.closed) return;
    try {
      this.reachable = await this.client.ping();
    } catch {
      this.reachable = false;
    }
  }

  /**
   * A search that must be complete: partial results are refused (`allow_partial_search_results:
   * false`) and a response with failed shards or a timeout is an error, never a silent gap.
   */
  private async search<T>(req: estypes.SearchRequest, what: string): Promise<estypes.SearchResponse<T>> {
    const resp = await this.call(() => this.client.search<T>({ allow_partial_search_results: false, ...req }));
    checkComplete(resp, what);
    return resp;
  }

  /** Serializes head moves, writes and repairs of this instance (another instance is fenced by the heads). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusiveTail.then(fn, fn);
    this.exclusiveTail = run.catch(() => undefined);
    return run;
  }
}

/** A bulk request over the cluster's `http.max_content_length` (413): nothing of it was applied. */
class ContentTooLargeError extends StoreUnavailableError {
  constructor() {
    super('Elasticsearch refused a request over http.max_content_length (413)');
  }
}

function timeRange(fromMs?: number, toMs?: number): object {
  return { range: { '@timestamp': { ...(fromMs !== undefined ? { gte: fromMs } : {}), ...(toMs !== undefined ? { lt: toMs } : {}), format: 'epoch_millis' } } };
}

function statusOf(err: unknown): number | undefined {
  return err instanceof errors.ResponseError ? err.statusCode : undefined;
}

/** A start-up error that names the setting to check (never the API key). */
export function describeEsError(err: unknown, url?: string): string {
  const where = url ? `ELASTICSEARCH_URL=${redactUrl(url)}` : 'ELASTICSEARCH_URL';
  const status = statusOf(err);
  const reason = `${(err as Error)?.name ?? 'Error'}: ${String((err as Error)?.message ?? err).slice(0, 200)}`;
  if (status === 401) return `Elasticsearch at ${where} refused the credentials (check ELASTICSEARCH_API_KEY): ${reason}`;
  if (status === 403) return `The Elasticsearch API key lacks privileges for ILM, templates or the audit indices (check ELASTICSEARCH_API_KEY): ${reason}`;
  if (/certificate|self.signed|SSL|TLS/i.test(reason)) return `TLS to Elasticsearch at ${where} failed (check ELASTICSEARCH_CA_FILE): ${reason}`;
  if (status) return `Elasticsearch at ${where} answered ${status}: ${reason}`;
  return `Elasticsearch at ${where} is not reachable: ${reason}`;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'the configured URL';
  }
}

/** The dotted path of the first place two JSON values differ (keys in sorted order), or null. */
function firstDifference(expected: unknown, actual: unknown, path: string): string | null {
  if (expected === actual) return null;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (!isObj(expected) || !isObj(actual) || Array.isArray(expected) !== Array.isArray(actual)) return path || '(document)';
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const k of keys) {
    const d = firstDifference(expected[k], actual[k], path ? `${path}.${k}` : k);
    if (d !== null) return d;
  }
  return null;
}

/** The first record that does not follow the group's previous record of its chain (seq + 1, prevHash), or null. */
function brokenLink(records: readonly ChainedRecord[]): ChainedRecord | null {
  const previous = new Map<string, ChainedRecord>();
  for (const r of records) {
    const p = previous.get(r.chain);
    if (p && (r.seq !== p.seq + 1 || !r.prevHash.equals(p.hash))) return r;
    previous.set(r.chain, r);
  }
  return null;
}
