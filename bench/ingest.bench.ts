/**
 * `npm run bench`: end-to-end ingest through the real HTTPS server (child process, fresh data
 * dir) with concurrent keep-alive clients, batches (100 and 500 events by default) and single events; and, in the same
 * run, the raw ceiling: the same rows inserted straight into a SQLite file with the same schema,
 * indexes and durability settings. Prints events/s, ack latency percentiles and the service's CPU
 * time per event (from /proc: the figure that does not move with other load on a shared machine).
 *
 * Options (env): BENCH_EVENTS (default 300000), BENCH_BATCH (events per request, comma-separated
 * sizes each measured in turn, default 100,500), BENCH_CONCURRENCY (16), BENCH_SINGLE_SECONDS (8).
 * `npm run bench -- --bus kafka` runs the Kafka path instead (kafka-ingest.bench.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent, chainForEvent, loadConfig } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { SqliteEventStore, openDatabase } from '@app/storage';
import { TokenService, embeddedFieldProtection } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, closedLoop, fmt, machine, percentile, processCpuMs, startServiceProcess } from './bench-support';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 300_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const BATCH_SIZES = (process.env.BENCH_BATCH ?? '100,500').split(',').map((b) => Number(b.trim()));
const SINGLE_SECONDS = Number(process.env.BENCH_SINGLE_SECONDS ?? 8);

async function rawCeiling(events: AccessEvent[], rowsPerTransaction: number): Promise<number> {
  const dir = benchDataDir('raw');
  // The same store the service runs: sealing patient.id / actor.ip (AES-256-GCM) is part of the ceiling.
  const store = new SqliteEventStore(openDatabase(dir), embeddedFieldProtection({ dataDir: dir }));
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  const started = performance.now();
  for (let i = 0; i < events.length; i += rowsPerTransaction) {
    const receivedAt = new Date().toISOString();
    const records = events.slice(i, i + rowsPerTransaction).map((event) => {
      const json = canonicalize(event);
      const chain = chainForEvent(event);
      const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, chain, seq, receivedAt, json);
      heads.set(chain, { seq, hash });
      return { chain, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash };
    });
    await store.append(records);
  }
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return events.length / seconds;
}

/** Open loop: requests start on a fixed schedule whatever the answers do (no coordinated omission). */
async function openLoop(client: ApiClient, bodies: string[], ratePerSecond: number) {
  const latencies: number[] = [];
  let failures = 0;
  const interval = 1000 / ratePerSecond;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      client.request('POST', '/v1/events', bodies[i]).then((res) => {
        latencies.push(performance.now() - due);
        if (res.status !== 202) failures++;
      }),
    );
  }
  await Promise.all(inflight);
  return { latencies: latencies.sort((a, b) => a - b), failures, seconds: (performance.now() - started) / 1000 };
}

/**
 * The synthetic traffic names several integrations, but one token posts it all: leave
 * source.integration out and the service fills in the caller (source ownership, issue 5).
 */
function postedByBench(event: AccessEvent): AccessEvent {
  return { ...event, source: { system: event.source.system } };
}

