/**
 * `npm run bench`: end-to-end ingest through the real HTTPS server (child process, fresh data
 * dir) with concurrent keep-alive clients, batches (100 and 500 events by default) and single events; and, in the same
 * run, the raw ceiling: the same rows inserted straight into a SQLite file with the same schema,
 * indexes and durability settings. Prints events/s, ack latency percentiles and the service's CPU
 * time per event (from /proc: the figure that does not move with other load on a shared machine).
 *
 * Options (env): BENCH_EVENTS (default 300000), BENCH_BATCH (events per request, comma-separated
 * sizes each measured in turn, default 100,500), BENCH_CONCURRENCY (16), BENCH_SINGLE_SECONDS (8),
 * BENCH_SINGLE_RATE (pace the single-event open loop at this rate instead of half the max, so that two
 * builds are compared at the same rate), BENCH_SINGLE_PROBE (single events posted to find the max single-event rate, default 20000; 0 skips
 * the single-event part, e.g. when profiling the batch path with BENCH_SERVICE_NODE_ARGS=--cpu-prof),
 * BENCH_POOL (keep-alive connections of the integration's client, default 64: a bounded pool, as
 * integrations keep, below the service's per-IP cap of 128; the open loop's requests wait in it when
 * every connection is busy, and that wait is in the latency).
 * The raw ceiling's own CPU per event (this process, sealing and hashing included) is printed next
 * to the service's, and the service's is split into its main thread (the event loop) and the rest.
 * `npm run bench -- --bus kafka` runs the Kafka path instead (kafka-ingest.bench.ts, then writer
 * scaling with 1, 2, 3 writer processes and 1 vs 8 shards, kafka-writers.bench.ts).
 *
 * `npm run bench -- --shards N` (or BENCH_CHAIN_SHARDS=N): the service runs with CHAIN_SHARDS=N and
 * the traffic comes from BENCH_SITES (default 24) integrations, each posting its own systems
 * (`<system>.site-k`, token `bench-site-k`, one site per request), so that N shards per category
 * have sources to spread over; the table adds how the records spread over the chains. Run it with
 * `--shards 1` for the figures to compare (the same traffic on one chain per category).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { AccessEvent, chainForEvent, loadConfig } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { SqliteEventStore, openDatabase } from '@app/storage';
import { TokenService, embeddedFieldProtection } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, closedLoop, fmt, machine, mainThreadCpuMs, namedThreadsCpuMs, percentile, processCpuMs, startServiceProcess } from './bench-support';
import { WRITER_THREAD_NAME } from '../libs/storage/src/sqlite/sqlite-append-thread';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 300_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const BATCH_SIZES = (process.env.BENCH_BATCH ?? '100,500').split(',').map((b) => Number(b.trim()));
const SINGLE_SECONDS = Number(process.env.BENCH_SINGLE_SECONDS ?? 8);
/** BENCH_SINGLE_RATE: pace the open loop at this rate instead of half the measured max (to compare builds at the same rate). */
const SINGLE_RATE = process.env.BENCH_SINGLE_RATE ? Number(process.env.BENCH_SINGLE_RATE) : null;
const SINGLE_PROBE = Number(process.env.BENCH_SINGLE_PROBE ?? 20_000);
const SHARDS_ARG = process.argv.indexOf('--shards') >= 0 ? process.argv[process.argv.indexOf('--shards') + 1] : process.env.BENCH_CHAIN_SHARDS;
/** CHAIN_SHARDS of the run; null: the default traffic (one token, the service's default CHAIN_SHARDS). */
const SHARDS = SHARDS_ARG === undefined ? null : Number(SHARDS_ARG);
const SITES = Number(process.env.BENCH_SITES ?? 24);
/** Keep-alive connections of the bench's integration client (BENCH_POOL). */
const POOL = Number(process.env.BENCH_POOL ?? 64);

