/**
 * `npm run bench -- --bus kafka` (second part, after kafka-ingest.bench.ts): does chained
 * throughput grow with writer processes? For CHAIN_SHARDS 1 and 8 and 1, 2, 3 writer processes
 * (service instances in one consumer group, each the writer of the partitions it holds), a fresh
 * topic with 6 x 8 partitions is filled with BENCH_WRITER_EVENTS events straight from a producer
 * (the service's partitioner and keys, events from BENCH_SITES sources, so eight shards have
 * something to spread), and the chained rate is the events over the time until every one is
 * chained (the writers' chain heads, GET /metrics). Figures come with the load average.
 *
 * Needs KAFKA_BROKERS (without it, kafka-ingest.bench.ts says so and nothing runs) and, for more
 * than one writer, a store they share: ELASTICSEARCH_URL (without it, it says so and measures one
 * writer on SQLite only: an embedded data dir has one writer by design).
 *
 * Options (env): BENCH_WRITER_EVENTS (default 200000), BENCH_WRITERS (1,2,3), BENCH_SHARDS (1,8),
 * BENCH_SITES (24), BENCH_TIMEOUT_S (600), KAFKA_REPLICATION_FACTOR (1 here).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent, chainForEvent, loadConfig } from '@app/core';
import { canonicalize } from '@app/ledger';
import { createKafka, producerConfig } from '@app/storage/scale-out-adapters';
import { TokenService } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, fmt, startServiceProcess } from './bench-support';

const TOTAL = Number(process.env.BENCH_WRITER_EVENTS ?? 200_000);
const WRITERS = (process.env.BENCH_WRITERS ?? '1,2,3').split(',').map(Number);
const SHARDS = (process.env.BENCH_SHARDS ?? '1,8').split(',').map(Number);
const SITES = Number(process.env.BENCH_SITES ?? 24);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 600) * 1000;
const PARTITIONS = 48;
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');

async function until(what: string, check: () => Promise<boolean>, everyMs: number): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${what} (BENCH_TIMEOUT_S)`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Events from SITES sources (integration site-k, its own system), as a health system with many hospitals posts them. */
function siteEvents(): AccessEvent[] {
  return generateTraffic({ events: TOTAL, seed: 17 }).events.map((e, i) => {
    const k = i % SITES;
    return { ...e, source: { system: `${e.source.system}.site-${k}`, integration: `site-${k}` } };
  });
}

/** Events chained so far over all writers: per chain the highest head any writer reports. */
async function chained(clients: ApiClient[]): Promise<number> {
  const heads = new Map<string, number>();
  for (const c of clients) {
    const text = (await c.request('GET', '/metrics')).body;
    for (const m of text.matchAll(/^audit_chain_head_seq\{chain="([^"]+)"\} (\d+)/gm)) heads.set(m[1], Math.max(heads.get(m[1]) ?? -1, Number(m[2])));
  }
  let total = 0;
  for (const [chain, seq] of heads) if (chain !== 'access_log') total += seq + 1;
  return total;
}

async function oneRun(events: AccessEvent[], shards: number, writers: number, store: 'elasticsearch' | 'sqlite'): Promise<{ rate: number; chains: number; load: string }> {
  const run = `${Date.now().toString(36)}-s${shards}-w${writers}`;
  const topic = `audit-bench-writers-${run}`;
  const env = {
    BUS: 'kafka',
    STORE: store,
    CHAIN_SHARDS: String(shards),
    KAFKA_TOPIC: topic,
    KAFKA_GROUP_ID: `audit-bench-writers-${run}`,
    KAFKA_PARTITIONS: String(PARTITIONS),
    KAFKA_REPLICATION_FACTOR: process.env.KAFKA_REPLICATION_FACTOR ?? '1',
    ELASTICSEARCH_INDEX_PREFIX: `audit-bench-${run}`,
    RATE_LIMIT_EVENTS_PER_SECOND: '10000000',
  };
  const dirs: string[] = [];
  const services: Awaited<ReturnType<typeof startServiceProcess>>[] = [];
  const clients: ApiClient[] = [];
  try {
    for (let w = 0; w < writers; w++) {
      const dir = benchDataDir(`kafka-writer-${w}`);
      // Instances of one deployment share their keys (data keys, signing keys): copy the first one's.
      if (w > 0) fs.cpSync(path.join(dirs[0], 'keys'), path.join(dir, 'keys'), { recursive: true });
      dirs.push(dir);
      const svc = await startServiceProcess({ ...env, DATA_DIR: dir });
      services.push(svc);
      const token = await new TokenService(loadConfig({}, { dataDir: dir })).issue({ role: 'auditor', sub: 'bench', ttl: '1h' });
      const client = new ApiClient(svc.url, token, { caPem: localCa(dir), connectTimeoutMs: 10_000 });
      clients.push(client);
      await until(`writer ${w + 1} to be ready`, async () => (await client.request('GET', '/health/ready')).status === 200, 500);
    }
    // Let the group settle on its members before the clock starts.
    await new Promise((r) => setTimeout(r, 5000));
    const kafka = createKafka(loadConfig({ ...process.env, ...env }).scaleOut!.kafka!, () => undefined);
    const producer = kafka.producer(producerConfig(shards));
    await producer.connect();
    const started = performance.now();
    for (let i = 0; i < events.length; i += 500) {
      await producer.send({ topic, acks: -1, messages: events.slice(i, i + 500).map((e) => ({ key: chainForEvent(e, shards), value: canonicalize(e) })) });
    }
    await producer.disconnect();
    await until('every event to be chained', async () => (await chained(clients)) >= events.length, 200);
    const seconds = (performance.now() - started) / 1000;
    const chains = new Set(events.map((e) => chainForEvent(e, shards))).size;
    return { rate: events.length / seconds, chains, load: load() };
  } finally {
    for (const c of clients) c.close();
    for (const s of services) s.child.kill('SIGTERM');
    await Promise.all(services.map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

export async function kafkaWritersBench(): Promise<void> {
  const store = process.env.ELASTICSEARCH_URL ? 'elasticsearch' : 'sqlite';
  const writers = store === 'elasticsearch' ? WRITERS : WRITERS.filter((w) => w === 1);
  if (store === 'sqlite') console.log('\nWriter scaling: ELASTICSEARCH_URL is not set, so only one writer process is measured (an embedded data dir has one writer by design; several writers need the shared Elasticsearch store).');
  console.log(`\nWriter scaling on ${store}: ${fmt(TOTAL)} events from ${SITES} sources, topic of ${PARTITIONS} partitions, load average ${load()}`);
  const events = siteEvents();
  const rows: string[] = [];
  for (const shards of SHARDS) {
    for (const w of writers) {
      const r = await oneRun(events, shards, w, store);
      rows.push(`| CHAIN_SHARDS=${shards} (${r.chains} chains), ${w} writer process(es) | ${fmt(r.rate)} events/s chained; load ${r.load} |`);
      console.log(rows[rows.length - 1]);
    }
  }
  console.log('');
  console.log('| writer scaling (produced straight to the topic, timed until all chained) | result |');
  console.log('|---|---|');
  for (const r of rows) console.log(r);
}
