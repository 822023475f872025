/**
 * The scale-out pipeline assembled from its real parts, with test doubles only for the servers:
 * ingest -> Kafka bus (FakeKafka) -> chain-writer consumer -> ChainWriter -> Elasticsearch store
 * (EsFake, on the official client mock). Checks what a user relies on: queued receipts become chained
 * ones, offsets are committed only after the store has the records, redelivery and retries never
 * store an event twice, a store outage pauses the writer without losing anything, and two writers
 * that both believe they own a partition never fork a chain.
 */
import { randomUUID } from 'node:crypto';
import { AccessEvent, ProblemError } from '@app/core';
import { canonicalize } from '@app/ledger';
import { BusBatch, StoreUnavailableError, isQueuedReceipt } from '@app/storage';
import { ElasticsearchEventStore, KafkaEventBus, KafkaEventConsumer } from '@app/storage/scale-out-adapters';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { FakeKafka } from '@app/storage/kafka/fake-kafka';
import { BusChainFeeder } from './bus-chain-feeder';
import { ChainWriter } from './chain-writer';
import { IngestService } from './ingest.service';
import { IntegrityService } from './integrity.service';

const KAFKA = { topic: 'audit-events', partitions: 12, replicationFactor: 1, publishTimeoutMs: 2000, brokers: ['kafka:9092'], tls: false, probeIntervalMs: 3_600_000 };
const GROUP = { topic: 'audit-events', groupId: 'audit-chain-writer', sessionTimeoutMs: 30_000, brokers: ['kafka:9092'], tls: false, backoffMs: 10 };

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

const mixed = (n: number) =>
  Array.from({ length: n }, (_, i) => event({ category: (['data_access', 'authentication', 'data_modification'] as const)[i % 3], action: i % 3 === 1 ? 'login' : 'read' }));

async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ES_OPTIONS = {
  indexPrefix: 'audit',
  alertsIndex: 'audit-alerts',
  checkpointsIndex: 'audit-checkpoints',
  rolloverMaxAge: '30d',
  rolloverMaxPrimaryShardSize: '50gb',
  warmAfter: '30d',
  coldAfter: '365d',
  sleep: async () => undefined,
  healthIntervalMs: 3_600_000,
};

async function kafkaPipeline(kafka: FakeKafka) {
  const store = new ElasticsearchEventStore(new EsFake().client(), ES_OPTIONS);
  await store.init();
  const append = store.append.bind(store);
  let failAppends = 0;
  jest.spyOn(store, 'append').mockImplementation(async (records) => {
    if (failAppends > 0) {
      failAppends--;
      throw new StoreUnavailableError('disk unavailable');
    }
    await append(records);
    kafka.calls.push({ api: 'store.append.done', args: [records.length] });
  });
  const writer = new ChainWriter(store, { maxGroupEvents: 1000 });
  await writer.start();
  const bus = new KafkaEventBus(kafka.asKafka(), KAFKA);
  await bus.start();
  const consumer = new KafkaEventConsumer(kafka.asKafka(), GROUP);
  await consumer.start(new BusChainFeeder(writer, 500).handle);
  const ingest = new IngestService(bus, 1000, undefined, store, { chainedWaitMs: 5000 });
  return {
    store,
    writer,
    bus,
    ingest,
    failNextAppends: (n: number) => (failAppends = n),
    stored: async (ids: string[]) => (await store.findReceipts(ids)).size === ids.length,
    async close() {
      await consumer.close();
      await writer.drain();
      await bus.close();
      await store.close();
    },
  };
}

