/**
 * The Kafka adapters against a recording fake of kafkajs (FakeKafka): the exact producer, consumer
 * and admin calls (idempotent producer, acks -1, key = chain, deliberate partitioner, topic
 * creation), group produce, 503 behaviour when Kafka does not acknowledge, and the consumer's
 * offset discipline (commit only after the store has the batch; pause and redeliver on failure).
 */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { canonicalize } from '@app/ledger';
import { BusBatch, BusEvent, BusUnavailableError } from '../event-bus.port';
import { ChainPartitioner, chainPartitioner, partitionForChain } from './chain-partitioner';
import { FakeKafka } from './fake-kafka';
import { KafkaEventBus, KafkaEventBusOptions, producerConfig } from './kafka-event-bus';
import { createKafka, describeKafkaError } from './kafka-client';
import { KafkaJSAggregateError } from 'kafkajs';
import { KafkaEventConsumer } from './kafka-event-consumer';

const BUS: KafkaEventBusOptions = {
  topic: 'audit-events',
  partitions: 12,
  replicationFactor: 3,
  publishTimeoutMs: 200,
  brokers: ['kafka-1:9092', 'kafka-2:9092'],
  tls: false,
  probeIntervalMs: 3_600_000,
};

function busEvent(overrides: Partial<AccessEvent> = {}): BusEvent {
  const event: AccessEvent = {
    id: randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user' },
    source: { system: 'ehr-gateway' },
    ...overrides,
  };
  return { event, json: canonicalize(event) };
}

async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ChainPartitioner', () => {
  it('gives each of the six chains its own partition when there are six or more, and falls back to murmur2', () => {
    expect(['authentication', 'data_access', 'data_modification', 'security', 'system_access', 'administrative'].map((c) => partitionForChain(c, 12))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(partitionForChain('data_access', 1)).toBe(0);
    const partition = ChainPartitioner();
    const meta = Array.from({ length: 12 }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    expect(partition({ topic: 't', partitionMetadata: meta, message: { key: 'system_access', value: 'x' } })).toBe(4);
    expect(partition({ topic: 't', partitionMetadata: meta, message: { key: 'administrative', value: 'x' } })).toBe(5);
    // Unknown keys: the Java client's murmur2 (kafkajs DefaultPartitioner), deterministic.
    const other = partition({ topic: 't', partitionMetadata: meta, message: { key: 'some-other-key', value: 'x' } });
    expect(partition({ topic: 't', partitionMetadata: meta, message: { key: 'some-other-key', value: 'x' } })).toBe(other);
  });
});

