/**
 * `npm run bench:detect` (after `npm run build`): detection performance.
 * 1. Engine throughput: events/s through DetectionEngine with the default rule set on one core
 *    (the seed traffic of three working days), alone and with the per-event JSON decode the
 *    streaming worker adds when it reads events back from the store.
 * 2. Alert delay end to end: the real HTTPS server in a child process ingests traffic OFFERED at a
 *    fixed rate (open loop: batches start on schedule whatever the answers do, so a server that
 *    cannot keep up shows as a lower achieved rate and growing ack latency, not as a slower client;
 *    default 20,000 events/s in batches of BENCH_BATCH from 20,000 users, each event stamped with
 *    the time it is sent, as live traffic is: the clock of the last working day from 10:00, so it is
 *    working hours whenever the bench runs) while the bench posts "probe" events that complete an
 *    alert (a behavioral-health record read for payment, one alert per event; the 10th denial of a
 *    burst whose first 9 went ahead; not break-glass, whose floods from one integration are folded
 *    to 11 alerts a minute), and measures
 *    from the probe's 202 (acknowledgement) until GET /v1/alerts lists the alert. Per offered rate
 *    it prints the achieved rate, whether the service kept up, ack latency and alert delay
 *    p50/p95/p99/max, and detection's lag at the end. The server's closed-loop ingest capacity is
 *    measured first (6 s) and printed for reference. BENCH_DETECT_RATE takes a comma-separated
 *    list (e.g. 3000,8000,20000) to find the highest rate this machine sustains, run lowest first
 *    against the same server.
 * 3. The detection snapshot's hold on the event loop (engine fed with `npm run bench`'s traffic): built
 *    in one call and serialized in one JSON.stringify, against built and serialized in turns as the
 *    streaming worker and the stores do; the longest turn is what a request arriving meanwhile waits.
 *    BENCH_DETECT_PART=snapshot runs only this part (engine: parts 1 and 3; delay: part 2).
 * 4. BENCH_DETECT_PART=tail (only when asked): the streaming worker's CPU per event as the embedded service runs
 *    it, with the positions of each commit handed over and with the read-back by id (see detectionTail).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent, loadConfig } from '@app/core';
import { ContextIndex } from '@app/context';
import { DetectionEngine, loadRules, withRuleOverrides } from '@app/detection';
import { jsonInTurns } from '../libs/detection/src/service/json-in-turns';
import { DetectionWorker } from '../libs/detection/src/service/detection-worker';
import { SnapshotWriterThread } from '../libs/detection/src/service/snapshot-writer-thread';
import { SqliteAlertStore } from '../libs/detection/src/service/sqlite-alert-store';
import { SqliteDetectionProgressStore } from '../libs/detection/src/service/sqlite-detection-state';
import { embeddedFieldProtection, embeddedTextSealer, TokenService } from '@app/security';
import { ChainedRecord, openDatabase, SqliteEventStore } from '@app/storage';
import { generateTraffic, lastWorkingDay } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { benchDataDir, ChainHeads, chainRecord, fmt, machine, percentile, processCpuMs, REPO_ROOT, startServiceProcess } from './bench-support';

const EVENTS_PER_DAY = Number(process.env.BENCH_ENGINE_EVENTS_PER_DAY ?? 200_000);
/** Lowest first: a rate the server cannot keep up with leaves a backlog that would burden the next one. */
const RATES = (process.env.BENCH_DETECT_RATE ?? '20000')
  .split(',')
  .map((r) => Number(r.trim()))
  .sort((a, b) => a - b);
const SECONDS = Number(process.env.BENCH_DETECT_SECONDS ?? 30);
const PROBE_EVERY_MS = Number(process.env.BENCH_PROBE_EVERY_MS ?? 150);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const PART = process.env.BENCH_DETECT_PART ?? 'all';
const SNAPSHOT_EVENTS = Number(process.env.BENCH_SNAPSHOT_EVENTS ?? 180_000);

const rules = loadRules(path.join(REPO_ROOT, 'detection-rules'), { runbooksDir: path.join(REPO_ROOT, 'runbooks') });
const engineOptions = { allowedLateness: '2m', defaultTimeZone: 'UTC' };