describe('Kafka bus -> chain writer -> store', () => {
  it('answers queued receipts once Kafka holds the events; the writer chains them and commits offsets only after the store has them', async () => {
    const kafka = new FakeKafka();
    const p = await kafkaPipeline(kafka);
    const events = mixed(30);
    const receipts = await p.ingest.ingestBody({ events });
    expect(receipts).toEqual(events.map((e) => ({ id: e.id, status: 'queued' })));
    await eventually(() => p.stored(events.map((e) => e.id)));

    // Every commit comes after a completed store append (and never before the first one).
    const apis = kafka.calls.map((c) => c.api);
    const commits = apis.flatMap((a, i) => (a === 'consumer.commitOffsets' ? [i] : []));
    expect(commits.length).toBeGreaterThan(0);
    for (const i of commits) expect(apis.slice(0, i)).toContain('store.append.done');
    expect(apis.indexOf('consumer.commitOffsets')).toBeGreaterThan(apis.indexOf('store.append.done'));

    // A repeated id now gets its original, chained receipt; other content with it gets 409.
    const again = await p.ingest.ingestBody(events[0]);
    expect(isQueuedReceipt(again[0])).toBe(false);
    expect(again[0]).toMatchObject({ id: events[0].id, chain: 'data_access', seq: 0 });
    await expect(p.ingest.ingestBody({ ...events[0], action: 'export' })).rejects.toMatchObject({ status: 409 });

    const verify = await new IntegrityService(p.store).verify();
    expect(verify).toMatchObject({ ok: true, verified: 30 });
    await p.close();
  });

  it('stores a redelivered or republished event exactly once', async () => {
    const kafka = new FakeKafka();
    const p = await kafkaPipeline(kafka);
    const events = mixed(12);
    const canonical = events.map((e) => ({ event: e, json: canonicalize(e) }));
    await p.bus.publish(canonical);
    await p.bus.publish(canonical); // a client retry after a timeout: the same events twice in the topic
    await eventually(() => p.stored(events.map((e) => e.id)));
    await eventually(() => {
      const committed = kafka.committed.get('audit-chain-writer');
      const total = [...(committed?.values() ?? [])].reduce((a, b) => a + Number(b), 0);
      return total === 24;
    });
    expect(await new IntegrityService(p.store).verify()).toMatchObject({ ok: true, verified: 12 });
    await p.close();
  });

  it('skips a message that is not a valid event instead of blocking its chain', async () => {
    const kafka = new FakeKafka();
    const p = await kafkaPipeline(kafka);
    const producer = kafka.asKafka().producer();
    await producer.send({ topic: 'audit-events', messages: [{ key: 'data_access', value: '{"id":"not-an-event"}' }] });
    const good = event();
    await p.ingest.ingestBody(good);
    await eventually(() => p.stored([good.id]));
    expect(await new IntegrityService(p.store).verify()).toMatchObject({ ok: true, verified: 1 });
    await p.close();
  });

  it('pauses while the store is down and resumes without losing or duplicating anything', async () => {
    const kafka = new FakeKafka();
    const p = await kafkaPipeline(kafka);
    p.failNextAppends(3);
    const events = mixed(9);
    await p.ingest.ingestBody({ events });
    await eventually(() => p.stored(events.map((e) => e.id)));
    expect(kafka.callsTo('consumer.pause').length).toBeGreaterThan(0);
    expect(await new IntegrityService(p.store).verify()).toMatchObject({ ok: true, verified: 9 });
    await p.close();
  });

  it('answers 503 (nothing acknowledged) while Kafka is down', async () => {
    const kafka = new FakeKafka();
    const p = await kafkaPipeline(kafka);
    kafka.failSends = 1;
    const err = await p.ingest.ingestBody(event()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).status).toBe(503);
    expect((err as ProblemError).headers['Retry-After']).toBe('2');
    await p.close();
  });

  it('ingestValidated (FHIR, ATNA) waits for the chained receipts on a queued bus', async () => {
    const kafka = new FakeKafka();
    const p = await kafkaPipeline(kafka);
    const e = event();
    const receipts = await p.ingest.ingestValidated([e]);
    expect(receipts).toEqual([{ id: e.id, chain: 'data_access', seq: 0, hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    await p.close();
  });
});

describe('two chain writers that both believe they own a partition (Elasticsearch store)', () => {
  it('never fork a chain and never store an event twice', async () => {
    const fake = new EsFake();
    const stores = [new ElasticsearchEventStore(fake.client(), ES_OPTIONS), new ElasticsearchEventStore(fake.client(), ES_OPTIONS)];
    for (const s of stores) await s.init();
    const writers = stores.map((s) => new ChainWriter(s, { maxGroupEvents: 50 }));
    for (const w of writers) await w.start();
    const feeders = writers.map((w) => new BusChainFeeder(w, 25));

    // The same partition's messages reach both writers (a rebalance, a paused zombie), interleaved.
    const events = mixed(120);
    const batches: BusBatch[] = [];
    for (let i = 0; i < events.length; i += 20) {
      batches.push({ partition: 0, messages: events.slice(i, i + 20).map((e, k) => ({ offset: String(i + k), value: Buffer.from(JSON.stringify(e)) })) });
    }
    // A batch whose handler fails is redelivered (as the consumer does) until it is stored.
    const deliver = async (feeder: BusChainFeeder, batch: BusBatch) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await feeder.handle(batch);
        } catch (err) {
          if (attempt > 20) throw err;
        }
      }
    };
    await Promise.all(feeders.map((f, w) => (async () => {
      for (const batch of w === 0 ? batches : [...batches].reverse()) await deliver(f, batch);
    })()));

    // The race was real: writers lost the head to each other and re-read it.
    expect(fake.conflicts.get('audit-chain-heads') ?? 0).toBeGreaterThan(0);
    const docs = fake.eventDocs() as { event: { id: string }; audit: { record_id: string } }[];
    const ids = docs.map((d) => d.event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
    expect(new Set(docs.map((d) => d.audit.record_id)).size).toBe(docs.length);
    const verdict = await new IntegrityService(stores[1]).verify();
    expect(verdict).toMatchObject({ ok: true, verified: 120, break: null });
    for (const w of writers) await w.drain();
  });
});