describe('chain partitioner with sharded chains', () => {
  it('puts the shards of a category on consecutive partitions: 6 x CHAIN_SHARDS partitions give every chain its own', () => {
    const categories = ['authentication', 'data_access', 'data_modification', 'security', 'system_access', 'administrative'];
    const all = categories.flatMap((c) => Array.from({ length: 8 }, (_, s) => partitionForChain(`${c}.${s}`, 48, 8)));
    expect(new Set(all).size).toBe(48);
    // Fewer partitions than chains: the 8 shards of data_access still get 8 different writers.
    expect(new Set(Array.from({ length: 8 }, (_, s) => partitionForChain(`data_access.${s}`, 12, 8))).size).toBe(8);
    // The unsharded chains keep their partitions (a store upgraded with messages in flight).
    expect(categories.map((c) => partitionForChain(c, 48, 8))).toEqual([0, 1, 2, 3, 4, 5]);
    const partition = chainPartitioner(8)();
    const meta = Array.from({ length: 48 }, (_, i) => ({ partitionId: i, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    expect(partition({ topic: 't', partitionMetadata: meta, message: { key: 'data_access.3', value: 'x' } })).toBe(11);
    expect(chainPartitioner(8)).toBe(chainPartitioner(8));
  });

  it('keys each message by the chain chainForEvent picks with the bus CHAIN_SHARDS', async () => {
    const kafka = new FakeKafka({ 'audit-events': 48 });
    const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, chainShards: 8 });
    await bus.start();
    await bus.publish(Array.from({ length: 24 }, (_, i) => busEvent({ source: { system: `sys-${i}`, integration: `ehr-${i}` } })));
    const stored = kafka.messages('audit-events');
    const keys = stored.flatMap((partition, p) => partition.map((m) => ({ key: String(m.key), p })));
    expect(keys).toHaveLength(24);
    for (const { key, p } of keys) {
      expect(key).toMatch(/^data_access\.[0-7]$/);
      expect(p).toBe(partitionForChain(key, 48, 8));
    }
    expect(new Set(keys.map((k) => k.key)).size).toBeGreaterThan(4);
    await bus.close();
  });
});

describe('KafkaEventBus', () => {
  it('creates the missing topic and an idempotent producer with the chain partitioner', async () => {
    const kafka = new FakeKafka();
    const bus = new KafkaEventBus(kafka.asKafka(), BUS);
    await bus.start();
    expect(kafka.callsTo('admin.createTopics')).toEqual([
      [{ waitForLeaders: true, topics: [{ topic: 'audit-events', numPartitions: 12, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] }],
    ]);
    expect(kafka.callsTo('producer')).toEqual([[{ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: ChainPartitioner, retry: { retries: Number.MAX_SAFE_INTEGER } }]]);
    expect(bus.isReady()).toBe(true);
    await bus.close();
  });

  it('uses an existing topic as it is', async () => {
    const kafka = new FakeKafka({ 'audit-events': 3 });
    const logs: string[] = [];
    const bus = new KafkaEventBus(kafka.asKafka(), BUS, (_l, msg) => logs.push(msg));
    await bus.start();
    expect(kafka.callsTo('admin.createTopics')).toEqual([]);
    expect(logs).toContain('kafka topic partition count differs from KAFKA_PARTITIONS');
    await bus.close();
  });

  it('warns once at start, naming KAFKA_PARTITIONS and CHAIN_SHARDS, when the topic has fewer partitions than 6 x CHAIN_SHARDS', async () => {
    const started = async (topics: Record<string, number> | undefined, options: Partial<KafkaEventBusOptions>) => {
      const kafka = new FakeKafka(topics);
      const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
      const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, ...options }, (level, msg, fields) => logs.push({ level, msg, fields }));
      await bus.start();
      await bus.close();
      return logs.filter((l) => l.msg.includes('6 x CHAIN_SHARDS'));
    };
    // An existing topic of 12 partitions with 8 shards (48 chains).
    const existing = await started({ 'audit-events': 12 }, { partitions: 12, chainShards: 8 });
    expect(existing).toHaveLength(1);
    expect(existing[0].level).toBe('warn');
    expect(existing[0].msg).toContain('KAFKA_PARTITIONS');
    expect(existing[0].fields).toEqual({ topic: 'audit-events', partitions: 12, KAFKA_PARTITIONS: 12, CHAIN_SHARDS: 8, wanted: 48 });
    // A topic the service creates with too few partitions for the shards.
    expect((await started(undefined, { partitions: 12, chainShards: 4 }))[0]?.fields).toEqual({ topic: 'audit-events', partitions: 12, KAFKA_PARTITIONS: 12, CHAIN_SHARDS: 4, wanted: 24 });
    // Enough partitions (one per chain, or more): no warning.
    expect(await started({ 'audit-events': 48 }, { partitions: 48, chainShards: 8 })).toEqual([]);
    expect(await started(undefined, { partitions: 12 })).toEqual([]);
    expect(await started({ 'audit-events': 7 }, { partitions: 12, chainShards: 1 })).toEqual([]);
  });

  it('publishes with acks -1, key = chain, value = canonical JSON, and answers queued receipts', async () => {
    const kafka = new FakeKafka();
    const bus = new KafkaEventBus(kafka.asKafka(), BUS);
    await bus.start();
    const a = busEvent();
    const b = busEvent({ category: 'authentication', action: 'login' });
    await expect(bus.publish([a, b])).resolves.toEqual([
      { id: a.event.id, status: 'queued' },
      { id: b.event.id, status: 'queued' },
    ]);
    expect(kafka.callsTo('producer.send')).toEqual([
      [{ topic: 'audit-events', acks: -1, messages: [{ key: 'data_access', value: a.json }, { key: 'authentication', value: b.json }] }],
    ]);
    expect(kafka.messages('audit-events')[1].map((m) => m.value!.toString())).toEqual([a.json]);
    expect(kafka.messages('audit-events')[0].map((m) => m.value!.toString())).toEqual([b.json]);
    await bus.close();
  });

  it('groups publishes that arrive while a produce request is in flight into the next request', async () => {
    const kafka = new FakeKafka();
    const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, publishTimeoutMs: 5000 });
    await bus.start();
    let open!: () => void;
    kafka.sendGate = new Promise((r) => (open = r));
    const first = bus.publish([busEvent()]);
    const more = [bus.publish([busEvent()]), bus.publish([busEvent(), busEvent()])];
    await eventually(() => kafka.callsTo('producer.send').length === 1);
    open();
    await Promise.all([first, ...more]);
    expect(kafka.callsTo('producer.send').map(([req]) => (req as { messages: unknown[] }).messages.length)).toEqual([1, 3]);
    await bus.close();
  });

  it('splits a request larger than one produce request and acknowledges it once every part is in', async () => {
    const kafka = new FakeKafka();
    const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, maxRequestBytes: 1000 });
    await bus.start();
    const events = Array.from({ length: 8 }, () => busEvent());
    await bus.publish(events);
    const sends = kafka.callsTo('producer.send').map(([req]) => (req as { messages: unknown[] }).messages.length);
    expect(sends.length).toBeGreaterThan(1);
    expect(sends.reduce((a, b) => a + b, 0)).toBe(8);
    await bus.close();
  });

  it('answers BusUnavailableError when Kafka refuses, or does not acknowledge in time, then fails fast until it recovers', async () => {
    const kafka = new FakeKafka();
    const bus = new KafkaEventBus(kafka.asKafka(), BUS);
    await bus.start();
    kafka.failSends = 1;
    await expect(bus.publish([busEvent()])).rejects.toBeInstanceOf(BusUnavailableError);
    expect(bus.isReady()).toBe(false);
    await bus.publish([busEvent()]);
    expect(bus.isReady()).toBe(true);

    let open!: () => void;
    kafka.sendGate = new Promise((r) => (open = r));
    await expect(bus.publish([busEvent()])).rejects.toThrow('Kafka did not acknowledge the events in time.');
    expect(bus.isReady()).toBe(false);
    const sendsBefore = kafka.callsTo('producer.send').length;
    await expect(bus.publish([busEvent()])).rejects.toBeInstanceOf(BusUnavailableError); // fast: one still in flight
    expect(kafka.callsTo('producer.send')).toHaveLength(sendsBefore);
    open();
    kafka.sendGate = null;
    await bus.close();
  });

  it('refuses to start with an error naming KAFKA_BROKERS when the brokers are unreachable', async () => {
    const kafka = new FakeKafka();
    kafka.down = true;
    const bus = new KafkaEventBus(kafka.asKafka(), BUS);
    await expect(bus.start()).rejects.toThrow(/KAFKA_BROKERS=kafka-1:9092,kafka-2:9092 are not reachable/);
    expect(bus.isReady()).toBe(false);
  });
});

