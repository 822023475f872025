/**
 * The Elasticsearch EventStore against the client's official test double (@elastic/elasticsearch-mock,
 * made stateful by EsFake): the exact requests (ILM bodies, templates, mappings, op_type, _id,
 * if_seq_no fencing), bulk error handling (409 from a fenced writer -> SequenceConflictError, 429
 * retried), write-ahead recovery after a writer died mid-commit, queries with search_after, and
 * two chain writers racing on one chain without ever forking it.
 */
import { createHmac, createSecretKey, randomBytes, randomUUID } from 'node:crypto';
import { errors } from '@elastic/elasticsearch';
import { AccessEvent, EventCategory } from '@app/core';
import { ChainHead, ChainVerifier, GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord, SequenceConflictError, StoreUnavailableError } from '../event-store.port';
import type { FieldProtection } from '../field-protection.port';
import { ElasticsearchEventStore, ElasticsearchEventStoreOptions } from './es-event-store';
import { EsFake } from './es-fake';
import {
  ALERT_MAPPINGS,
  CHECKPOINT_MAPPINGS,
  CONSOLE_MAPPINGS,
  DELIVERY_MAPPINGS,
  DELIVERY_QUEUE_MAPPINGS,
  DETECTION_STATE_MAPPINGS,
  EVENT_MAPPINGS,
  HEADS_MAPPINGS,
  IDS_MAPPINGS,
  MERKLE_BLOCK_MAPPINGS,
  PURGED_PREFIX_MAPPINGS,
  ISSUED_CERTIFICATE_MAPPINGS,
  RETENTION_RUN_MAPPINGS,
  REVOCATION_MAPPINGS,
  RULE_OVERRIDE_MAPPINGS,
  SIGN_IN_FAILURE_MAPPINGS,
} from './es-schema';

const OPTIONS: ElasticsearchEventStoreOptions = {
  url: 'https://elastic:secret@es.example:9200',
  indexPrefix: 'audit',
  alertsIndex: 'audit-alerts',
  checkpointsIndex: 'audit-checkpoints',
  rolloverMaxAge: '30d',
  rolloverMaxPrimaryShardSize: '50gb',
  warmAfter: '30d',
  coldAfter: '365d',
  sleep: async () => undefined,
  now: () => new Date('2026-03-02T12:00:00.000Z'),
  healthIntervalMs: 3_600_000,
};