describe('sharded chains over Kafka (CHAIN_SHARDS=8)', () => {
  it('the chain named by the message key is the one written, even by a writer configured with another CHAIN_SHARDS; every shard chain verifies', async () => {
    const kafka = new FakeKafka({ 'audit-events': 48 });
    const store = new ElasticsearchEventStore(new EsFake().client(), ES_OPTIONS);
    await store.init();
    // The writer still runs with one chain per category (a rolling change): the key decides.
    const writer = new ChainWriter(store, { maxGroupEvents: 1000, chainShards: 1 });
    await writer.start();
    const bus = new KafkaEventBus(kafka.asKafka(), { ...KAFKA, partitions: 48, chainShards: 8 });
    await bus.start();
    const consumer = new KafkaEventConsumer(kafka.asKafka(), GROUP);
    await consumer.start(new BusChainFeeder(writer, 500).handle);
    const ingest = new IngestService(bus, 1000, undefined, store, { chainedWaitMs: 5000 });
    try {
      const events = Array.from({ length: 48 }, (_, i) =>
        event({ category: i % 2 === 0 ? 'data_access' : 'authentication', action: i % 2 === 0 ? 'read' : 'login', source: { system: `sys-${i % 16}`, integration: `ehr-${i % 16}` } }),
      );
      await ingest.ingestBody({ events });
      const ids = events.map((e) => e.id);
      await eventually(async () => (await store.findReceipts(ids)).size === ids.length);
      const receipts = await store.findReceipts(ids);
      const keyOf = new Map<string, string>();
      for (const partition of kafka.messages('audit-events')) for (const m of partition) keyOf.set(JSON.parse(m.value!.toString()).id, m.key!);
      for (const e of events) {
        const chain = receipts.get(e.id)!.chain;
        expect(chain).toMatch(new RegExp(`^${e.category}\\.[0-7]$`));
        expect(chain).toBe(keyOf.get(e.id));
      }
      const chains = await store.chains();
      expect(chains.length).toBeGreaterThan(4);
      // Each shard chain is its own sequence from 0, and the whole store verifies.
      for (const c of chains) {
        const mine = events.filter((e) => receipts.get(e.id)!.chain === c).map((e) => receipts.get(e.id)!.seq).sort((a, b) => a - b);
        expect(mine).toEqual(mine.map((_, i) => i));
      }
      const verify = await new IntegrityService(store).verify();
      expect(verify).toMatchObject({ ok: true, verified: 48 });
      expect(verify.chains.map((c) => c.chain)).toEqual(chains);
      const dataAccess = await new IntegrityService(store).verify({ chain: 'data_access' });
      expect(dataAccess.chains.length).toBeGreaterThan(1);
      expect(dataAccess.chains.every((c) => c.chain.startsWith('data_access.'))).toBe(true);
      expect(dataAccess.verified).toBe(24);
    } finally {
      await consumer.close();
      await writer.drain();
      await bus.close();
      await store.close();
    }
  });
});