interface Throughput {
  median: number;
  best: number;
}

function engineThroughput(): { plain: Throughput; decoded: Throughput; events: number; alerts: number } {
  // Three consecutive working days (weekend traffic would be after-hours by definition).
  const days: Date[] = [lastWorkingDay()];
  while (days.length < 3) days.unshift(lastWorkingDay(days[0]));
  const events: AccessEvent[] = days.flatMap((day, d) => generateTraffic({ events: EVENTS_PER_DAY, seed: 100 + d, day }).events);
  const texts = events.map((e) => JSON.stringify(e));
  const received = events.map((e) => e.occurredAt);
  const run = (decode: boolean): { rate: number; alerts: number } => {
    const engine = new DetectionEngine(rules, engineOptions);
    let alerts = 0;
    const started = performance.now();
    for (let i = 0; i < events.length; i++) {
      const event = decode ? (JSON.parse(texts[i]) as AccessEvent) : events[i];
      alerts += engine.process(event, i, received[i]).length;
    }
    return { rate: events.length / ((performance.now() - started) / 1000), alerts };
  };
  const runs = (decode: boolean): { rates: Throughput; alerts: number } => {
    run(decode); // warm-up (JIT)
    const results = Array.from({ length: 5 }, () => run(decode)).sort((a, b) => a.rate - b.rate);
    return { rates: { median: results[2].rate, best: results[4].rate }, alerts: results[0].alerts };
  };
  const plain = runs(false);
  const decoded = runs(true);
  return { plain: plain.rates, decoded: decoded.rates, events: events.length, alerts: plain.alerts };
}

/** The bench posts everything with one token: the service fills in source.integration. */
function posted(event: AccessEvent): AccessEvent {
  return { ...event, source: { system: event.source.system } };
}

/** Alert ids are deterministic: a local engine fed the probe's group gives the id the server will store. */
function expectedAlertId(ruleId: string, groupEvents: AccessEvent[]): string {
  const engine = new DetectionEngine(rules.filter((r) => r.id === ruleId), engineOptions);
  const alerts = groupEvents.flatMap((e, i) => [...engine.process(e, i, e.occurredAt)]);
  if (alerts.length !== 1) throw new Error(`probe for ${ruleId} raises ${alerts.length} alerts locally`);
  return alerts[0].id;
}

/** One request whose last event completes an alert; its acknowledgement starts the clock. */
interface Probe {
  ruleId: string;
  alertId: string;
  occurredAt: string;
  body: string;
}

function makeProbe(n: number, occurredAt: string): Probe {
  const t = Date.parse(occurredAt);
  const base = { source: { system: 'ehr-gateway' }, resource: { type: 'Observation' } };
  const id = (k: number) => `b0b0${String(n).padStart(4, '0')}-0000-4000-8000-${String(k).padStart(12, '0')}`;
  if (n % 2 === 0) {
    const probe: AccessEvent = {
      ...base, id: id(0), occurredAt, category: 'data_access', action: 'read', outcome: 'success', sensitivity: ['behavioral_health'],
      actor: { id: `u-probe-${n}`, type: 'user', role: 'physician', ip: '10.99.0.1' }, patient: { id: `MRN-P${n}` }, purpose: 'PAYMENT',
    };
    return { ruleId: 'sensitive-segment-without-treatment', alertId: expectedAlertId('sensitive-segment-without-treatment', [probe]), occurredAt, body: JSON.stringify(probe) };
  }
  const denial = (k: number, at: number): AccessEvent => ({
    ...base, id: id(k), occurredAt: new Date(at).toISOString(), category: 'data_access', action: 'read', outcome: 'denied',
    actor: { id: `u-probe-${n}`, type: 'user', role: 'nurse', ip: '10.99.0.2' }, patient: { id: `MRN-D${n}-${k}` }, purpose: 'TREAT',
  });
  // Nine denials, then the tenth that reaches the threshold, in one request (event time order).
  const burst = [...Array.from({ length: 9 }, (_, k) => denial(k + 1, t - (9 - k) * 1000)), denial(10, t)];
  return { ruleId: 'permission-denial-burst', alertId: expectedAlertId('permission-denial-burst', burst), occurredAt, body: JSON.stringify({ events: burst }) };
}