async function main(): Promise<void> {
  // `npm run bench -- --bus kafka`: the Kafka path instead (kafka-ingest.bench.ts; needs KAFKA_BROKERS).
  const bus = process.argv.indexOf('--bus');
  if (bus >= 0 && process.argv[bus + 1] === 'kafka') {
    await (await import('./kafka-ingest.bench')).kafkaBench();
    process.exit(0); // kafkajs may keep sockets or timers; the run is over
  }
  const dataDir = benchDataDir('ingest');
  console.log(`Ingest benchmark on ${machine()}`);
  console.log(`Generating ${fmt(TOTAL)} synthetic events...`);
  // Every batch size posts its own events (fresh ids: a repeated id would be a cheap duplicate).
  const batchRuns = BATCH_SIZES.map((size, k) => {
    const events = generateTraffic({ events: TOTAL, seed: 7 + 1000 * k }).events;
    const bodies: string[] = [];
    const counts: number[] = [];
    for (let i = 0; i < events.length; i += size) {
      const chunk = events.slice(i, i + size);
      bodies.push(JSON.stringify({ events: chunk.map(postedByBench) }));
      counts.push(chunk.length);
    }
    return { size, bodies, counts };
  });

  const raw100 = await rawCeiling(generateTraffic({ events: Math.min(TOTAL, 200_000), seed: 8 }).events, 100);
  const raw1000 = await rawCeiling(generateTraffic({ events: Math.min(TOTAL, 200_000), seed: 9 }).events, 1000);

  // The limiter runs (its cost is measured) but never throttles: the bench measures capacity.
  const svc = await startServiceProcess({ DATA_DIR: dataDir, RATE_LIMIT_EVENTS_PER_SECOND: '10000000' });
  const token = await new TokenService(loadConfig({}, { dataDir })).issue({ role: 'integration', sub: 'bench', ttl: '1h' });
  const client = new ApiClient(svc.url, token, { caPem: localCa(dataDir), maxSockets: 256 });
  try {
    const batchResults = [];
    for (const { size, bodies, counts } of batchRuns) {
      // Warm-up: the first 5,000 events of each size.
      const warm = Math.ceil(5000 / size);
      await closedLoop(client, bodies.slice(0, warm), CONCURRENCY);
      const events = counts.slice(warm).reduce((n, c) => n + c, 0);
      const cpu0 = processCpuMs(svc.child.pid);
      const run = await closedLoop(client, bodies.slice(warm), CONCURRENCY);
      const cpuMs = processCpuMs(svc.child.pid) - cpu0;
      batchResults.push({ size, run, rate: events / run.seconds, cpuPerEvent: (cpuMs * 1000) / events, cores: cpuMs / 1000 / run.seconds });
    }

    const singles = generateTraffic({ events: 200_000, seed: 11 }).events.map((e) => JSON.stringify(postedByBench(e)));
    const probe = await closedLoop(client, singles.slice(0, Math.min(singles.length, 20_000)), 64);
    const singleMax = Math.min(20_000, singles.length) / probe.seconds;
    const halfRate = singleMax / 2;
    const paced = await openLoop(client, singles.slice(20_000, 20_000 + Math.floor(halfRate * SINGLE_SECONDS)), halfRate);

    console.log('');
    console.log(`| measurement | result |`);
    console.log(`|---|---|`);
    console.log(`| raw SQLite ceiling, 100 rows/transaction (same schema, WAL, synchronous=FULL) | ${fmt(raw100)} events/s |`);
    console.log(`| raw SQLite ceiling, 1000 rows/transaction | ${fmt(raw1000)} events/s |`);
    for (const b of batchResults) {
      console.log(`| end to end, batches of ${b.size}, ${CONCURRENCY} clients, HTTPS | ${fmt(b.rate)} events/s (${fmt(b.rate / raw100, 2)} of raw@100, ${fmt(b.rate / raw1000, 2)} of raw@1000) |`);
      console.log(`| service CPU per event, batches of ${b.size} (user + system, all threads) | ${fmt(b.cpuPerEvent, 1)} µs (${fmt(b.cores, 2)} cores busy) |`);
      console.log(`| batch-of-${b.size} ack latency p50 / p99 | ${fmt(percentile(b.run.latencies, 50), 1)} ms / ${fmt(percentile(b.run.latencies, 99), 1)} ms |`);
      if (b.run.retries > 0) console.log(`| batch-of-${b.size} requests sent again after a connection error | ${b.run.retries} |`);
    }
    console.log(`| end to end, single events, 64 clients (max rate) | ${fmt(singleMax)} events/s |`);
    console.log(`| single-event ack latency at half max (${fmt(halfRate)} ev/s, open loop) p50 / p99 | ${fmt(percentile(paced.latencies, 50), 1)} ms / ${fmt(percentile(paced.latencies, 99), 1)} ms |`);
    console.log(`| non-202 answers | ${batchResults.reduce((n, b) => n + b.run.failures, 0) + probe.failures + paced.failures} |`);
    console.log(`| load average at the end (1 min) | ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores |`);
  } finally {
    client.close();
    svc.child.kill('SIGTERM');
    await new Promise((r) => svc.child.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