/** Events/s and CPU µs per event (this process, all threads) of the raw ceiling. */
async function rawCeiling(events: AccessEvent[], rowsPerTransaction: number): Promise<{ rate: number; cpuPerEvent: number }> {
  const dir = benchDataDir('raw');
  // The same store the service runs: sealing patient.id / actor.ip (AES-256-GCM) is part of the ceiling.
  const store = new SqliteEventStore(openDatabase(dir), embeddedFieldProtection({ dataDir: dir }));
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < events.length; i += rowsPerTransaction) {
    const receivedAt = new Date().toISOString();
    const records = events.slice(i, i + rowsPerTransaction).map((event) => {
      const json = canonicalize(event);
      const chain = chainForEvent(event, SHARDS ?? 1);
      const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, chain, seq, receivedAt, json);
      heads.set(chain, { seq, hash });
      return { chain, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash };
    });
    await store.append(records);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { rate: events.length / seconds, cpuPerEvent: (cpu.user + cpu.system) / events.length };
}

/** Open loop: requests start on a fixed schedule whatever the answers do (no coordinated omission). */
async function openLoop(client: Pick<ApiClient, 'request'>, bodies: string[], ratePerSecond: number) {
  const latencies: number[] = [];
  let failures = 0;
  let connectionErrors = 0;
  const interval = 1000 / ratePerSecond;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      client.request('POST', '/v1/events', bodies[i]).then(
        (res) => {
          latencies.push(performance.now() - due);
          if (res.status !== 202) failures++;
        },
        // A connection the loaded service reset before answering: not sent again (the schedule is
        // fixed), counted and printed instead of ending the run.
        () => {
          connectionErrors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  return { latencies: latencies.sort((a, b) => a - b), failures, connectionErrors, seconds: (performance.now() - started) / 1000 };
}

/** One scrape of the service's /metrics (Prometheus text): sample name with labels -> value. */
async function scrapeMetrics(client: Pick<ApiClient, 'request'>): Promise<Map<string, number>> {
  const res = await client.request('GET', '/metrics');
  const out = new Map<string, number>();
  if (res.status !== 200) return out;
  for (const line of res.body.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/**
 * The p-th percentile of a Prometheus histogram between two scrapes (the upper bound of the bucket
 * it falls in; `> last bound` when beyond the last one), and the count.
 */
function histogramDelta(before: Map<string, number>, after: Map<string, number>, name: string, p: number): { count: number; bound: string } {
  const buckets: { le: number; n: number }[] = [];
  for (const [k, v] of after) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (m) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), n: v - (before.get(k) ?? 0) });
  }
  buckets.sort((a, b) => a.le - b.le);
  const count = buckets.length > 0 ? buckets[buckets.length - 1].n : 0;
  const target = (p / 100) * count;
  let bound = 'n/a';
  for (let i = 0; i < buckets.length; i++) {
    if (buckets[i].n >= target && count > 0) {
      bound = buckets[i].le === Infinity ? `> ${fmt(buckets[i - 1].le * 1000)} ms` : `<= ${fmt(buckets[i].le * 1000, 1)} ms`;
      break;
    }
  }
  return { count, bound };
}

/**
 * The synthetic traffic names several integrations, but one token posts it all: leave
 * source.integration out and the service fills in the caller (source ownership, issue 5).
 */
function postedByBench(event: AccessEvent): AccessEvent {
  return { ...event, source: { system: event.source.system } };
}

/** With --shards: request i is posted by site i mod SITES, with that site's own systems. */
function siteOf(i: number): number {
  return i % SITES;
}

function postedBySite(event: AccessEvent, site: number): AccessEvent {
  return { ...event, source: { system: `${event.source.system}.site-${site}` } };
}

