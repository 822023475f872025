/**
 * `npm run bench -- --bus kafka`: the Kafka path end to end next to the raw kafkajs produce rate
 * of the same messages, in the same run. Runs only when KAFKA_BROKERS is set (it creates two
 * fresh topics); with ELASTICSEARCH_URL set the service stores in Elasticsearch, else in SQLite.
 *
 * Figures: raw produce (idempotent producer, acks -1, the service's partitioner, batches of 100,
 * BENCH_CONCURRENCY sends in flight); end-to-end acknowledged (HTTPS, batches of 100, answered
 * 202 queued once Kafka holds them); end-to-end chained (until the chain writer has stored the
 * last of them). Target from issue 7: end to end >= 0.8 of the raw produce rate.
 *
 * Options (env): BENCH_EVENTS (default 200000), BENCH_CONCURRENCY (16), KAFKA_REPLICATION_FACTOR
 * (default 1 here), and the service's own KAFKA_* / ELASTICSEARCH_* settings.
 */
import * as fs from 'node:fs';
import { AccessEvent, chainForEvent, loadConfig } from '@app/core';
import { canonicalize } from '@app/ledger';
import { ChainPartitioner, createKafka } from '@app/storage/scale-out-adapters';
import { TokenService } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, closedLoop, fmt, machine, percentile, startServiceProcess } from './bench-support';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 200_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const BATCH = 100;

async function rawProduce(events: AccessEvent[], topic: string): Promise<number> {
  const settings = loadConfig({ ...process.env, BUS: 'kafka' }).scaleOut!.kafka!;
  const kafka = createKafka(settings);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: settings.partitions, replicationFactor: Number(process.env.KAFKA_REPLICATION_FACTOR ?? 1) }] });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: ChainPartitioner });
  await producer.connect();
  const batches: { key: string; value: string }[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH).map((e) => ({ key: chainForEvent(e), value: canonicalize(e) })));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batches.length) await producer.send({ topic, acks: -1, messages: batches[next++] });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return events.length / seconds;
}

async function chainedTotal(client: ApiClient): Promise<number> {
  const text = (await client.request('GET', '/metrics')).body;
  let total = 0;
  for (const m of text.matchAll(/^audit_chain_head_seq\{chain="[^"]+"\} (\d+)/gm)) total += Number(m[1]) + 1;
  return total;
}

export async function kafkaBench(): Promise<void> {
  if (!process.env.KAFKA_BROKERS) {
    console.log('Kafka benchmark skipped: set KAFKA_BROKERS (and optionally ELASTICSEARCH_URL) to run `npm run bench -- --bus kafka`.');
    return;
  }
  const run = Date.now().toString(36);
  const store = process.env.ELASTICSEARCH_URL ? 'elasticsearch' : 'sqlite';
  console.log(`Kafka ingest benchmark on ${machine()}, store: ${store}`);
  const events = generateTraffic({ events: TOTAL, seed: 7 }).events;
  const raw = await rawProduce(events, `audit-bench-raw-${run}`);

  const dataDir = benchDataDir('kafka');
  const svc = await startServiceProcess({
    DATA_DIR: dataDir,
    BUS: 'kafka',
    STORE: store,
    KAFKA_TOPIC: `audit-bench-${run}`,
    KAFKA_GROUP_ID: `audit-bench-${run}`,
    KAFKA_REPLICATION_FACTOR: process.env.KAFKA_REPLICATION_FACTOR ?? '1',
    ELASTICSEARCH_INDEX_PREFIX: `audit-bench-${run}`,
  });
  const token = await new TokenService(loadConfig({}, { dataDir })).issue({ role: 'integration', sub: 'bench', ttl: '1h' });
  const client = new ApiClient(svc.url, token, { caPem: localCa(dataDir), maxSockets: 256 });
  try {
    for (let i = 0; (await client.request('GET', '/health/ready')).status !== 200; i++) {
      if (i > 240) throw new Error('service did not become ready');
      await new Promise((r) => setTimeout(r, 500));
    }
    const bodies: string[] = [];
    for (let i = 0; i < events.length; i += BATCH) bodies.push(JSON.stringify({ events: events.slice(i, i + BATCH) }));
    const started = performance.now();
    const { latencies, failures } = await closedLoop(client, bodies, CONCURRENCY);
    const acked = (performance.now() - started) / 1000;
    while ((await chainedTotal(client)) < events.length) await new Promise((r) => setTimeout(r, 100));
    const chained = (performance.now() - started) / 1000;
    const ackRate = events.length / acked;
    const chainRate = events.length / chained;
    console.log('');
    console.log('| measurement | result |');
    console.log('|---|---|');
    console.log(`| raw kafkajs produce, same messages, batches of ${BATCH}, ${CONCURRENCY} in flight, acks -1, idempotent | ${fmt(raw)} events/s |`);
    console.log(`| end to end acknowledged (202 queued), HTTPS, batches of ${BATCH}, ${CONCURRENCY} clients | ${fmt(ackRate)} events/s (${fmt(ackRate / raw, 2)} of raw) |`);
    console.log(`| end to end chained into ${store} | ${fmt(chainRate)} events/s (${fmt(chainRate / raw, 2)} of raw) |`);
    console.log(`| batch ack latency p50 / p99 | ${fmt(percentile(latencies, 50), 1)} ms / ${fmt(percentile(latencies, 99), 1)} ms |`);
    console.log(`| non-202 answers | ${failures} |`);
  } finally {
    client.close();
    svc.child.kill('SIGTERM');
    await new Promise((r) => svc.child.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
