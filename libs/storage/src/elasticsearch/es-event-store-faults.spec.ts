/**
 * The Elasticsearch store against what a real cluster does and a naive double hides (issue 17),
 * each modelled by EsFake: documents becoming visible out of `_seq_no` order (a write still in
 * flight), partial shard failures and timeouts, point-in-time id rotation and expiry, and ILM
 * deleting an index during a read. Each case would lose or skip records silently without the fix.
 */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { ChainHead, ChainVerifier, GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord, StoreUnavailableError } from '../event-store.port';
import { ElasticsearchEventStore, ElasticsearchEventStoreOptions } from './es-event-store';
import { EsFake } from './es-fake';
import { EsLegalHoldReconciler } from './es-hold-reconciler';

const OPTIONS: ElasticsearchEventStoreOptions = {
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
    actor: { id: 'dr-alice', type: 'user', role: 'physician' },
    patient: { id: 'MRN-0001' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
}

function chain(events: AccessEvent[], heads: Map<string, ChainHead>): ChainedRecord[] {
  const receivedAt = '2026-03-02T12:00:00.000Z';
  return events.map((e) => {
    const json = canonicalize(e);
    const head = heads.get(e.category) ?? { seq: -1, hash: GENESIS_HASH };
    const seq = head.seq + 1;
    const hash = recordHash(head.hash, e.category, seq, receivedAt, json);
    heads.set(e.category, { seq, hash });
    return { chain: e.category, seq, receivedAt, event: e, eventJson: json, prevHash: head.hash, hash };
  });
}

async function started(fake: EsFake, options: Partial<ElasticsearchEventStoreOptions> = {}) {
  const store = new ElasticsearchEventStore(fake.client(), { ...OPTIONS, ...options });
  await store.init();
  return store;
}

/** What a detection tail does: read from its cursor, move the cursor to the last position read. */
async function poll(store: ElasticsearchEventStore, cursor: { at: number; ids: string[] }) {
  const got = await store.readSince(cursor.at, 100);
  for (const r of got) cursor.ids.push(r.event.id);
  if (got.length > 0) cursor.at = got[got.length - 1].position;
}

describe('Elasticsearch detection tail with out-of-order visibility', () => {
  it('never skips a commit whose head move took a lower _seq_no but became visible after a later one', async () => {
    const fake = new EsFake();
    const slow = await started(fake);
    const fast = await started(fake);
    const reader = await started(fake);
    const cursor = { at: -1, ids: [] as string[] };
    // The slow writer's head move (and its records) are still being applied when the fast
    // writer's later move is already searchable, with its records.
    const first = event();
    fake.delayWrites = () => true;
    await slow.append(chain([first], await slow.chainHeads()));
    fake.delayWrites = null;
    const second = event({ category: 'authentication', action: 'login' });
    await fast.append(chain([second], new Map()));

    await poll(reader, cursor);
    expect(cursor.ids).toEqual([]); // the global checkpoint of the heads shard is below the in-flight move
    fake.applyDelayed();
    await poll(reader, cursor);
    expect(cursor.ids).toEqual([first.id, second.id]);
    expect(fake.requests.some((r) => r.method === 'GET' && r.path === '/audit-chain-heads/_stats/docs' && r.querystring.level === 'shards')).toBe(true);
  });

  it('waits for every record of a commit, not only its last one (a bulk is applied in parallel across shards)', async () => {
    const fake = new EsFake();
    const writer = await started(fake);
    const reader = await started(fake);
    const cursor = { at: -1, ids: [] as string[] };
    const events = [event(), event(), event()];
    fake.delayWrites = (action, index, id) => id === 'data_access:0';
    await writer.append(chain(events, await writer.chainHeads()));
    fake.delayWrites = null;

    await poll(reader, cursor);
    expect(cursor.ids).toEqual([]);
    fake.applyDelayed();
    await poll(reader, cursor);
    expect(cursor.ids).toEqual(events.map((e) => e.id));
  });

  it('refreshes only the event write indices (and indices new since the last poll), not every backing index', async () => {
    const fake = new EsFake();
    const store = await started(fake);
    const heads = await store.chainHeads();
    await store.append(chain([event()], heads));
    fake.rollover();
    await store.append(chain([event()], heads));
    await store.readSince(-1, 10); // first poll: every index once
    await store.append(chain([event()], heads));
    fake.requests.length = 0;
    await store.readSince(-1, 10);
    const refreshed = fake.requests.filter((r) => r.path.endsWith('/_refresh')).map((r) => decodeURIComponent(r.path.split('/')[1]));
    expect(refreshed).toEqual(['audit-chain-heads', '.ds-audit-events-data_access-1']);
  });
});

describe('Elasticsearch reads refuse partial results', () => {
  async function withTwoIndices() {
    const fake = new EsFake();
    const store = await started(fake);
    const heads = await store.chainHeads();
    await store.append(chain([event({ occurredAt: '2026-03-01T00:00:00.000Z' })], heads));
    fake.rollover();
    await store.append(chain([event({ occurredAt: '2026-03-02T00:00:00.000Z' })], heads));
    return { fake, store };
  }

  async function drain(it: AsyncIterable<unknown[]>): Promise<number> {
    let n = 0;
    for await (const page of it) n += page.length;
    return n;
  }

  it('a failed shard makes queries, reports, chain reads, counts and the tail fail loudly instead of answering part', async () => {
    const { fake, store } = await withTwoIndices();
    expect(await drain(store.stream({}))).toBe(2);
    fake.failingIndices.add('.ds-audit-events-data_access-0');
    await expect(store.query({ limit: 10 })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(drain(store.stream({}))).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(drain(store.readChain('data_access', 0))).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.countChain('data_access')).rejects.toThrow(/1 of 2 shards failed/);
    await expect(store.readSince(-1, 10)).rejects.toBeInstanceOf(StoreUnavailableError);
    // Every search asked for a complete answer.
    const searches = fake.requests.filter((r) => r.path.endsWith('/_search'));
    expect(searches.length).toBeGreaterThan(0);
    for (const s of searches) expect(s.querystring.allow_partial_search_results).toBe('false');
  });

  it('a search that timed out is not taken for the whole answer', async () => {
    const { fake, store } = await withTwoIndices();
    fake.timedOut = true;
    await expect(store.query({ limit: 10 })).rejects.toThrow(/timed out/);
  });

  it('verification does not report a false break when a shard fails: the read fails instead', async () => {
    const { fake, store } = await withTwoIndices();
    const heads = await store.chainHeads();
    fake.failingIndices.add('.ds-audit-events-data_access-0');
    const v = new ChainVerifier('data_access', { seq: 0, prevHash: GENESIS_HASH });
    await expect(
      (async () => {
        for await (const page of store.readChain('data_access', 0)) for (const row of page) v.push(row);
      })(),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(heads.get('data_access')!.seq).toBe(1);
  });

  it('a legal hold does not miss an index whose shard failed: the reconciler fails instead', async () => {
    const { fake, store } = await withTwoIndices();
    const reconciler = new EsLegalHoldReconciler(store.client, store.layout, async () => [], { sleep: async () => undefined });
    fake.failingIndices.add('.ds-audit-events-data_access-0');
    await expect(reconciler.indicesHolding({ id: 'h1', patient: null, actor: 'dr-alice', from: null, to: null })).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('Elasticsearch reports through a point in time', () => {
  it('survive a slow consumer: the keep-alive is renewed per page for longer than a pause of minutes', async () => {
    const fake = new EsFake();
    const store = await started(fake);
    const events = [event({ occurredAt: '2026-03-01T00:00:00.000Z' }), event({ occurredAt: '2026-03-02T00:00:00.000Z' }), event({ occurredAt: '2026-03-03T00:00:00.000Z' })];
    await store.append(chain(events, await store.chainHeads()));
    const ids: string[] = [];
    for await (const page of store.stream({ pageSize: 1 })) {
      ids.push(...page.map((r) => r.event.id));
      fake.advance(5 * 60_000); // the HTTP client reads the report slowly
    }
    expect(ids).toEqual(events.map((e) => e.id));
  });

  it('ILM deleting a backing index during the read is an error, not a silent gap', async () => {
    const fake = new EsFake();
    const store = await started(fake);
    const heads = await store.chainHeads();
    await store.append(chain([event({ occurredAt: '2026-03-01T00:00:00.000Z' })], heads));
    fake.rollover();
    await store.append(chain([event({ occurredAt: '2026-03-02T00:00:00.000Z' })], heads));
    const ids: string[] = [];
    await expect(
      (async () => {
        for await (const page of store.stream({ pageSize: 1 })) {
          ids.push(...page.map((r) => r.event.id));
          fake.deleteBackingIndex('.ds-audit-events-data_access-1');
        }
      })(),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(ids).toHaveLength(1);
  });
});

describe('Elasticsearch result window', () => {
  it('a report page never asks for more than index.max_result_window hits (the fake refuses more, as Elasticsearch does)', async () => {
    const fake = new EsFake();
    const store = await started(fake);
    const events = [event(), event()];
    await store.append(chain(events, await store.chainHeads()));
    const ids: string[] = [];
    for await (const page of store.stream({ pageSize: 100_000 })) ids.push(...page.map((r) => r.event.id));
    expect(ids.sort()).toEqual(events.map((e) => e.id).sort());
    const pages = fake.requests.filter((r) => r.path === '/_search').map((r) => (r.body as { size: number }).size);
    expect(pages).toEqual([10_000]);
  });
});

describe('Elasticsearch http.max_content_length', () => {
  it('a head move over the limit (413) is committed in smaller slices, never resent as it was; the chain verifies', async () => {
    const fake = new EsFake();
    const store = await started(fake);
    fake.maxContentLength = 64 * 1024; // a 300-record head move carries about 200 kB
    const events = Array.from({ length: 300 }, (_, i) => event({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }));
    await store.append(chain(events, await store.chainHeads()));

    const heads = await store.chainHeads();
    expect(heads.get('data_access')!.seq).toBe(299);
    const v = new ChainVerifier('data_access', { seq: 0, prevHash: GENESIS_HASH });
    for await (const page of store.readChain('data_access', 0)) for (const row of page) v.push(row);
    const verdict = v.finish(heads.get('data_access')!);
    expect(verdict.break).toBeNull();
    expect(verdict.verified).toBe(300);
    expect((await store.findReceipts(events.map((e) => e.id))).size).toBe(300);
    // Refused requests were halved, not resent as they were: a few refusals, then everything fits.
    const bulks = fake.requests.filter((r) => r.path === '/_bulk').map((r) => (r.body as unknown[]).reduce<number>((n, l) => n + Buffer.byteLength(JSON.stringify(l)) + 1, 0));
    const refused = bulks.filter((b) => b > fake.maxContentLength);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(10);
    // The store is not stuck: the next append goes through at once.
    const next = event();
    await store.append(chain([next], heads));
    expect(await store.getById(next.id)).not.toBeNull();
  });
});

describe('Elasticsearch retention of event ids', () => {
  it('GET by id no longer returns a record whose backing index ILM deleted; recent records are read realtime as before', async () => {
    const fake = new EsFake();
    let now = new Date('2026-03-02T12:00:00.000Z');
    const store = await started(fake, { now: () => now });
    const heads = await store.chainHeads();
    const old = event();
    await store.append(chain([old], heads));
    fake.rollover();
    const kept = event();
    await store.append(chain([kept], heads));

    // Young records: the realtime by-id read alone (no search), so a record is found at once.
    fake.requests.length = 0;
    expect((await store.getById(old.id))?.event).toEqual(old);
    expect(fake.requests.map((r) => r.path)).toEqual(['/audit-event-ids/_mget']);

    // Seven years on (data_access keeps 2192 days), ILM deletes the oldest backing index.
    now = new Date('2033-03-02T12:00:00.000Z');
    fake.deleteBackingIndex('.ds-audit-events-data_access-0');
    expect(await store.getById(old.id)).toBeNull();
    expect((await store.getById(kept.id))?.event).toEqual(kept);
  });
});