/** Records per chain of the data dir (read after the service stopped). */
function recordsPerChain(dataDir: string): Map<string, number> {
  const db = new Database(path.join(dataDir, 'audit.db'), { readonly: true });
  try {
    return new Map((db.prepare('SELECT chain, COUNT(*) AS n FROM events GROUP BY chain').all() as { chain: string; n: number }[]).map((r) => [r.chain, r.n]));
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  // `npm run bench -- --bus kafka`: the Kafka path instead (kafka-ingest.bench.ts; needs KAFKA_BROKERS).
  const bus = process.argv.indexOf('--bus');
  if (bus >= 0 && process.argv[bus + 1] === 'kafka') {
    await (await import('./kafka-ingest.bench')).kafkaBench();
    if (process.env.KAFKA_BROKERS) await (await import('./kafka-writers.bench')).kafkaWritersBench();
    process.exit(0); // kafkajs may keep sockets or timers; the run is over
  }
  if (SHARDS !== null && !(Number.isInteger(SHARDS) && SHARDS >= 1 && SHARDS <= 64)) {
    console.error(`--shards / BENCH_CHAIN_SHARDS must be a whole number from 1 to 64 (got "${SHARDS_ARG}")`);
    process.exit(2);
  }
  const dataDir = benchDataDir('ingest');
  console.log(`Ingest benchmark on ${machine()}${SHARDS === null ? '' : `, CHAIN_SHARDS=${SHARDS}, traffic from ${SITES} integrations`}`);
  console.log(`Generating ${fmt(TOTAL)} synthetic events...`);
  // Every batch size posts its own events (fresh ids: a repeated id would be a cheap duplicate).
  const batchRuns = BATCH_SIZES.map((size, k) => {
    const events = generateTraffic({ events: TOTAL, seed: 7 + 1000 * k }).events;
    const bodies: string[] = [];
    const counts: number[] = [];
    for (let i = 0; i < events.length; i += size) {
      const chunk = events.slice(i, i + size);
      const site = siteOf(bodies.length);
      bodies.push(JSON.stringify({ events: chunk.map((e) => (SHARDS === null ? postedByBench(e) : postedBySite(e, site))) }));
      counts.push(chunk.length);
    }
    return { size, bodies, counts };
  });

  const raw100 = await rawCeiling(generateTraffic({ events: Math.min(TOTAL, 200_000), seed: 8 }).events, 100);
  const raw1000 = await rawCeiling(generateTraffic({ events: Math.min(TOTAL, 200_000), seed: 9 }).events, 1000);

  // The limiter runs (its cost is measured) but never throttles: the bench measures capacity.
  const svc = await startServiceProcess({ DATA_DIR: dataDir, RATE_LIMIT_EVENTS_PER_SECOND: '10000000', ...(SHARDS === null ? {} : { CHAIN_SHARDS: String(SHARDS), HTTP_MAX_CONNECTIONS_PER_IP: '4096' }) });
  // (--shards: one keep-alive pool per site token, all from 127.0.0.1: above the default per-IP cap of 128.)
  const tokens = new TokenService(loadConfig({}, { dataDir }));
  const token = await tokens.issue({ role: 'integration', sub: 'bench', ttl: '1h' });
  // One integration, one bounded keep-alive pool (BENCH_POOL connections, default 64), below the
  // service's per-IP cap (HTTP_MAX_CONNECTIONS_PER_IP, 128): requests beyond the pool wait in it, and the
  // open loop counts that wait (latency from the due time), as an integration's client would see it.
  const bench = new ApiClient(svc.url, token, { caPem: localCa(dataDir), maxSockets: POOL });
  // --shards: one client per site (its own token); a body goes out through the client of its site.
  const sites: ApiClient[] = [];
  const siteOfBody = new Map<string, number>();
  if (SHARDS !== null) {
    for (let k = 0; k < SITES; k++) sites.push(new ApiClient(svc.url, await tokens.issue({ role: 'integration', sub: `bench-site-${k}`, ttl: '1h' }), { caPem: localCa(dataDir), maxSockets: 64 }));
    for (const run of batchRuns) run.bodies.forEach((b, i) => siteOfBody.set(b, siteOf(i)));
  }
  const client: Pick<ApiClient, 'request'> =
    SHARDS === null ? bench : { request: (method, url, body) => sites[typeof body === 'string' ? (siteOfBody.get(body) ?? 0) : 0].request(method, url, body) };
  let spread = '';
  try {
    // Rows are printed as they are measured: a run cut short (say, a client giving up on a loaded
    // machine during the single-event part) still shows what it measured.
    console.log('');
    console.log(`| measurement | result |`);
    console.log(`|---|---|`);
    console.log(`| raw SQLite ceiling, 100 rows/transaction (same schema, WAL, synchronous=FULL) | ${fmt(raw100.rate)} events/s, ${fmt(raw100.cpuPerEvent, 1)} µs CPU per event |`);
    console.log(`| raw SQLite ceiling, 1000 rows/transaction | ${fmt(raw1000.rate)} events/s, ${fmt(raw1000.cpuPerEvent, 1)} µs CPU per event |`);
    const batchResults = [];
    for (const { size, bodies, counts } of batchRuns) {
      // Warm-up: the first 5,000 events of each size.
      const warm = Math.ceil(5000 / size);
      await closedLoop(client, bodies.slice(0, warm), CONCURRENCY);
      const events = counts.slice(warm).reduce((n, c) => n + c, 0);
      const g0 = await scrapeMetrics(bench);
      const cpu0 = processCpuMs(svc.child.pid);
      const main0 = mainThreadCpuMs(svc.child.pid);
      const writer0 = namedThreadsCpuMs(svc.child.pid, WRITER_THREAD_NAME);
      const run = await closedLoop(client, bodies.slice(warm), CONCURRENCY);
      const cpuMs = processCpuMs(svc.child.pid) - cpu0;
      const mainMs = mainThreadCpuMs(svc.child.pid) - main0;
      const writerMs = namedThreadsCpuMs(svc.child.pid, WRITER_THREAD_NAME) - writer0;
      const g1 = await scrapeMetrics(bench);
      const groupDelta = (k: string) => (g1.get(`audit_commit_group_events_${k}`) ?? NaN) - (g0.get(`audit_commit_group_events_${k}`) ?? NaN);
      const b = { size, run, rate: events / run.seconds, cpuPerEvent: (cpuMs * 1000) / events, mainPerEvent: (mainMs * 1000) / events, writerPerEvent: (writerMs * 1000) / events, cores: cpuMs / 1000 / run.seconds };
      batchResults.push(b);
      console.log(`| end to end, batches of ${b.size}, ${CONCURRENCY} clients, HTTPS | ${fmt(b.rate)} events/s (${fmt(b.rate / raw100.rate, 2)} of raw@100, ${fmt(b.rate / raw1000.rate, 2)} of raw@1000) |`);
      console.log(
        `| service CPU per event, batches of ${b.size} (user + system, all threads) | ${fmt(b.cpuPerEvent, 1)} µs (${fmt(b.cores, 2)} cores busy; main thread ${fmt(b.mainPerEvent, 1)} µs, other threads ${fmt(b.cpuPerEvent - b.mainPerEvent, 1)} µs${Number.isNaN(b.writerPerEvent) ? '' : ` of which the writer thread ${fmt(b.writerPerEvent, 1)} µs`}; ${fmt(b.cpuPerEvent / raw1000.cpuPerEvent, 2)}x the raw@1000 CPU per event) |`,
      );
      console.log(`| batch-of-${b.size} ack latency p50 / p99 | ${fmt(percentile(b.run.latencies, 50), 1)} ms / ${fmt(percentile(b.run.latencies, 99), 1)} ms |`);
      console.log(`| batch-of-${b.size} group commits (one fsync'd transaction each) | ${fmt(groupDelta('count'))}, ${fmt(groupDelta('sum') / groupDelta('count'))} events each on average |`);
      if (b.run.retries > 0) console.log(`| batch-of-${b.size} requests sent again after a connection error | ${b.run.retries} |`);
    }

    let single: { max: number; halfRate: number; failures: number; paced: { latencies: number[]; connectionErrors: number }; service: { m0: Map<string, number>; m1: Map<string, number> }; cpu: { probe: number; paced: number; probeMain: number; pacedMain: number } } | null = null;
    if (SINGLE_PROBE > 0) {
      const singles = generateTraffic({ events: SINGLE_PROBE + 180_000, seed: 11 }).events.map((e, i) => {
        const body = JSON.stringify(SHARDS === null ? postedByBench(e) : postedBySite(e, siteOf(i)));
        if (SHARDS !== null) siteOfBody.set(body, siteOf(i));
        return body;
      });
      const probeCpu0 = processCpuMs(svc.child.pid);
      const probeMain0 = mainThreadCpuMs(svc.child.pid);
      const probe = await closedLoop(client, singles.slice(0, SINGLE_PROBE), 64);
      const probeCpuPerEvent = ((processCpuMs(svc.child.pid) - probeCpu0) * 1000) / SINGLE_PROBE;
      const probeMainPerEvent = ((mainThreadCpuMs(svc.child.pid) - probeMain0) * 1000) / SINGLE_PROBE;
      const max = SINGLE_PROBE / probe.seconds;
      const halfRate = SINGLE_RATE ?? max / 2;
      // What the service saw during the open loop (its /metrics scraped just before and after; the
      // event-loop delay histogram is reset by each scrape): event-loop delay, group commit duration,
      // connections its per-IP cap refused.
      const m0 = await scrapeMetrics(bench);
      const pacedBodies = singles.slice(SINGLE_PROBE, SINGLE_PROBE + Math.floor(halfRate * SINGLE_SECONDS));
      const pacedCpu0 = processCpuMs(svc.child.pid);
      const pacedMain0 = mainThreadCpuMs(svc.child.pid);
      const paced = await openLoop(client, pacedBodies, halfRate);
      const pacedCpuPerEvent = ((processCpuMs(svc.child.pid) - pacedCpu0) * 1000) / pacedBodies.length;
      const pacedMainPerEvent = ((mainThreadCpuMs(svc.child.pid) - pacedMain0) * 1000) / pacedBodies.length;
      const m1 = await scrapeMetrics(bench);
      single = { max, halfRate, failures: probe.failures + paced.failures, paced, service: { m0, m1 }, cpu: { probe: probeCpuPerEvent, paced: pacedCpuPerEvent, probeMain: probeMainPerEvent, pacedMain: pacedMainPerEvent } };
    }

    if (single) {
      console.log(`| end to end, single events, 64 clients (max rate) | ${fmt(single.max)} events/s (service CPU ${fmt(single.cpu.probe, 1)} µs per event, main thread ${fmt(single.cpu.probeMain, 1)} µs; at ${SINGLE_RATE === null ? 'half max' : `${fmt(SINGLE_RATE)} ev/s`} ${fmt(single.cpu.paced, 1)} µs, main thread ${fmt(single.cpu.pacedMain, 1)} µs) |`);
      console.log(
        `| single-event ack latency at ${SINGLE_RATE === null ? 'half max' : 'BENCH_SINGLE_RATE'} (${fmt(single.halfRate)} ev/s, open loop, ${SHARDS === null ? `one pool of ${POOL} connections` : `${SITES} pools`}) p50 / p95 / p99 | ${fmt(percentile(single.paced.latencies, 50), 1)} ms / ${fmt(percentile(single.paced.latencies, 95), 1)} ms / ${fmt(percentile(single.paced.latencies, 99), 1)} ms |`,
      );
      if (single.paced.connectionErrors > 0) console.log(`| single events at half max reset on the connection (no answer, not sent again) | ${single.paced.connectionErrors} |`);
      const { m0, m1 } = single.service;
      const lag = (k: string) => fmt((m1.get(`audit_process_nodejs_eventloop_lag_${k}_seconds`) ?? NaN) * 1000, 1);
      const commits = histogramDelta(m0, m1, 'audit_commit_duration_seconds', 99);
      const acks = histogramDelta(m0, m1, 'audit_ingest_ack_duration_seconds', 99);
      const refused = (m1.get('audit_http_connections_refused_total{cap="per_ip"}') ?? 0) - (m0.get('audit_http_connections_refused_total{cap="per_ip"}') ?? 0);
      console.log(`| service during the half-max part: event-loop delay p99 / max | ${lag('p99')} ms / ${lag('max')} ms |`);
      console.log(`| service during the half-max part: group commits, p99 duration; ack p99 (queue + commit) | ${fmt(commits.count)} commits, ${commits.bound}; ${acks.bound} |`);
      console.log(`| service during the half-max part: connections refused by its per-IP cap (HTTP_MAX_CONNECTIONS_PER_IP) | ${fmt(refused)} |`);
    }
    console.log(`| non-202 answers | ${batchResults.reduce((n, b) => n + b.run.failures, 0) + (single?.failures ?? 0)} |`);
    console.log(`| load average at the end (1 min) | ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores |`);
  } finally {
    bench.close();
    for (const c of sites) c.close();
    svc.child.kill('SIGTERM');
    await new Promise((r) => svc.child.once('exit', r));
    if (SHARDS !== null) {
      const perChain = recordsPerChain(dataDir);
      const dataAccess = [...perChain].filter(([c]) => c === 'data_access' || c.startsWith('data_access.')).map(([, n]) => n);
      spread = `| chains written (CHAIN_SHARDS=${SHARDS}) | ${perChain.size - (perChain.has('access_log') ? 1 : 0)} event chains; data_access over ${dataAccess.length} chain(s), ${fmt(Math.min(...dataAccess))} to ${fmt(Math.max(...dataAccess))} records each |`;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (spread) console.log(spread);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