describe('faults a real broker showed (issue 17)', () => {
  it('fails topic creation on a replication factor above the broker count as kafkajs does (errors[] of KafkaJSCreateTopicError)', async () => {
    const kafka = new FakeKafka();
    kafka.brokers = 1;
    const err = await kafka.asKafka().admin().createTopics({ topics: [{ topic: 't', numPartitions: 1, replicationFactor: 3 }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaJSAggregateError);
    expect(err).toMatchObject({ name: 'KafkaJSAggregateError', message: 'Topic creation errors' });
    expect((err as KafkaJSAggregateError).errors).toEqual([
      expect.objectContaining({ name: 'KafkaJSCreateTopicError', type: 'INVALID_REPLICATION_FACTOR', code: 38, retriable: false, topic: 't', message: 'Replication-factor is invalid' }),
    ]);
    // The message alone says nothing about the replication factor: the hint must read errors[].
    expect(describeKafkaError(err, { brokers: ['k:9092'], tls: false, replicationFactor: 3 })).toMatch(/KAFKA_REPLICATION_FACTOR=3/);
  });

  it('names KAFKA_REPLICATION_FACTOR and the broker count when the cluster has fewer brokers, and is not ready', async () => {
    const kafka = new FakeKafka();
    kafka.brokers = 1;
    const bus = new KafkaEventBus(kafka.asKafka(), BUS);
    const err = (await bus.start().catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(BusUnavailableError);
    expect(err.message).toMatch(/^Kafka refused to create the topic audit-events with KAFKA_REPLICATION_FACTOR=3: the cluster has 1 broker; set KAFKA_REPLICATION_FACTOR to at most 1 /);
    expect(err.message).not.toMatch(/not reachable/);
    expect(bus.isReady()).toBe(false);
    expect(kafka.topics.has('audit-events')).toBe(false);
    await expect(bus.publish([busEvent()])).rejects.toBeInstanceOf(BusUnavailableError);

    // The operator lowers it: the next start creates the topic and the bus becomes ready.
    const fixed = new KafkaEventBus(kafka.asKafka(), { ...BUS, replicationFactor: 1 });
    await fixed.start();
    expect(fixed.isReady()).toBe(true);
    await fixed.close();
  });

  it('builds an idempotent producer kafkajs does not warn about (retries left unlimited, EoS kept)', () => {
    const warnings: string[] = [];
    const settings = { brokers: ['127.0.0.1:1'], clientId: 'spec', topic: 't', partitions: 1, replicationFactor: 1, groupId: 'g', tls: false, publishTimeoutMs: 1000, sessionTimeoutMs: 30_000 };
    const kafka = createKafka(settings, (level, msg) => warnings.push(`${level} ${msg}`));
    kafka.producer(producerConfig());
    expect(warnings).toEqual([]);
    // The settings before the fix (the client's retries: 8 merged into the producer's) drew the warning.
    const { retry: _unlimited, ...limited } = producerConfig();
    kafka.producer(limited);
    expect(warnings).toEqual(['warn kafkajs: Limiting retries for the idempotent producer may invalidate EoS guarantees']);
  });
});

describe('KafkaEventConsumer', () => {
  const OPTIONS = { topic: 'audit-events', groupId: 'audit-chain-writer', sessionTimeoutMs: 30_000, brokers: ['kafka-1:9092'], tls: false, backoffMs: 20 };

  async function produced(kafka: FakeKafka, n: number, partitions = 12): Promise<BusEvent[]> {
    const bus = new KafkaEventBus(kafka.asKafka(), { ...BUS, partitions });
    await bus.start();
    const events = Array.from({ length: n }, () => busEvent());
    await bus.publish(events);
    await bus.close();
    return events;
  }

  it('joins the group with manual commits (autoCommit off, eachBatchAutoResolve off)', async () => {
    const kafka = new FakeKafka();
    await produced(kafka, 1);
    const consumer = new KafkaEventConsumer(kafka.asKafka(), OPTIONS);
    await consumer.start(async () => undefined);
    expect(kafka.callsTo('consumer')[0][0]).toMatchObject({ groupId: 'audit-chain-writer', sessionTimeout: 30_000, heartbeatInterval: 3000, allowAutoTopicCreation: false, readUncommitted: false });
    expect(kafka.callsTo('consumer.subscribe')).toEqual([[{ topics: ['audit-events'], fromBeginning: true }]]);
    expect(kafka.callsTo('consumer.run')[0][0]).toMatchObject({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 6 });
    await eventually(() => consumer.isReady());
    await consumer.close();
  });

  it('commits a batch only after the handler (the store append) resolved, at last offset + 1', async () => {
    const kafka = new FakeKafka();
    const events = await produced(kafka, 3);
    const consumer = new KafkaEventConsumer(kafka.asKafka(), OPTIONS);
    let release!: () => void;
    const stored = new Promise<void>((r) => (release = r));
    const batches: BusBatch[] = [];
    await consumer.start(async (batch) => {
      batches.push(batch);
      await stored;
    });
    await eventually(() => batches.length === 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(kafka.callsTo('consumer.commitOffsets')).toEqual([]);
    expect(batches[0]).toEqual({ partition: 1, messages: events.map((e, i) => ({ offset: String(i), key: 'data_access', value: Buffer.from(e.json) })) });
    release();
    await eventually(() => kafka.callsTo('consumer.commitOffsets').length === 1);
    expect(kafka.callsTo('consumer.commitOffsets')[0]).toEqual([[{ topic: 'audit-events', partition: 1, offset: '3' }]]);
    await consumer.close();
  });

  it('rebalance: partitions revoked mid-batch go to the new member from the committed offset; the old commit is fenced; nothing lost', async () => {
    const kafka = new FakeKafka();
    const categories = ['data_access', 'authentication', 'data_modification', 'security'] as const;
    const bus = new KafkaEventBus(kafka.asKafka(), BUS);
    await bus.start();
    const first = Array.from({ length: 40 }, (_, i) => busEvent({ category: categories[i % 4] }));
    await bus.publish(first);
    const dataAccess = partitionForChain('data_access', 12)!;

    // Member A holds the data-access batch in its handler (the store is slow) when B joins.
    const handledBy = new Map<string, string[]>();
    const handler = (name: string, gate?: Promise<void>) => async (batch: BusBatch) => {
      if (gate && batch.partition === dataAccess) await gate;
      for (const m of batch.messages) handledBy.set(JSON.parse(m.value!.toString()).id, [...(handledBy.get(JSON.parse(m.value!.toString()).id) ?? []), name]);
    };
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const a = new KafkaEventConsumer(kafka.asKafka(), OPTIONS);
    await a.start(handler('a', slow));
    await eventually(() => kafka.callsTo('consumer.commitOffsets').length >= 3); // A committed its other partitions
    expect(kafka.assignments('audit-chain-writer')).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]);

    const b = new KafkaEventConsumer(kafka.asKafka(), OPTIONS);
    await b.start(handler('b'));
    const [ofA, ofB] = kafka.assignments('audit-chain-writer');
    expect(ofB).toContain(dataAccess);
    expect(ofA).not.toContain(dataAccess);
    // B gets the data-access batch again: A never committed it.
    await eventually(() => first.filter((e) => e.event.category === 'data_access').every((e) => handledBy.get(e.event.id)?.includes('b')));
    release();
    // A's late commit for a partition it lost is fenced (ILLEGAL_GENERATION); A rejoins quietly.
    await eventually(() => kafka.callsTo('consumer.commitOffsets.fenced').length === 1);
    expect(kafka.callsTo('consumer.rejoin')).toEqual([[expect.any(String), 'ILLEGAL_GENERATION']]);
    expect(kafka.callsTo('consumer.crash')).toEqual([]);

    // A leaves: B takes every partition; what is published next reaches B alone.
    await a.close();
    expect(kafka.assignments('audit-chain-writer')).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]);
    const second = Array.from({ length: 40 }, (_, i) => busEvent({ category: categories[i % 4] }));
    await bus.publish(second);
    const logs = kafka.messages('audit-events');
    await eventually(() => logs.every((log, p) => (kafka.committed.get('audit-chain-writer')?.get(`audit-events:${p}`) ?? 0n) === BigInt(log.length)));
    for (const e of [...first, ...second]) expect(handledBy.get(e.event.id)?.length).toBeGreaterThanOrEqual(1);
    for (const e of second) expect(handledBy.get(e.event.id)).toEqual(['b']);
    expect(b.isReady()).toBe(true);
    await b.close();
    await bus.close();
  });

  it('leaves the offsets alone when the handler fails, pauses the partition and delivers the batch again', async () => {
    const kafka = new FakeKafka();
    await produced(kafka, 2);
    const consumer = new KafkaEventConsumer(kafka.asKafka(), OPTIONS);
    let attempts = 0;
    await consumer.start(async () => {
      if (++attempts < 3) throw new Error('store unavailable');
    });
    await eventually(() => kafka.callsTo('consumer.commitOffsets').length === 1);
    expect(attempts).toBe(3);
    expect(kafka.callsTo('consumer.pause')).toEqual([[1], [1]]);
    expect(kafka.callsTo('consumer.resume')).toEqual([[1], [1]]);
    const commitIndex = kafka.calls.findIndex((c) => c.api === 'consumer.commitOffsets');
    const lastPause = kafka.calls.map((c) => c.api).lastIndexOf('consumer.pause');
    expect(commitIndex).toBeGreaterThan(lastPause);
    await consumer.close();
  });
});