/** Event time of live traffic: advances with the wall clock, from 10:00 UTC on the last working day. */
const EVENT_CLOCK_BASE = lastWorkingDay().getTime() + 10 * 3_600_000;
const WALL_CLOCK_BASE = Date.now();
function eventNow(): string {
  return new Date(EVENT_CLOCK_BASE + (Date.now() - WALL_CLOCK_BASE)).toISOString();
}

/** Live traffic: the events of a request happen now. */
function stampNow(events: AccessEvent[]): AccessEvent[] {
  const now = eventNow();
  for (const e of events) e.occurredAt = now;
  return events;
}

/** Closed loop (16 batches in flight) for `seconds`: the ingest rate the server sustains here and now. */
async function ingestCapacity(client: ApiClient, events: AccessEvent[], seconds: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < events.length && performance.now() - started < seconds * 1000) {
        const chunk = stampNow(events.slice(next, next + BATCH));
        next += chunk.length;
        const res = await send(client, 'POST', '/v1/events', { events: chunk }, 'POST batch');
        if (res.status === 202) done += chunk.length;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** Figures of one offered rate. */
interface RateResult {
  rate: number;
  seconds: number;
  acked: number;
  failures: number;
  /** Non-202 answers by status (0: no answer). */
  failureStatuses: Map<number, number>;
  ackLatencies: number[];
  delays: number[];
  storedAfterAck: number[];
  missed: Probe[];
  evaluated: number;
  lag: number;
  /** Service CPU (user + system, all threads) per acknowledged event, µs. */
  cpuPerEvent: number;
  coresBusy: number;
}

/** Connection errors by kind (retried): printed after the table. */
const connectionErrors = new Map<string, number>();

/** Retries a request that failed on the connection (not on an HTTP status); ingestion is idempotent on id. */
async function send(client: ApiClient, method: string, url: string, body: unknown, what: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.request(method, url, body);
    } catch (error) {
      const key = `${what}: ${(error as Error)?.message ?? String(error)}`;
      connectionErrors.set(key, (connectionErrors.get(key) ?? 0) + 1);
      if (attempt >= 3) throw error;
    }
  }
}

let probes = 0;

