/**
 * `npm run bench -- --bus kafka`: the Kafka path end to end next to the raw kafkajs produce rate
 * of the same messages, in the same run. Runs only when KAFKA_BROKERS is set (it creates two
 * fresh topics); without it, it says so and exits 0. With ELASTICSEARCH_URL set the service
 * stores in Elasticsearch, else in SQLite.
 *
 * Figures: raw produce (the service's own producer settings: idempotent, acks -1, its partitioner;
 * batches of 100, BENCH_CONCURRENCY sends in flight); end-to-end acknowledged (HTTPS, batches of
 * 100, answered 202 queued once Kafka holds them); end-to-end chained (until the chain writer has
 * stored the last of them). Next to each rate, CPU time per event (the bench process for the raw
 * produce, the service process for the end-to-end figures) and the load average, since events/s
 * on a shared machine moves with everyone else's load. Target (issue 17): the 202 rate >= 0.8 of
 * the raw produce rate.
 *
 * The posted events leave source.integration out (one token posts them all; the service fills in
 * the caller, as in the embedded bench), so no batch is refused as source-not-allowed. Every wait
 * has a deadline (BENCH_TIMEOUT_S, default 600 s per phase): a service that never becomes ready,
 * answers nothing but errors, or never chains everything ends the run with a message, not a hang.
 *
 * Options (env): BENCH_EVENTS (default 200000), BENCH_CONCURRENCY (16), BENCH_TIMEOUT_S (600),
 * KAFKA_REPLICATION_FACTOR (default 1 here), and the service's own KAFKA_* / ELASTICSEARCH_* settings.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { AccessEvent, chainForEvent, loadConfig } from '@app/core';
import { canonicalize } from '@app/ledger';
import { createKafka, producerConfig } from '@app/storage/scale-out-adapters';
import { TokenService } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, closedLoop, fmt, machine, percentile, processCpuMs, startServiceProcess } from './bench-support';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 200_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 600) * 1000;
const BATCH = 100;

/** Rejects with `what` when `work` takes longer than TIMEOUT_MS. */
async function within<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS / 1000} s: ${what} (BENCH_TIMEOUT_S)`)), TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it is true; rejects after TIMEOUT_MS naming `what`. */
async function waitFor(what: string, check: () => Promise<boolean>, everyMs: number): Promise<void> {
  const until = Date.now() + TIMEOUT_MS;
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${what} (BENCH_TIMEOUT_S)`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The synthetic traffic names several integrations, but one token posts it all: leave
 * source.integration out and the service fills in the caller (as the embedded bench does), or
 * every batch naming another integration is refused 403 source-not-allowed.
 */
export function postedByBench(event: AccessEvent): AccessEvent {
  return { ...event, source: { system: event.source.system } };
}

async function rawProduce(events: AccessEvent[], topic: string): Promise<{ rate: number; cpuUsPerEvent: number; stored: number }> {
  const settings = loadConfig({ ...process.env, BUS: 'kafka' }).scaleOut!.kafka!;
  const kafka = createKafka(settings, (level, msg) => level !== 'info' && console.log(`  (${level}) ${msg}`));
  const admin = kafka.admin();
  await within('connecting to KAFKA_BROKERS', admin.connect());
  await within(
    'creating the raw-produce topic',
    admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: settings.partitions, replicationFactor: Number(process.env.KAFKA_REPLICATION_FACTOR ?? 1) }] }),
  );
  // The service's producer settings exactly (idempotent, unlimited retries, one request in flight, its partitioner).
  const producer = kafka.producer(producerConfig());
  await within('connecting the raw producer', producer.connect());
  const batches: { key: string; value: string }[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH).map((e) => ({ key: chainForEvent(e), value: canonicalize(e) })));
  let next = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await within(
    'the raw produce',
    Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < batches.length) await producer.send({ topic, acks: -1, messages: batches[next++] });
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // Concurrent sends on one idempotent kafkajs producer are what kafkajs issue #1005 reports losing
  // messages with: count what the topic really holds before using the rate as the baseline.
  const offsets = await within('reading the raw topic offsets', admin.fetchTopicOffsets(topic));
  const stored = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  return { rate: events.length / seconds, cpuUsPerEvent: (cpu.user + cpu.system) / events.length, stored };
}