function event(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', role: 'physician', ip: '10.1.2.3' },
    patient: { id: 'MRN-0001' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
}

/** Chains events after the given heads (what the ChainWriter does), returning records and new heads. */
function chain(events: AccessEvent[], heads = new Map<string, ChainHead>(), receivedAt = '2026-03-02T12:00:00.000Z') {
  const records: ChainedRecord[] = [];
  for (const e of events) {
    const json = canonicalize(e);
    const head = heads.get(e.category) ?? { seq: -1, hash: GENESIS_HASH };
    const seq = head.seq + 1;
    const hash = recordHash(head.hash, e.category, seq, receivedAt, json);
    records.push({ chain: e.category, seq, receivedAt, event: e, eventJson: json, prevHash: head.hash, hash });
    heads.set(e.category, { seq, hash });
  }
  return { records, heads };
}

async function verify(store: ElasticsearchEventStore, chainId: string): Promise<{ ok: boolean; verified: number }> {
  const heads = await store.chainHeads();
  const v = new ChainVerifier(chainId, { seq: 0, prevHash: GENESIS_HASH });
  for await (const page of store.readChain(chainId, 0)) for (const row of page) v.push(row);
  const verdict = v.finish(heads.get(chainId) ?? null);
  return { ok: verdict.break === null, verified: verdict.verified };
}

async function started(fake: EsFake, options: Partial<ElasticsearchEventStoreOptions> = {}) {
  const store = new ElasticsearchEventStore(fake.client(), { ...OPTIONS, ...options });
  await store.init();
  return store;
}

describe('ElasticsearchEventStore', () => {
  describe('init', () => {
    it('declares one ILM policy per retention class with hot (rollover, then read-only), warm and cold; deleting is the retention run\'s', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const policies = fake.requests.filter((r) => r.method === 'PUT' && r.path.startsWith('/_ilm/policy/'));
      expect(policies.map((p) => p.path)).toEqual([
        '/_ilm/policy/audit-events-authentication',
        '/_ilm/policy/audit-events-data_access',
        '/_ilm/policy/audit-events-data_modification',
        '/_ilm/policy/audit-events-security',
        '/_ilm/policy/audit-events-system_access',
        '/_ilm/policy/audit-events-administrative',
      ]);
      expect(policies[1].body).toEqual({
        policy: {
          _meta: { managed_by: 'audit-siem', category: 'data_access', retention: '2192d', deleted_by: 'the audit-siem retention run' },
          phases: {
            hot: {
              min_age: '0ms',
              actions: { rollover: { max_age: '30d', max_primary_shard_size: '50gb' }, readonly: {}, set_priority: { priority: 100 } },
            },
            warm: { min_age: '30d', actions: { forcemerge: { max_num_segments: 1 }, set_priority: { priority: 50 } } },
            cold: { min_age: '365d', actions: { set_priority: { priority: 0 } } },
          },
        },
      });
      // No class policy has a delete phase: ILM would delete records without recording the chains' purged prefixes.
      for (const p of policies) expect(Object.keys((p.body as { policy: { phases: object } }).policy.phases)).toEqual(['hot', 'warm', 'cold']);
      const deleteAge = (category: EventCategory) => (policies.find((p) => p.path.endsWith(`-${category}`))!.body as { policy: { _meta: { retention: string } } }).policy._meta.retention;
      expect(['authentication', 'security', 'system_access'].map((c) => deleteAge(c as EventCategory))).toEqual(['2557d', '2557d', '2557d']);
      expect(['data_access', 'data_modification', 'administrative'].map((c) => deleteAge(c as EventCategory))).toEqual(['2192d', '2192d', '2192d']);
      expect(store.isReady()).toBe(true);
    });

    it('declares the shared event mappings and one data-stream template per class bound to its policy', async () => {
      const fake = new EsFake();
      await started(fake);
      const component = fake.requests.find((r) => r.path === '/_component_template/audit-events-mappings')!;
      expect(component.method).toBe('PUT');
      expect(component.body).toEqual({ template: { settings: { 'index.codec': 'best_compression' }, mappings: EVENT_MAPPINGS } });
      const mappings = (component.body as { template: { mappings: typeof EVENT_MAPPINGS } }).template.mappings;
      expect(mappings.dynamic).toBe('strict');
      expect(mappings.properties['@timestamp']).toEqual({ type: 'date' });
      expect(mappings.properties.event.properties).toMatchObject({ action: { type: 'keyword' }, category: { type: 'keyword' }, outcome: { type: 'keyword' } });
      expect(mappings.properties.user.properties).toEqual({ id: { type: 'keyword' }, roles: { type: 'keyword' } });
      expect(mappings.properties.source.properties.ip).toEqual({ type: 'ip' });
      expect(mappings.properties.client.properties.ip).toEqual({ type: 'ip' });
      expect(mappings.properties.audit.properties).toMatchObject({
        chain: { type: 'keyword' },
        seq: { type: 'long' },
        hash: { type: 'keyword' },
        prev_hash: { type: 'keyword' },
        canonical: { type: 'keyword', index: false, doc_values: false },
      });
      const template = fake.requests.find((r) => r.path === '/_index_template/audit-events-security')!;
      expect(template.body).toEqual({
        index_patterns: ['audit-events-security'],
        data_stream: {},
        composed_of: ['audit-events-mappings'],
        priority: 500,
        template: { settings: { 'index.lifecycle.name': 'audit-events-security' } },
        _meta: { managed_by: 'audit-siem', category: 'security' },
      });
      const created = fake.requests.filter((r) => r.method === 'PUT' && /^\/[a-z]/.test(r.path) && !r.path.startsWith('/_') && !r.path.endsWith('/_mapping'));
      expect(created.map((r) => [r.path, r.body])).toEqual([
        ['/audit-chain-heads', { settings: { number_of_shards: 1 }, mappings: HEADS_MAPPINGS }],
        ['/audit-event-ids', { settings: { number_of_shards: 1 }, mappings: IDS_MAPPINGS }],
        ['/audit-checkpoints', { settings: { number_of_shards: 1 }, mappings: CHECKPOINT_MAPPINGS }],
        ['/audit-merkle-blocks', { settings: { number_of_shards: 1 }, mappings: MERKLE_BLOCK_MAPPINGS }],
        ['/audit-purged-prefixes', { settings: { number_of_shards: 1 }, mappings: PURGED_PREFIX_MAPPINGS }],
        ['/audit-alerts', { settings: { number_of_shards: 1 }, mappings: ALERT_MAPPINGS }],
        ['/audit-detection-state', { settings: { number_of_shards: 1 }, mappings: DETECTION_STATE_MAPPINGS }],
        ['/audit-alert-delivery-queue', { settings: { number_of_shards: 1 }, mappings: DELIVERY_QUEUE_MAPPINGS }],
        ['/audit-alert-deliveries', { settings: { number_of_shards: 1 }, mappings: DELIVERY_MAPPINGS }],
        ['/audit-rule-overrides', { settings: { number_of_shards: 1 }, mappings: RULE_OVERRIDE_MAPPINGS }],
        ['/audit-console', { settings: { number_of_shards: 1 }, mappings: CONSOLE_MAPPINGS }],
        ['/audit-console-sign-in-failures', { settings: { number_of_shards: 1 }, mappings: SIGN_IN_FAILURE_MAPPINGS }],
        ['/audit-revocations', { settings: { number_of_shards: 1 }, mappings: REVOCATION_MAPPINGS }],
        ['/audit-issued-certificates', { settings: { number_of_shards: 1 }, mappings: ISSUED_CERTIFICATE_MAPPINGS }],
        ['/audit-retention-runs', { settings: { number_of_shards: 1 }, mappings: RETENTION_RUN_MAPPINGS }],
      ]);
    });

    it('is idempotent: a second start finds the indices, adds fields declared since, and carries on', async () => {
      const fake = new EsFake();
      await started(fake);
      fake.requests.length = 0;
      await expect(started(fake)).resolves.toBeInstanceOf(ElasticsearchEventStore);
      const mappingUpdates = fake.requests.filter((r) => r.path.endsWith('/_mapping'));
      expect(mappingUpdates.map((r) => [r.method, r.path, r.querystring])).toEqual([
        ['PUT', '/audit-events-*/_mapping', { allow_no_indices: 'true', ignore_unavailable: 'true' }],
        ['PUT', '/audit-chain-heads/_mapping', {}],
        ['PUT', '/audit-event-ids/_mapping', {}],
        ['PUT', '/audit-checkpoints/_mapping', {}],
        ['PUT', '/audit-merkle-blocks/_mapping', {}],
        ['PUT', '/audit-purged-prefixes/_mapping', {}],
        ['PUT', '/audit-alerts/_mapping', {}],
        ['PUT', '/audit-detection-state/_mapping', {}],
        ['PUT', '/audit-alert-delivery-queue/_mapping', {}],
        ['PUT', '/audit-alert-deliveries/_mapping', {}],
        ['PUT', '/audit-rule-overrides/_mapping', {}],
        ['PUT', '/audit-console/_mapping', {}],
        ['PUT', '/audit-console-sign-in-failures/_mapping', {}],
        ['PUT', '/audit-revocations/_mapping', {}],
        ['PUT', '/audit-issued-certificates/_mapping', {}],
        ['PUT', '/audit-retention-runs/_mapping', {}],
      ]);
      expect(mappingUpdates[0].body).toEqual(EVENT_MAPPINGS);
      expect(mappingUpdates[2].body).toEqual(IDS_MAPPINGS);
    });

    it('names the setting to check when the cluster is unreachable or refuses the key', async () => {
      const down = new EsFake();
      down.down = true;
      const a = new ElasticsearchEventStore(down.client(), OPTIONS);
      await expect(a.init()).rejects.toThrow(/ELASTICSEARCH_URL=https:\/\/es\.example:9200 is not reachable/);
      await expect(a.init()).rejects.not.toThrow(/secret/);
      expect(a.isReady()).toBe(false);

      const refused = new EsFake();
      refused.infoError = new errors.ResponseError({ body: { error: { type: 'security_exception' }, status: 401 }, statusCode: 401, warnings: null, meta: {} as never } as never);
      await expect(new ElasticsearchEventStore(refused.client(), OPTIONS).init()).rejects.toThrow(/check ELASTICSEARCH_API_KEY/);
    });
  });

  describe('append', () => {
    it('moves the chain head first (create for a new chain), then creates the event and id documents', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      await store.chainHeads();
      const e = event();
      const { records } = chain([e]);
      await store.append(records);

      const [heads, events, ids] = fake.bulks();
      expect(heads).toEqual([
        {
          action: { create: { _index: 'audit-chain-heads', _id: 'data_access' } },
          doc: {
            chain: 'data_access',
            seq: 0,
            hash: records[0].hash.toString('hex'),
            updated_at: '2026-03-02T12:00:00.000Z',
            pending: {
              records: [{ seq: 0, received_at: records[0].receivedAt, canonical: records[0].eventJson, prev_hash: GENESIS_HASH.toString('hex'), hash: records[0].hash.toString('hex') }],
            },
          },
        },
      ]);
      expect(events).toHaveLength(1);
      expect(events[0].action).toEqual({ create: { _index: 'audit-events-data_access', _id: 'data_access:0' } });
      expect(events[0].doc).toEqual({
        '@timestamp': '2026-03-02T10:15:00.000Z',
        ecs: { version: '8.11.0' },
        event: { id: e.id, kind: 'event', category: ['database'], type: ['access'], action: 'read', outcome: 'success', ingested: records[0].receivedAt, dataset: 'audit.access' },
        user: { id: 'dr-alice', roles: ['physician'] },
        source: { ip: '10.1.2.3' },
        client: { ip: '10.1.2.3' },
        audit: {
          chain: 'data_access',
          seq: 0,
          record_id: 'data_access:0',
          position: 2 * 2 ** 44,
          commit_position: 0, // the head move's _seq_no (0) * 1024 + its first record
          hash: records[0].hash.toString('hex'),
          prev_hash: GENESIS_HASH.toString('hex'),
          received_at: records[0].receivedAt,
          canonical: records[0].eventJson,
          category: 'data_access',
          outcome: 'success',
          actor: { id: 'dr-alice', type: 'user', role: 'physician' },
          patient: { id: 'MRN-0001' },
          source: { system: 'ehr-gateway' },
        },
      });
      expect(ids).toEqual([
        {
          action: { create: { _index: 'audit-event-ids', _id: e.id } },
          doc: { chain: 'data_access', seq: 0, hash: records[0].hash.toString('hex'), prev_hash: GENESIS_HASH.toString('hex'), received_at: records[0].receivedAt, canonical: records[0].eventJson },
        },
      ]);
    });

    it('moves an existing head only from the version it last saw (if_seq_no / if_primary_term)', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const first = chain([event()], await store.chainHeads());
      await store.append(first.records);
      const headVersion = (fake.bulks()[0] as unknown as { action: unknown }[]).length;
      expect(headVersion).toBe(1);
      const second = chain([event(), event()], first.heads);
      await store.append(second.records);
      const headMove = fake.bulks()[3][0];
      expect(headMove.action).toEqual({ index: { _index: 'audit-chain-heads', _id: 'data_access', if_seq_no: 0, if_primary_term: 1 } });
      expect(headMove.doc).toMatchObject({ seq: 2, hash: second.records[1].hash.toString('hex') });
      expect(fake.bulks()[4].map((op) => op.action.create._id)).toEqual(['data_access:1', 'data_access:2']);
      await expect(verify(store, 'data_access')).resolves.toEqual({ ok: true, verified: 3 });
    });

    it('refuses at once when the records do not follow the head it knows (stale writer)', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const heads = await store.chainHeads();
      const { records } = chain([event(), event()], heads);
      await expect(store.append(records.slice(1))).rejects.toBeInstanceOf(SequenceConflictError);
      expect(fake.bulks()).toHaveLength(0);
    });

    it('a 409 on an event document with other content (a writer that bypassed the heads) is a SequenceConflictError', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const { records } = chain([event()], await store.chainHeads());
      fake.putEvent('audit-events-data_access', 'data_access:0', { audit: { record_id: 'data_access:0', hash: 'ff'.repeat(32), chain: 'data_access', seq: 0 } });
      await expect(store.append(records)).rejects.toEqual(new SequenceConflictError('data_access', 0));
    });

    it('retries bulk items answered 429 with back-off, sending only those items again', async () => {
      const fake = new EsFake();
      const sleeps: number[] = [];
      const store = await started(fake, { sleep: async (ms) => void sleeps.push(ms) });
      const { records } = chain([event(), event(), event()], await store.chainHeads());
      let rejected = 0;
      fake.itemStatus = (action, index, id) => (index === 'audit-events-data_access' && id === 'data_access:1' && rejected++ < 2 ? 429 : undefined);
      await store.append(records);
      const eventBulks = fake.bulks().filter((b) => b.some((op) => op.action.create?._index === 'audit-events-data_access'));
      expect(eventBulks.map((b) => b.map((op) => op.action.create._id))).toEqual([
        ['data_access:0', 'data_access:1', 'data_access:2'],
        ['data_access:1'],
        ['data_access:1'],
      ]);
      expect(sleeps).toEqual([100, 200]);
      await expect(verify(store, 'data_access')).resolves.toEqual({ ok: true, verified: 3 });
    });

    it('retries a whole bulk answered 429, and gives up with StoreUnavailableError when it persists', async () => {
      const fake = new EsFake();
      const store = await started(fake, { maxAttempts: 3 });
      fake.bulkError = () => new errors.ResponseError({ body: { error: { type: 'es_rejected_execution_exception' }, status: 429 }, statusCode: 429, warnings: null, meta: {} as never } as never);
      const { records } = chain([event()], await store.chainHeads());
      await expect(store.append(records)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(fake.bulks()).toHaveLength(3);
    });

    it('splits a long run of one chain into head moves of at most maxRecordsPerCommit records', async () => {
      const fake = new EsFake();
      const store = await started(fake, { maxRecordsPerCommit: 2 });
      const { records } = chain([event(), event(), event(), event(), event()], await store.chainHeads());
      await store.append(records);
      const headMoves = fake.bulks().filter((b) => b[0].action.create?._index === 'audit-chain-heads' || b[0].action.index?._index === 'audit-chain-heads');
      expect(headMoves.map((b) => b[0].doc.seq)).toEqual([1, 3, 4]);
      await expect(verify(store, 'data_access')).resolves.toEqual({ ok: true, verified: 5 });
    });
  });

  describe('recovery (write-ahead in the head)', () => {
    it('finishes the records of a writer that died after winning the head, without a second copy across a rollover', async () => {
      const fake = new EsFake();
      const dying = await started(fake);
      const e1 = event();
      const e2 = event();
      const { records } = chain([e1, e2], await dying.chainHeads());
      // The head move succeeds, then the cluster vanishes before the event documents are written.
      let bulks = 0;
      fake.bulkError = () => {
        bulks++;
        return bulks === 2 ? new errors.ConnectionError('socket hang up') : undefined;
      };
      await expect(dying.append(records)).rejects.toBeInstanceOf(StoreUnavailableError);
      fake.bulkError = null;
      expect(fake.eventDocs()).toHaveLength(0);

      // A successor (another instance) reads the heads: it writes what the head committed.
      const successor = await started(fake);
      const heads = await successor.chainHeads();
      expect(heads.get('data_access')).toEqual({ seq: 1, hash: records[1].hash });
      expect(fake.eventDocs()).toHaveLength(2);
      const receipts = await successor.findReceipts([e1.id, e2.id]);
      expect([...receipts.values()].map((r) => r.seq)).toEqual([0, 1]);

      // After a rollover, reading the heads again must not write the records a second time.
      fake.rollover();
      await successor.chainHeads();
      expect(fake.eventDocs()).toHaveLength(2);
      await expect(verify(successor, 'data_access')).resolves.toEqual({ ok: true, verified: 2 });
    });

    it('the same writer finishes its own half-written commit before looking ids up again', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const e = event();
      const { records } = chain([e], await store.chainHeads());
      let bulks = 0;
      fake.bulkError = () => (++bulks === 3 ? new errors.ConnectionError('reset') : undefined);
      await expect(store.append(records)).rejects.toBeInstanceOf(StoreUnavailableError);
      fake.bulkError = null;
      const receipts = await store.findReceipts([e.id]);
      expect(receipts.get(e.id)).toMatchObject({ chain: 'data_access', seq: 0, hash: records[0].hash, eventJson: records[0].eventJson });
    });
  });

  describe('reads', () => {
    it('findReceipts and getById read the event-ids index with mget (realtime)', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const e = event();
      const { records } = chain([e], await store.chainHeads());
      await store.append(records);
      fake.requests.length = 0;
      const receipts = await store.findReceipts([e.id, randomUUID()]);
      expect([...receipts.keys()]).toEqual([e.id]);
      expect(fake.requests.map((r) => [r.method, r.path])).toEqual([['POST', '/audit-event-ids/_mget']]);
      const got = await store.getById(e.id);
      expect(got).toMatchObject({ chain: 'data_access', seq: 0, receivedAt: records[0].receivedAt, event: e, hash: records[0].hash, prevHash: GENESIS_HASH });
      expect(await store.getById(randomUUID())).toBeNull();
    });

    it('query filters like the SQLite store, newest first, and pages with search_after', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const events = [0, 1, 2, 3, 4].map((i) => event({ occurredAt: `2026-03-0${i + 1}T00:00:00.000Z`, actor: { id: i % 2 ? 'u-odd' : 'u-even', type: 'user' } }));
      await store.append(chain(events, await store.chainHeads()).records);
      fake.requests.length = 0;
      const page1 = await store.query({ actor: 'u-even', fromMs: Date.parse('2026-03-01T00:00:00Z'), toMs: Date.parse('2026-03-05T00:00:01Z'), limit: 2 });
      expect(fake.requests[0].path).toBe('/audit-events-*/_search');
      expect(fake.requests[0].body).toEqual({
        size: 3,
        track_total_hits: false,
        query: {
          bool: {
            filter: [
              { term: { 'audit.actor.id': 'u-even' } },
              { range: { '@timestamp': { gte: Date.parse('2026-03-01T00:00:00Z'), lt: Date.parse('2026-03-05T00:00:01Z'), format: 'epoch_millis' } } },
            ],
          },
        },
        sort: [{ '@timestamp': { order: 'desc' } }, { 'audit.position': { order: 'desc' } }],
        _source: ['audit.chain', 'audit.seq', 'audit.position', 'audit.received_at', 'audit.canonical', 'audit.sealed', 'audit.prev_hash', 'audit.hash'],
      });
      expect(page1.records.map((r) => r.event.id)).toEqual([events[4].id, events[2].id]);
      expect(page1.next).toEqual({ occurredMs: Date.parse(events[2].occurredAt), position: page1.records[1].position });
      const page2 = await store.query({ actor: 'u-even', limit: 2, after: page1.next! });
      expect((fake.requests.at(-1)!.body as { search_after: unknown }).search_after).toEqual([page1.next!.occurredMs, page1.next!.position]);
      expect(page2.records.map((r) => r.event.id)).toEqual([events[0].id]);
      expect(page2.next).toBeNull();
    });

    it('query matches an action in any case (a case-insensitive term), as the SQLite store does', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const events = [event({ action: 'read' }), event({ action: 'READ', occurredAt: '2026-03-02T00:00:00.000Z' }), event({ action: 'update', occurredAt: '2026-03-03T00:00:00.000Z' })];
      await store.append(chain(events, await store.chainHeads()).records);
      fake.requests.length = 0;
      const page = await store.query({ action: 'Read', limit: 10 });
      expect((fake.requests[0].body as { query: { bool: { filter: unknown[] } } }).query.bool.filter).toEqual([{ term: { 'event.action': { value: 'Read', case_insensitive: true } } }]);
      expect(page.records.map((r) => r.event.id).sort()).toEqual([events[0].id, events[1].id].sort());
    });

    it('query keeps the access log apart (excludeChain) or reads only it (chain)', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const heads = await store.chainHeads();
      const ingested = chain([event()], heads).records;
      const read = event({ action: 'query', source: { system: 'audit-siem' } });
      const log = { chain: 'access_log', seq: 0, receivedAt: '2026-03-02T12:00:00.000Z', event: read, eventJson: canonicalize(read), prevHash: GENESIS_HASH, hash: recordHash(GENESIS_HASH, 'access_log', 0, '2026-03-02T12:00:00.000Z', canonicalize(read)) };
      await store.append([...ingested, log]);
      const events = await store.query({ excludeChain: 'access_log', limit: 10 });
      expect(events.records.map((r) => r.chain)).toEqual(['data_access']);
      expect((fake.requests.at(-1)!.body as { query: unknown }).query).toEqual({ bool: { filter: [], must_not: [{ term: { 'audit.chain': 'access_log' } }] } });
      const accessLog = await store.query({ chain: 'access_log', limit: 10 });
      expect(accessLog.records.map((r) => r.event.id)).toEqual([read.id]);
      expect(await store.query({ patientToken: 'ptk_x', limit: 10 })).toEqual({ records: [], next: null });
    });

    it('stream reads every match oldest first through a point in time, page by page', async () => {
      const fake = new EsFake();
      const store = await started(fake);
      const events = [
        event({ occurredAt: '2026-03-03T00:00:00.000Z', action: 'break_glass' }),
        event({ occurredAt: '2026-03-01T00:00:00.000Z', action: 'read', details: { breakGlass: true } }),
        event({ occurredAt: '2026-03-02T00:00:00.000Z', action: 'read' }),
        event({ occurredAt: '2026-03-04T00:00:00.000Z', action: 'export', outcome: 'denied' }),
      ];
      await store.append(chain(events, await store.chainHeads()).records);
      fake.requests.length = 0;
      const pages: string[][] = [];
      for await (const page of store.stream({ breakGlass: true, pageSize: 1 })) pages.push(page.map((r) => r.event.id));
      expect(pages).toEqual([[events[1].id], [events[0].id]]);
      expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /audit-events-*/_refresh', 'POST /audit-events-*/_pit', 'POST /_search', 'POST /_search', 'POST /_search', 'DELETE /_pit']);
      // Each page uses the id the previous response returned (the fake retires the old one), kept alive 10m.
      expect(fake.requests.slice(2, 5).map((r) => (r.body as { pit: { id: string } }).pit.id)).toEqual(['pit:1:audit-events-*', 'pit:2:audit-events-*', 'pit:3:audit-events-*']);
      expect(fake.requests[5].body).toEqual({ id: 'pit:4:audit-events-*' });
      expect(fake.requests[2].querystring).toMatchObject({ allow_partial_search_results: 'false' });
      expect(fake.requests[2].body).toMatchObject({
        pit: { id: 'pit:1:audit-events-*', keep_alive: '10m' },
        size: 1,
        sort: [{ '@timestamp': { order: 'asc' } }, { 'audit.position': { order: 'asc' } }],
        query: { bool: { filter: [{ bool: { should: [{ term: { 'event.action': 'break_glass' } }, { term: { 'audit.details.breakGlass': 'true' } }], minimum_should_match: 1 } }] } },
      });
      const denied: string[] = [];
      for await (const page of store.stream({ actions: ['read', 'export'], outcomes: ['denied'] })) denied.push(...page.map((r) => r.event.id));
      expect(denied).toEqual([events[3].id]);
    });

  });
});