/** `rate` events/s offered for SECONDS (open loop, batches of BATCH) with probes; the first 2 s are warm-up. */
async function measureAt(ingest: ApiClient, analyst: ApiClient, events: AccessEvent[], rate: number, servicePid: number | undefined): Promise<RateResult> {
  const ackLatencies: number[] = [];
  const delays: number[] = [];
  const missed: Probe[] = [];
  let failures = 0;
  const failureStatuses = new Map<number, number>();
  const fail = (status: number) => {
    failures++;
    failureStatuses.set(status, (failureStatuses.get(status) ?? 0) + 1);
  };
  let acked = 0;

  /**
   * One poller for every acknowledged probe: while probes are outstanding, a GET /v1/alerts (from
   * the oldest outstanding probe's event time) starts every POLL_MS, with at most POLLS_IN_FLIGHT
   * in flight. Reads overlap because each answer waits for its own access-log record to be durable
   * (a group commit, tens of ms under load): one read at a time would add the wait for the read
   * already in flight (issued before the alert was stored) to every delay. The load stays bounded
   * (at most 1000 / POLL_MS reads/s, each itself recorded in the access log), and there is none
   * while no probe is outstanding.
   */
  const outstanding = new Map<string, { probe: Probe; ackAt: number; ackWall: number }>();
  /** Alert's createdAt (stored by the worker) minus the probe's acknowledgement, wall clock: detection alone. */
  const storedAfterAck: number[] = [];
  let posting = true;
  const POLL_MS = 10;
  const POLLS_IN_FLIGHT = 4;
  const poll = async (): Promise<void> => {
    let oldest = Infinity;
    for (const { probe } of outstanding.values()) oldest = Math.min(oldest, Date.parse(probe.occurredAt));
    const res = await send(analyst, 'GET', `/v1/alerts?from=${encodeURIComponent(new Date(oldest - 1000).toISOString())}&limit=1000`, undefined, 'GET /v1/alerts');
    const now = performance.now();
    const listed = new Map<string, string>();
    if (res.status === 200) for (const a of (JSON.parse(res.body) as { alerts: { id: string; createdAt: string }[] }).alerts) listed.set(a.id, a.createdAt);
    for (const [id, { probe, ackAt, ackWall }] of outstanding) {
      if (listed.has(id)) {
        delays.push(now - ackAt);
        storedAfterAck.push(Date.parse(listed.get(id)!) - ackWall);
        outstanding.delete(id);
      } else if (now - ackAt > 30_000) {
        delays.push(Infinity);
        missed.push(probe);
        outstanding.delete(id);
      }
    }
  };
  const poller = (async () => {
    const running = new Set<Promise<void>>();
    let failed: { error: unknown } | null = null;
    while ((posting || outstanding.size > 0) && !failed) {
      if (outstanding.size > 0 && running.size < POLLS_IN_FLIGHT) {
        const p: Promise<void> = poll()
          .catch((error: unknown) => void (failed ??= { error }))
          .finally(() => running.delete(p));
        running.add(p);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    await Promise.all(running);
    if (failed) throw (failed as { error: unknown }).error;
  })();

  const interval = (1000 * BATCH) / rate;
  const cpu0 = processCpuMs(servicePid);
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  let nextProbeAt = started + 2000;
  let lastAck = started;
  for (let i = 0, b = 0; i < events.length; i += BATCH, b++) {
    const due = started + b * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const chunk = stampNow(events.slice(i, i + BATCH));
    const measured = performance.now() - started > 2000;
    inflight.push(
      send(ingest, 'POST', '/v1/events', { events: chunk }, 'POST batch').then((res) => {
        lastAck = performance.now();
        if (measured) ackLatencies.push(lastAck - due);
        if (res.status !== 202) fail(res.status);
        else acked += chunk.length;
      }),
    );
    if (performance.now() >= nextProbeAt && performance.now() < started + SECONDS * 1000 - 1000) {
      nextProbeAt += PROBE_EVERY_MS;
      const probe = makeProbe(probes++, eventNow());
      inflight.push(
        send(ingest, 'POST', '/v1/events', probe.body, 'POST probe').then((res) => {
          const ackAt = performance.now();
          if (res.status !== 202) fail(res.status);
          else outstanding.set(probe.alertId, { probe, ackAt, ackWall: Date.now() });
        }),
      );
    }
  }
  await Promise.all(inflight);
  const seconds = (lastAck - started) / 1000;
  const cpuMs = processCpuMs(servicePid) - cpu0;
  posting = false;
  await poller;
  const metrics = (await analyst.request('GET', '/metrics')).body;
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  const sort = (xs: number[]) => xs.sort((a, b) => a - b);
  return {
    rate, seconds, acked, failures, failureStatuses, missed,
    ackLatencies: sort(ackLatencies), delays: sort(delays), storedAfterAck: sort(storedAfterAck),
    evaluated: metric('audit_detection_events_total'), lag: metric('audit_detection_lag_events'),
    cpuPerEvent: (cpuMs * 1000) / Math.max(1, acked), coresBusy: cpuMs / 1000 / seconds,
  };
}

/** Kept up: the events offered were acknowledged at (nearly) the offered rate, all with 202, and detection is not behind. */
function keptUp(r: RateResult): string {
  const achieved = r.acked / r.seconds;
  const why: string[] = [];
  if (achieved < 0.97 * r.rate) why.push(`achieved ${fmt((100 * achieved) / r.rate)}% of the offered rate`);
  if (r.failures > 0) why.push(`${r.failures} non-202 answers (${[...r.failureStatuses].map(([status, n]) => `${status}: ${n}`).join(', ')})`);
  if (r.lag > r.rate) why.push(`detection ${fmt(r.lag)} events behind`);
  if (r.missed.length > 0) why.push(`${r.missed.length} alerts not listed within 30 s`);
  return why.length === 0 ? 'yes' : `no (${why.join('; ')})`;
}

async function alertDelay(): Promise<void> {
  const dataDir = benchDataDir('detect');
  const users = 20_000;
  const warmup = generateTraffic({ events: 200_000, seed: 22, suspicious: false, users }).events.map(posted);
  const svc = await startServiceProcess({ DATA_DIR: dataDir, RATE_LIMIT_EVENTS_PER_SECOND: '0', LOG_LEVEL: 'warn' });
  const config = loadConfig({}, { dataDir });
  const tokens = new TokenService(config);
  const ingest = new ApiClient(svc.url, await tokens.issue({ role: 'integration', sub: 'bench', ttl: '1h' }), { caPem: localCa(dataDir), maxSockets: 256 });
  const analyst = new ApiClient(svc.url, await tokens.issue({ role: 'soc_analyst', sub: 'bench-analyst', ttl: '1h' }), { caPem: localCa(dataDir), maxSockets: 16 });
  const results: RateResult[] = [];
  let capacity = NaN;
  try {
    capacity = await ingestCapacity(ingest, warmup, 6);
    console.log(`Ingest capacity measured (closed loop, 16 batches of ${BATCH} in flight): ${fmt(capacity)} events/s.`);
    for (let k = 0; k < RATES.length; k++) {
      const rate = RATES[k];
      console.log(`Offering ${fmt(rate)} events/s for ${SECONDS} s (batches of ${BATCH}, open loop)...`);
      const events = generateTraffic({ events: rate * SECONDS, seed: 21 + 100 * k, suspicious: false, users }).events.map(posted);
      results.push(await measureAt(ingest, analyst, events, rate, svc.child.pid));
    }
    console.log('');
    console.log(`| offered (open loop, batches of ${BATCH}, HTTPS) | achieved | kept up | batch ack p50 / p95 / p99 | alert readable after the ack of the completing event, p50 / p95 / p99 / max | of which detection (alert createdAt after ack) p50 / p99 | probes | detection evaluated / lag at the end | service CPU per event (cores busy) |`);
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      const ms = (xs: number[], p: number) => fmt(percentile(xs, p), 0);
      console.log(
        `| ${fmt(r.rate)} events/s | ${fmt(r.acked / r.seconds)} events/s over ${fmt(r.seconds, 1)} s | ${keptUp(r)} | ` +
          `${ms(r.ackLatencies, 50)} / ${ms(r.ackLatencies, 95)} / ${ms(r.ackLatencies, 99)} ms | ` +
          `${ms(r.delays, 50)} / ${ms(r.delays, 95)} / ${ms(r.delays, 99)} / ${fmt(r.delays[r.delays.length - 1], 0)} ms | ` +
          `${ms(r.storedAfterAck, 50)} / ${ms(r.storedAfterAck, 99)} ms | ${r.delays.length} | ${fmt(r.evaluated)} / ${fmt(r.lag)} | ${fmt(r.cpuPerEvent, 0)} µs (${fmt(r.coresBusy, 2)}) |`,
      );
    }
    console.log(`| closed-loop ingest capacity measured first | ${fmt(capacity)} events/s | | | | | | | |`);
    console.log(`| load average at the end (1 min) | ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores | | | | | | | |`);
    for (const [what, n] of connectionErrors) console.log(`| connection errors (retried): ${what} | ${n} | | | | | | | |`);
    const missed = results.flatMap((r) => r.missed);
    if (process.env.BENCH_DEBUG) {
      console.log((await analyst.request('GET', '/v1/detection/status')).body);
      for (const p of missed.slice(0, 3)) {
        const actor = /u-probe-\d+/.exec(p.body)![0];
        const all = JSON.parse((await analyst.request('GET', `/v1/alerts?rule=${p.ruleId}&limit=1000`)).body) as { alerts: { id: string; groupKey: Record<string, unknown>; windowEnd: string; count: number }[] };
        console.log(p.alertId, p.occurredAt, JSON.stringify(all.alerts.filter((a) => a.groupKey['actor.id'] === actor)));
      }
    }
  } finally {
    ingest.close();
    analyst.close();
    svc.child.kill('SIGTERM');
    await new Promise((r) => svc.child.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs `work` while a setImmediate ticker measures the longest stretch the event loop was held (ms). */
async function longestTurn<T>(work: () => Promise<T> | T): Promise<{ value: T; totalMs: number; longestMs: number; turns: number }> {
  let longest = 0;
  let turns = 0;
  let last = performance.now();
  let ticking = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const started = performance.now();
  const value = await work();
  const totalMs = performance.now() - started;
  // The stretch up to the end of the work counts too (a synchronous call is one stretch).
  longest = Math.max(longest, performance.now() - last);
  ticking = false;
  await new Promise((r) => setImmediate(r));
  return { value, totalMs, longestMs: longest, turns };
}

/**
 * The detection snapshot the streaming worker takes every DETECTION_SNAPSHOT_MS, on an engine fed
 * with the state `npm run bench`'s service holds when its single-event part runs (BENCH_SNAPSHOT_EVENTS,
 * default 180,000 events of its one-day traffic, seed 7: busy windows): built in one call (snapshot()) and serialized in one
 * JSON.stringify, against built in turns (snapshotInTurns, as the worker does) and serialized in
 * turns (jsonInTurns, as the stores do). "Longest turn" is the longest stretch the event loop was
 * held meanwhile (a setImmediate ticker): what a request arriving then waits. Best of 3 each.
 */
async function snapshotTurns(): Promise<void> {
  const engine = new DetectionEngine(rules, engineOptions);
  let position = 0;
  // Received within seconds of each other, as the service receives the bench's posts.
  const receivedAt = new Date().toISOString();
  for (const e of generateTraffic({ events: SNAPSHOT_EVENTS, seed: 7 }).events) engine.process(posted(e), position++, receivedAt);
  const best = async <T>(work: () => Promise<T> | T) => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await longestTurn(work));
    return runs.sort((a, b) => a.longestMs - b.longestMs)[0];
  };
  const once = await best(() => engine.snapshot());
  const inTurns = await best(() => engine.snapshotInTurns());
  const text = JSON.stringify(once.value);
  const stringify = await best(() => JSON.stringify(once.value));
  const jsonTurns = await best(() => jsonInTurns(once.value));
  console.log(`| detection snapshot (${fmt(position)} events evaluated, ${fmt(text.length / 1e6, 1)} MB of JSON, ${fmt(once.value.events.length)} event refs): built in one call | ${fmt(once.totalMs, 1)} ms, the event loop held ${fmt(once.longestMs, 1)} ms |`);
  console.log(`| detection snapshot built in turns (snapshotInTurns, as the worker does) | ${fmt(inTurns.totalMs, 1)} ms in ${fmt(inTurns.turns)} turns, longest turn ${fmt(inTurns.longestMs, 1)} ms |`);
  console.log(`| detection snapshot serialized in one JSON.stringify | ${fmt(stringify.totalMs, 1)} ms, the event loop held ${fmt(stringify.longestMs, 1)} ms |`);
  console.log(`| detection snapshot serialized in turns (jsonInTurns, as the stores do) | ${fmt(jsonTurns.totalMs, 1)} ms in ${fmt(jsonTurns.turns)} turns, longest turn ${fmt(jsonTurns.longestMs, 1)} ms |`);
}

/**
 * Part 4 (BENCH_DETECT_PART=tail): the streaming worker as the embedded service runs it (real SQLite store,
 * alert and progress stores, snapshot writer thread, default rules, the empty context of `npm run bench`), fed
 * `npm run bench`'s traffic in committed groups of 900, one group at a time, as the chain writer hands them
 * over: with the positions the store gave each group (rememberAt), and by id (remember, then reading positions
 * and ids back). The store is filled first; what is measured is the process's CPU (all threads) from the first
 * group handed over until the worker has stopped (final snapshot written), per event. BENCH_TAIL_EVENTS
 * (100,000), BENCH_TAIL_RATE (groups arrive at this many events/s, so periodic snapshots fall as in the service;
 * default: as fast as the worker takes them).
 */
async function detectionTail(): Promise<void> {
  const total = Number(process.env.BENCH_TAIL_EVENTS ?? 100_000);
  const rate = process.env.BENCH_TAIL_RATE ? Number(process.env.BENCH_TAIL_RATE) : null;
  const run = async (handOver: 'positions' | 'ids'): Promise<{ cpuUs: number; alerts: number }> => {
    const dir = benchDataDir('tail');
    const db = openDatabase(dir);
    const store = new SqliteEventStore(db, embeddedFieldProtection({ dataDir: dir }));
    const events = generateTraffic({ events: total, seed: 7 }).events.map((e) => ({ ...e, source: { system: e.source.system, integration: 'bench' } }));
    const heads: ChainHeads = new Map();
    const groups: { records: ChainedRecord[]; first: number | undefined }[] = [];
    for (let i = 0; i < events.length; i += 900) {
      const receivedAt = new Date().toISOString();
      const records = events.slice(i, i + 900).map((e) => chainRecord(heads, e, receivedAt));
      const appended = await store.append(records);
      groups.push({ records, first: appended ? appended.firstPosition : undefined });
    }
    const alerts = new SqliteAlertStore(db, embeddedTextSealer({ dataDir: dir }));
    const writer = SnapshotWriterThread.available() ? new SnapshotWriterThread({ dataDir: dir }) : undefined;
    const progress = new SqliteDetectionProgressStore(db, alerts, 'engine', embeddedTextSealer({ dataDir: dir }), writer);
    const source = { readSince: (a: number, l: number) => store.readSince(a, l), lastPosition: () => store.lastPosition(), readIdsSince: (a: number, l: number) => store.readIdsSince(a, l) };
    const overrides = { state: () => ({ disabled: new Map(), exceptions: [] }) };
    const context = new ContextIndex();
    const worker = new DetectionWorker(() => withRuleOverrides(new DetectionEngine(rules, { ...engineOptions, context }), overrides), source, progress, { snapshotEveryEvents: 50_000, snapshotEveryMs: 5_000 });
    worker.start();
    await worker.caughtUp();
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    for (let k = 0; k < groups.length; k++) {
      const { records, first } = groups[k];
      if (handOver === 'positions' && first !== undefined) {
        worker.rememberAt(records.map((r, i) => ({ position: first + i, receivedAt: r.receivedAt, event: r.event })), first, first + records.length - 1);
      } else worker.remember(records);
      worker.wake();
      await worker.caughtUp();
      if (rate !== null) {
        const wait = started + ((k + 1) * 900 * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    await worker.stop();
    const cpu = process.cpuUsage(cpu0);
    const stored = alerts.count();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return { cpuUs: (cpu.user + cpu.system) / total, alerts: stored };
  };
  console.log('');
  console.log('| detection tail, committed groups of 900 (CPU of all threads per event, final snapshot included) | result |');
  console.log('|---|---|');
  for (const handOver of ['positions', 'ids', 'positions', 'ids'] as const) {
    const r = await run(handOver);
    const how = handOver === 'positions' ? 'positions handed over (nothing read back)' : 'by id (positions and ids read back)';
    console.log(`| ${fmt(total)} events, ${how}${rate === null ? '' : `, arriving at ${fmt(rate)} events/s`} | ${fmt(r.cpuUs, 2)} µs (${r.alerts} alerts; load ${os.loadavg()[0].toFixed(1)}) |`);
  }
}

async function main(): Promise<void> {
  console.log(`Detection benchmark on ${machine()}; ${rules.filter((r) => r.enabled !== false).length} default rules`);
  if (PART === 'delay') return alertDelay();
  if (PART === 'tail') return detectionTail();
  if (PART === 'snapshot') {
    console.log('');
    console.log('| measurement | result |');
    console.log('|---|---|');
    await snapshotTurns();
    console.log(`| load average during the run (1 min) | ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores |`);
    return;
  }
  const engine = engineThroughput();
  console.log('');
  console.log('| measurement | result |');
  console.log('|---|---|');
  console.log(`| engine, default rules, one core (${fmt(engine.events)} events, ${engine.alerts} alerts), median / best of 5 | ${fmt(engine.plain.median)} / ${fmt(engine.plain.best)} events/s |`);
  console.log(`| engine + JSON decode of each stored event (the streaming worker's path), median / best of 5 | ${fmt(engine.decoded.median)} / ${fmt(engine.decoded.best)} events/s |`);
  await snapshotTurns();
  console.log(`| load average during the run (1 min) | ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores |`);
  console.log('');
  if (PART !== 'engine') await alertDelay();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