async function chainedTotal(client: ApiClient): Promise<number> {
  const text = (await client.request('GET', '/metrics')).body;
  let total = 0;
  for (const m of text.matchAll(/^audit_chain_head_seq\{chain="[^"]+"\} (\d+)/gm)) total += Number(m[1]) + 1;
  return total;
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

export async function kafkaBench(): Promise<void> {
  if (!process.env.KAFKA_BROKERS) {
    console.log('Kafka benchmark skipped: KAFKA_BROKERS is not set. Set it (and optionally ELASTICSEARCH_URL) to run `npm run bench -- --bus kafka` against your brokers.');
    return;
  }
  const run = Date.now().toString(36);
  const store = process.env.ELASTICSEARCH_URL ? 'elasticsearch' : 'sqlite';
  console.log(`Kafka ingest benchmark on ${machine()}, store: ${store}, ${fmt(TOTAL)} events, load average ${load()}`);
  const events = generateTraffic({ events: TOTAL, seed: 7 }).events.map(postedByBench);
  const raw = await rawProduce(events, `audit-bench-raw-${run}`);
  const loadAfterRaw = load();

  const dataDir = benchDataDir('kafka');
  const svc = await within(
    'the service to start',
    startServiceProcess({
      DATA_DIR: dataDir,
      BUS: 'kafka',
      STORE: store,
      KAFKA_TOPIC: `audit-bench-${run}`,
      KAFKA_GROUP_ID: `audit-bench-${run}`,
      KAFKA_REPLICATION_FACTOR: process.env.KAFKA_REPLICATION_FACTOR ?? '1',
      ELASTICSEARCH_INDEX_PREFIX: `audit-bench-${run}`,
      // The limiter runs but never throttles: the bench measures capacity.
      RATE_LIMIT_EVENTS_PER_SECOND: '10000000',
    }),
  );
  const token = await new TokenService(loadConfig({}, { dataDir })).issue({ role: 'integration', sub: 'bench', ttl: '1h' });
  const client = new ApiClient(svc.url, token, { caPem: localCa(dataDir), maxSockets: 256, connectTimeoutMs: 10_000 });
  try {
    await waitFor('the service to be ready (GET /health/ready 200; see its log for the setting to check)', async () => (await client.request('GET', '/health/ready')).status === 200, 500);
    const bodies: string[] = [];
    for (let i = 0; i < events.length; i += BATCH) bodies.push(JSON.stringify({ events: events.slice(i, i + BATCH) }));
    // One batch first: a refusal (403, 400, 503) ends the run with its answer instead of timing every batch.
    const probe = await client.request('POST', '/v1/events', bodies[0]);
    if (probe.status !== 202) throw new Error(`the service answered ${probe.status} to the first batch: ${probe.body.slice(0, 300)}`);
    const cpu0 = processCpuMs(svc.child.pid);
    const started = performance.now();
    const { latencies, failures } = await within('the 202 phase', closedLoop(client, bodies.slice(1), CONCURRENCY));
    const acked = (performance.now() - started) / 1000;
    const cpuAcked = processCpuMs(svc.child.pid) - cpu0;
    const loadAfterAcked = load();
    await waitFor('the chain writer to store every event', async () => (await chainedTotal(client)) >= events.length, 100);
    const chained = (performance.now() - started) / 1000;
    const cpuChained = processCpuMs(svc.child.pid) - cpu0;
    const posted = events.length - BATCH;
    const ackRate = posted / acked;
    const chainRate = posted / chained;
    console.log('');
    console.log('| measurement | result |');
    console.log('|---|---|');
    console.log(`| raw kafkajs produce, same messages, batches of ${BATCH}, ${CONCURRENCY} sends in flight, the service's producer settings | ${fmt(raw.rate)} events/s; ${fmt(raw.cpuUsPerEvent, 1)} µs CPU per event (bench process); load ${loadAfterRaw} |`);
    console.log(`| raw produce: messages the topic holds afterwards | ${fmt(raw.stored)} of ${fmt(events.length)}${raw.stored === events.length ? '' : ' (**messages lost by concurrent idempotent sends: the raw rate is not a valid baseline**)'} |`);
    console.log(`| end to end acknowledged (202 queued), HTTPS, batches of ${BATCH}, ${CONCURRENCY} clients | ${fmt(ackRate)} events/s (**${fmt(ackRate / raw.rate, 2)} of raw**; target 0.8); ${fmt((cpuAcked * 1000) / posted, 1)} µs service CPU per event (ingest and the chain writer consuming meanwhile); load ${loadAfterAcked} |`);
    console.log(`| end to end chained into ${store} | ${fmt(chainRate)} events/s (${fmt(chainRate / raw.rate, 2)} of raw); ${fmt((cpuChained * 1000) / posted, 1)} µs service CPU per event |`);
    console.log(`| batch ack latency p50 / p99 | ${fmt(percentile(latencies, 50), 1)} ms / ${fmt(percentile(latencies, 99), 1)} ms |`);
    console.log(`| non-202 answers | ${failures} |`);
  } finally {
    client.close();
    svc.child.kill('SIGTERM');
    const exited = new Promise((r) => svc.child.once('exit', r));
    const killTimer = setTimeout(() => svc.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killTimer);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