/** Field protection as the service builds it (data keys + keyed-HMAC patient tokens), with test keys. */
function protection(): FieldProtection {
  const key = createSecretKey(randomBytes(32));
  const tokenKey = randomBytes(32);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return {
    patientToken: (id) => 'ptk_' + [...createHmac('sha256', tokenKey).update(id).digest().subarray(0, 24)].map((b) => alphabet[b & 31]).join(''),
    isPatientToken: (v) => /^ptk_[a-z2-7]{24}$/.test(v),
    dataKeys: { current: () => ({ keyId: 'dk-1', key }), byId: (id) => (id === 'dk-1' ? key : undefined), lists: (id) => id === 'dk-1' },
  };
}

describe('ElasticsearchEventStore tailing (detection)', () => {
  it('tails by commit position up to the committed watermark, leaving the access log out in the query', async () => {
    const fake = new EsFake();
    const a = await started(fake);
    const first = chain([event()], await a.chainHeads());
    await a.append(first.records);
    await a.append(chain([event()], first.heads).records);
    expect(await a.readSince(-1, 2)).toHaveLength(2);
    const body = fake.requests.filter((r) => r.path === '/audit-events-*/_search').at(-1)!.body as Record<string, unknown>;
    expect(body).toMatchObject({
      size: 2,
      query: { bool: { filter: [{ range: { 'audit.commit_position': { gt: -1, lte: expect.any(Number) } } }], must_not: [{ term: { 'audit.chain': 'access_log' } }] } },
      sort: [{ 'audit.commit_position': { order: 'asc' } }],
    });
  });

  it('never reads past a commit whose records are not all written yet (a later commit waits behind it)', async () => {
    const fake = new EsFake();
    const dying = await started(fake);
    const other = await started(fake);
    const reader = await started(fake);
    await other.chainHeads();
    const before = event({ category: 'security', action: 'tls_handshake' });
    await other.append(chain([before], new Map()).records);
    const lastBefore = await reader.lastPosition();

    // The data_access head moves, then the writer dies before writing the event documents ...
    const stuck = event();
    const dyingHeads = await dying.chainHeads();
    let bulks = 0;
    fake.bulkError = () => (++bulks === 2 ? new errors.ConnectionError('socket hang up') : undefined);
    await expect(dying.append(chain([stuck], dyingHeads).records)).rejects.toBeInstanceOf(StoreUnavailableError);
    fake.bulkError = null;
    // ... and another writer commits a later record of another chain.
    const later = event({ category: 'authentication', action: 'login' });
    await other.append(chain([later], new Map()).records);

    expect(await reader.lastPosition()).toBe(lastBefore);
    expect((await reader.readSince(lastBefore, 10)).map((r) => r.event.id)).toEqual([]);

    // Whoever reads the heads next finishes the commit: both appear, in commit order.
    await reader.chainHeads();
    expect((await reader.readSince(lastBefore, 10)).map((r) => r.event.id)).toEqual([stuck.id, later.id]);
  });
});

