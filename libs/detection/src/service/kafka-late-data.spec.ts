/**
 * Late data through the scale-out pipeline (issue 13): Kafka bus (FakeKafka, delivering partitions
 * interleaved) -> chain writer -> Elasticsearch store (EsFake) -> streaming detection, as the
 * service wires it. The data-access partition lags the authentication partition by minutes (held,
 * then released): nothing is dropped as late, and the bulk read and brute force planted in the
 * traffic both raise their alert.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { BusChainFeeder, ChainWriter, IngestService } from '@app/pipeline';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { partitionForChain } from '@app/storage/kafka/chain-partitioner';
import { FakeKafka } from '@app/storage/kafka/fake-kafka';
import { ElasticsearchEventStore, KafkaEventBus, KafkaEventConsumer } from '@app/storage/scale-out-adapters';
import { DetectionEngine } from '../detection-engine';
import { loadRules } from '../rule-loader';
import { DetectionWorker } from './detection-worker';
import { SqliteAlertStore } from './sqlite-alert-store';
import { SqliteDetectionProgressStore } from './sqlite-detection-state';

const ROOT = path.resolve(__dirname, '../../../..');
const rules = loadRules(path.join(ROOT, 'detection-rules'));
const KAFKA = { topic: 'audit-events', partitions: 12, replicationFactor: 1, publishTimeoutMs: 2000, brokers: ['kafka:9092'], tls: false, probeIntervalMs: 3_600_000 };
const GROUP = { topic: 'audit-events', groupId: 'audit-chain-writer', sessionTimeoutMs: 30_000, brokers: ['kafka:9092'], tls: false, backoffMs: 10 };
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
const SECOND = 1_000;
const MINUTE = 60_000;

async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const source = { system: 'ehr-gateway', integration: 'ehr' };
const login = (at: number, actor: string, outcome: 'success' | 'failure' = 'success'): AccessEvent => ({
  id: randomUUID(), occurredAt: new Date(at).toISOString(), category: 'authentication', action: 'login', outcome,
  actor: { id: actor, type: 'user', role: 'nurse', ip: '10.0.0.1' }, source,
});
const read = (at: number, actor: string, patient: string): AccessEvent => ({
  id: randomUUID(), occurredAt: new Date(at).toISOString(), category: 'data_access', action: 'read', outcome: 'success',
  actor: { id: actor, type: 'user', role: 'nurse', ip: '10.0.0.1' }, patient: { id: patient }, purpose: 'TREAT', source,
});

describe('Kafka partitions interleaved, one lagging by minutes', () => {
  it('drops nothing as late and raises the planted alerts of both partitions', async () => {
    const kafka = new FakeKafka();
    const store = new ElasticsearchEventStore(new EsFake().client(), ES_OPTIONS);
    await store.init();
    const writer = new ChainWriter(store, { maxGroupEvents: 1000 });
    await writer.start();
    const bus = new KafkaEventBus(kafka.asKafka(), KAFKA);
    await bus.start();
    const consumer = new KafkaEventConsumer(kafka.asKafka(), GROUP);
    await consumer.start(new BusChainFeeder(writer, 500).handle);
    const ingest = new IngestService(bus, 1000, undefined, store, { chainedWaitMs: 5000 });

    const db = new Database(':memory:');
    const alerts = new SqliteAlertStore(db);
    const progress = new SqliteDetectionProgressStore(db, alerts);
    const engines: DetectionEngine[] = [];
    const worker = new DetectionWorker(
      () => {
        const engine = new DetectionEngine(rules, { allowedLateness: '2m' });
        engines.push(engine);
        return engine;
      },
      { readSince: (after, limit) => store.readSince(after, limit), readIdsSince: (after, limit) => store.readIdsSince(after, limit), lastPosition: () => store.lastPosition() },
      progress,
      { snapshotEveryEvents: 1_000_000, snapshotEveryMs: 3_600_000 },
    );
    writer.onCommit(() => worker.wake());
    worker.start();

    const t0 = Date.now() - 10 * MINUTE;
    const dataPartition = partitionForChain('data_access', KAFKA.partitions)!;
    expect(dataPartition).not.toBe(partitionForChain('authentication', KAFKA.partitions));

    // Minute 0: both partitions delivered, interleaved.
    const first = [login(t0, 'u-1'), read(t0 + SECOND, 'u-1', 'p-own-1'), login(t0 + 2 * SECOND, 'u-2'), read(t0 + 3 * SECOND, 'u-2', 'p-own-2')];
    await ingest.ingestBody({ events: first });
    await eventually(async () => (await store.findReceipts(first.map((e) => e.id))).size === first.length);
    await worker.caughtUp();

    // Minutes 1-8: the data-access partition is held back while authentication runs ahead.
    kafka.held.add(dataPartition);
    const snoop = Array.from({ length: 60 }, (_, i) => read(t0 + MINUTE + i * 2 * SECOND, 'u-snoop', `p-${i}`));
    const guessing = [...Array.from({ length: 6 }, (_, i) => login(t0 + 3 * MINUTE + i * 5 * SECOND, 'u-guessed', 'failure')), login(t0 + 3 * MINUTE + 40 * SECOND, 'u-guessed')];
    const logins = Array.from({ length: 48 }, (_, i) => login(t0 + MINUTE + i * 10 * SECOND, `u-${i % 7}`));
    const later = [...snoop, ...guessing, ...logins].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
    await ingest.ingestBody({ events: later });
    const authIds = [...guessing, ...logins].map((e) => e.id);
    await eventually(async () => (await store.findReceipts(authIds)).size === authIds.length);
    await worker.caughtUp();
    expect((await store.findReceipts(snoop.map((e) => e.id))).size).toBe(0);

    // The lagging partition catches up minutes later (in event time).
    kafka.held.delete(dataPartition);
    await eventually(async () => (await store.findReceipts(snoop.map((e) => e.id))).size === snoop.length);
    await worker.caughtUp();

    const raised = (await alerts.list({ limit: 100 })).alerts.map((a) => `${a.ruleId} ${a.actor}`).sort();
    expect(raised).toEqual(['brute-force-then-success u-guessed', 'bulk-phi-read u-snoop']);
    const status = await worker.status();
    expect(status).toMatchObject({ evaluated: first.length + later.length, lateDropped: 0, unevaluated: {} });

    await worker.stop();
    await consumer.close();
    await writer.drain();
    await bus.close();
    await store.close();
    db.close();
  }, 60_000);
});