describe('ElasticsearchEventStore with field protection (PHI)', () => {
  const phi = () =>
    event({
      actor: { id: 'dr-alice', type: 'user', role: 'physician', ip: '10.1.2.3' },
      patient: { id: 'MRN-0001' },
      resource: { type: 'Patient', id: 'MRN-0001' },
    });

  it('writes no patient id or IP in clear anywhere: token in the patient field, sealed values next to the emptied text', async () => {
    const fake = new EsFake();
    const p = protection();
    const store = await started(fake, { protection: p });
    const e = phi();
    const { records } = chain([e, event({ patient: undefined, actor: { id: 'svc', type: 'service' } })], await store.chainHeads());
    await store.append(records);

    const written = JSON.stringify(fake.bulks());
    expect(written).not.toContain('MRN-0001');
    expect(written).not.toContain('10.1.2.3');
    const [, events, ids] = fake.bulks();
    const doc = events[0].doc as { source?: unknown; client?: unknown; audit: Record<string, unknown> };
    expect(doc.source).toBeUndefined();
    expect(doc.client).toBeUndefined();
    expect(doc.audit.patient).toEqual({ token: p.patientToken('MRN-0001') });
    expect(doc.audit.resource).toEqual({ type: 'Patient' });
    expect(doc.audit.canonical).toBe(records[0].eventJson.replace('"ip":"10.1.2.3"', '"ip":""').replaceAll('"id":"MRN-0001"', '"id":""'));
    expect(typeof doc.audit.sealed).toBe('string');
    expect(ids[0].doc).toMatchObject({ canonical: doc.audit.canonical, sealed: expect.any(String) });
    // An event without protected fields is stored as is, with nothing sealed.
    expect((events[1].doc as { audit: Record<string, unknown> }).audit).toMatchObject({ canonical: records[1].eventJson });
    expect((events[1].doc as { audit: Record<string, unknown> }).audit.sealed).toBeUndefined();
    expect(EVENT_MAPPINGS.properties.audit.properties.sealed).toEqual({ type: 'binary' });
    expect(EVENT_MAPPINGS.properties.audit.properties.patient.properties.token).toEqual({ type: 'keyword' });
  });

  it('seals the search string too: no document holds it, the event reads back whole and verifies', async () => {
    const fake = new EsFake();
    const store = await started(fake, { protection: protection() });
    const e = event({ patient: undefined, action: 'query', resource: { type: 'Patient' }, query: { text: 'Patient?name=okonkwo&birthdate=1961-04-12' } });
    const { records } = chain([e], await store.chainHeads());
    await store.append(records);
    const written = JSON.stringify(fake.bulks());
    expect(written).not.toContain('okonkwo');
    expect(written).not.toContain('1961-04-12');
    const [, events] = fake.bulks();
    expect((events[0].doc as { audit: { canonical: string } }).audit.canonical).toContain('"query":{"text":""}');
    expect((await store.getById(e.id))!.event).toEqual(e);
    await expect(verify(store, 'data_access')).resolves.toEqual({ ok: true, verified: 1 });
  });

  it('reads back the exact canonical event (by id, receipts, queries, streams), and the chain verifies', async () => {
    const fake = new EsFake();
    const p = protection();
    const store = await started(fake, { protection: p });
    const e = phi();
    const { records } = chain([e, event({ patient: { id: 'MRN-0002' } })], await store.chainHeads());
    await store.append(records);
    expect(store.patientTokenLookups).toBe(true);

    expect((await store.getById(e.id))!.event).toEqual(e);
    expect((await store.findReceipts([e.id])).get(e.id)!.eventJson).toBe(records[0].eventJson);
    fake.requests.length = 0;
    const byPatient = await store.query({ patient: 'MRN-0001', limit: 10 });
    expect(byPatient.records.map((r) => r.event)).toEqual([e]);
    expect((fake.requests[0].body as { query: unknown }).query).toEqual({ bool: { filter: [{ term: { 'audit.patient.token': p.patientToken('MRN-0001') } }] } });
    expect((await store.query({ patientToken: p.patientToken('MRN-0001'), limit: 10 })).records.map((r) => r.event.id)).toEqual([e.id]);
    const streamed: AccessEvent[] = [];
    for await (const page of store.stream({ patient: 'MRN-0001' })) streamed.push(...page.map((r) => r.event));
    expect(streamed).toEqual([e]);
    await expect(verify(store, 'data_access')).resolves.toEqual({ ok: true, verified: 2 });
  });

  it('a successor finishes a protected write-ahead commit with the same canonical bytes', async () => {
    const fake = new EsFake();
    const p = protection();
    const dying = await started(fake, { protection: p });
    const e = phi();
    const { records } = chain([e], await dying.chainHeads());
    let bulks = 0;
    fake.bulkError = () => (++bulks === 2 ? new errors.ConnectionError('socket hang up') : undefined);
    await expect(dying.append(records)).rejects.toBeInstanceOf(StoreUnavailableError);
    fake.bulkError = null;
    expect(JSON.stringify(fake.bulks())).not.toContain('MRN-0001');

    const successor = await started(fake, { protection: p });
    await successor.chainHeads();
    expect((await successor.getById(e.id))!.eventJson).toBe(records[0].eventJson);
    await expect(verify(successor, 'data_access')).resolves.toEqual({ ok: true, verified: 1 });
  });

  it('a sealed value altered in the index shows as a modified record to the verifier', async () => {
    const fake = new EsFake();
    const store = await started(fake, { protection: protection() });
    await store.append(chain([phi()], await store.chainHeads()).records);
    const audit = fake.eventDocs()[0].audit as { sealed: string };
    const bytes = Buffer.from(audit.sealed, 'base64');
    bytes[bytes.length - 1] ^= 1;
    audit.sealed = bytes.toString('base64');
    await expect(verify(store, 'data_access')).resolves.toEqual({ ok: false, verified: 0 });
  });

  describe('a derived field changed in the index is a modified record naming the field', () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const FIELD_EDITS: [string, (doc: Record<string, any>) => void][] = [
      ['user.id', (d) => (d.user.id = 'dr-nobody')],
      ['audit.actor.id', (d) => (d.audit.actor.id = 'dr-nobody')],
      ['audit.patient.token', (d) => (d.audit.patient.token = 'pt_forged')],
      ['audit.category', (d) => (d.audit.category = 'authentication')],
      ['audit.outcome', (d) => (d.audit.outcome = 'failure')],
      ['event.action', (d) => (d.event.action = 'update')],
      ['event.id', (d) => (d.event.id = 'forged')],
      ['@timestamp', (d) => (d['@timestamp'] = '2020-01-01T00:00:00.000Z')],
      ['audit.source.integration', (d) => (d.audit.source.integration = 'other')],
    ];
    for (const [field, edit] of FIELD_EDITS) {
      it(field, async () => {
        const fake = new EsFake();
        const store = await started(fake, { protection: protection() });
        await store.append(chain([phi(), phi(), phi()], await store.chainHeads()).records);
        await expect(verify(store, 'data_access')).resolves.toEqual({ ok: true, verified: 3 });
        const doc = fake.eventDocs().find((d) => (d.audit as { seq: number }).seq === 1) as Record<string, any>;
        edit(doc);
        const v = new ChainVerifier('data_access', { seq: 0, prevHash: GENESIS_HASH });
        for await (const page of store.readChain('data_access', 0)) for (const row of page) v.push(row);
        expect(v.finish().break).toMatchObject({ chain: 'data_access', seq: 1, kind: 'modified', column: field });
        // Queries and report streams re-check the documents they return: a loud error, not a quiet answer.
        await expect(store.query({ limit: 10 })).rejects.toMatchObject({ name: 'DerivedColumnMismatchError', chain: 'data_access', seq: 1, column: field });
        const stream = async () => {
          for await (const page of store.stream({})) void page;
        };
        await expect(stream()).rejects.toMatchObject({ name: 'DerivedColumnMismatchError', seq: 1, column: field });
      });
    }
  });
});
