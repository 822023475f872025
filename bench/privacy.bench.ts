/**
 * `npm run bench:privacy` (after `npm run build`): privacy monitoring at hospital scale, in one
 * process, one core.
 * 1. Bulk context load: the hospital simulator's users, patients and encounters plus filler context
 *    of the wider organisation (by default 50,000 users, 2 million patients, 5 million encounters),
 *    each record checked and its names and addresses turned into keyed matching tokens as the
 *    context feed does (validateContextRecord), then applied to the in-memory AccessContext that
 *    detection reads: records/s, and the memory it takes (RSS and heap, before and after, after GC).
 * 2. A simulated week of a 3,000-staff hospital (over 10 million events: 24/7 shifts, a nightly
 *    batch, a clock an hour behind, one planted instance of each privacy scenario) replayed in
 *    receive order as fast as the engine takes it, through the real default rules joined with that
 *    context: engine throughput (events/s, engine time only: the generator's time is left out),
 *    benign alerts per day (target at most 30, goal none), and which planted scenarios were found.
 *
 * Options (environment): BENCH_PRIVACY_SCALE (default 1) multiplies the default sizes for a smaller
 * run (a size given explicitly is taken as is); BENCH_PRIVACY_STAFF (3000), BENCH_PRIVACY_DAYS (7), BENCH_PRIVACY_EVENTS_PER_SHIFT (900),
 * BENCH_PRIVACY_USERS (50000), BENCH_PRIVACY_PATIENTS (2000000), BENCH_PRIVACY_ENCOUNTERS (5000000),
 * BENCH_PRIVACY_SEED (42). Run with `node --expose-gc` (the npm script does) for exact memory figures.
 */
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { ContextKind, InMemoryAccessContext, MatchingTokenizer, validateContextRecord } from '@app/context';
import { DetectionAlert, DetectionEngine, loadRules } from '@app/detection';
import { buildHospital, contextFiller, DEFAULT_EVENTS_PER_SHIFT, hospitalContext, hospitalTraffic } from '@app/simulation';
import { fmt, machine, REPO_ROOT } from './bench-support';

const SCALE = Number(process.env.BENCH_PRIVACY_SCALE ?? 1);
/** A size given in the environment is taken as is; a default is multiplied by the scale. */
const size = (name: string, full: number, min = 1) => {
  const given = process.env[`BENCH_PRIVACY_${name}`];
  return given !== undefined ? Number(given) : Math.max(min, Math.round(full * SCALE));
};
const STAFF = size('STAFF', 3000, 100);
const DAYS = Number(process.env.BENCH_PRIVACY_DAYS ?? 7);
const EVENTS_PER_SHIFT = Number(process.env.BENCH_PRIVACY_EVENTS_PER_SHIFT ?? DEFAULT_EVENTS_PER_SHIFT);
const USERS = size('USERS', 50_000);
const PATIENTS = size('PATIENTS', 2_000_000);
const ENCOUNTERS = size('ENCOUNTERS', 5_000_000);
const SEED = Number(process.env.BENCH_PRIVACY_SEED ?? 42);
const MB = 1024 * 1024;

const gc = (globalThis as { gc?: () => void }).gc;
function memory(): { rss: number; heap: number } {
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external + m.arrayBuffers };
}

function main(): void {
  console.log(`Privacy benchmark on ${machine()}, load average ${os.loadavg()[0].toFixed(1)}${gc ? '' : ' (run with --expose-gc for exact memory figures)'}`);
  const hospital = buildHospital({ staff: STAFF, days: DAYS, seed: SEED, eventsPerShift: EVENTS_PER_SHIFT, start: new Date('2026-03-02T00:00:00Z') });
  const own = hospitalContext(hospital);
  const filler = {
    users: Math.max(0, USERS - own.users.length),
    patients: Math.max(0, PATIENTS - own.patients.length),
    encounters: Math.max(0, ENCOUNTERS - own.encounters.length),
  };

  // 1. Bulk context load (checked, tokenized, indexed), and its memory.
  const key = crypto.createSecretKey(crypto.randomBytes(32));
  const tokens = new MatchingTokenizer({ tokenizationKey: () => key });
  const before = memory();
  const context = new InMemoryAccessContext();
  const counts: Record<ContextKind, number> = { users: 0, patients: 0, encounters: 0 };
  let rejected = 0;
  const receivedAtMs = hospital.start - 24 * 3_600_000;
  const load = (kind: ContextKind, record: unknown) => {
    const result = validateContextRecord(kind, record, receivedAtMs, tokens);
    if (!result.ok) {
      rejected++;
      return;
    }
    context.applyOne(result.version);
    counts[kind]++;
  };
  const loadStarted = performance.now();
  const loadCpu0 = process.cpuUsage();
  for (const kind of ['users', 'patients', 'encounters'] as const) for (const r of own[kind]) load(kind, r);
  for (const { kind, record } of contextFiller(hospital, filler)) load(kind, record);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const loadCpu = process.cpuUsage(loadCpu0);
  const loadCpuSeconds = (loadCpu.user + loadCpu.system) / 1e6;
  const loaded = counts.users + counts.patients + counts.encounters;
  const after = memory();

  // 2. The week through the engine with the default rules and that context.
  const rules = loadRules(path.join(REPO_ROOT, 'detection-rules'), { runbooksDir: path.join(REPO_ROOT, 'runbooks') });
  const engine = new DetectionEngine(rules, { allowedLateness: '2m', defaultTimeZone: 'UTC', context });
  const plantedOf = new Map<string, string>();
  for (const p of hospital.planted) for (const id of p.eventIds) plantedOf.set(id, p.scenario);
  const found = new Map<string, string[]>();
  const benignByDay = new Map<string, number>();
  const benignByRule = new Map<string, number>();
  let benign = 0;
  let events = 0;
  let engineMs = 0;
  let engineCpuMs = 0;
  const genStarted = performance.now();
  const chunk: { event: AccessEvent; receivedAtMs: number }[] = [];
  const judge = (alert: DetectionAlert) => {
    const scenarios = new Set(alert.evidence.eventIds.map((id) => plantedOf.get(id)).filter((s): s is string => s !== undefined));
    if (scenarios.size === 0) {
      benign++;
      const day = alert.windowEnd.slice(0, 10);
      benignByDay.set(day, (benignByDay.get(day) ?? 0) + 1);
      benignByRule.set(alert.ruleId, (benignByRule.get(alert.ruleId) ?? 0) + 1);
    }
    for (const s of scenarios) (found.get(s) ?? found.set(s, []).get(s)!).push(alert.ruleId);
  };
  const run = () => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const raised: DetectionAlert[] = [];
    for (const { event, receivedAtMs: at } of chunk) {
      const alerts = engine.process(event, events++, at);
      if (alerts.length > 0) raised.push(...alerts);
    }
    engineMs += performance.now() - t0;
    const c = process.cpuUsage(c0);
    engineCpuMs += (c.user + c.system) / 1000;
    raised.forEach(judge);
    chunk.length = 0;
  };
  let peakRss = 0;
  for (const item of hospitalTraffic(hospital)) {
    chunk.push(item);
    if (chunk.length >= 20_000) {
      run();
      if (events % 1_000_000 < 20_000) {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        process.stderr.write(`  ${fmt(events)} events, engine ${fmt(events / (engineMs / 1000))} events/s\n`);
      }
    }
  }
  run();
  const totalSeconds = (performance.now() - genStarted) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const stats = engine.stats() as unknown as Record<string, unknown>;

  const engineCpuUsPerEvent = (engineCpuMs * 1000) / Math.max(1, events);
  const contextRss = after.rss - before.rss;
  const contextHeap = after.heap - before.heap;
  const plantedFound = hospital.planted.filter((p) => (found.get(p.scenario)?.length ?? 0) > 0).length;
  const oneEach = hospital.planted.every((p) => found.get(p.scenario)?.length === 1);
  const rows: [string, string][] = [
    ['hospital', `${fmt(STAFF)} staff, ${DAYS} days from ${new Date(hospital.start).toISOString().slice(0, 10)}, seed ${SEED}, ${fmt(EVENTS_PER_SHIFT)} events per shift`],
    ['context loaded', `${fmt(counts.users)} users, ${fmt(counts.patients)} patients, ${fmt(counts.encounters)} encounters (${fmt(rejected)} rejected)`],
    ['bulk context load (check + HMAC tokens + index)', `${fmt(loaded / loadSeconds)} records/s wall clock (${fmt(loadSeconds, 1)} s); ${fmt(loaded / loadCpuSeconds)} records per CPU second`],
    ['context memory (after GC)', `RSS +${fmt(contextRss / MB)} MiB, heap +${fmt(contextHeap / MB)} MiB; ${fmt(contextRss / Math.max(1, loaded))} bytes of RSS a record`],
    ['events replayed', `${fmt(events)} (late-laned ${fmt(Number(stats.lateLaned ?? 0))}, unevaluated ${JSON.stringify(stats.unevaluated ?? {})})`],
    ['engine throughput with context joins (one core)', `${fmt(events / (engineMs / 1000))} events/s wall clock (engine ${fmt(engineMs / 1000, 1)} s of ${fmt(totalSeconds, 1)} s with the generator); ${fmt(events / (engineCpuMs / 1000))} events per CPU second (${fmt(engineCpuUsPerEvent, 2)} CPU-µs an event)`],
    ['benign alerts', `${fmt(benign)} in ${DAYS} days: ${fmt(benign / DAYS, 1)} a day${benign > 0 ? ` (${[...benignByRule].map(([r, n]) => `${r} ${n}`).join(', ')}; by day ${[...benignByDay].map(([d, n]) => `${d} ${n}`).join(', ')})` : ''}`],
    ['planted scenarios found', `${plantedFound} of ${hospital.planted.length}${oneEach ? ', one alert each' : ''}`],
    ['peak RSS', `${fmt(peakRss / MB)} MiB`],
    ['load average (1 min) at the end', os.loadavg()[0].toFixed(1)],
  ];
  console.log('');
  console.log('| measurement | result |');
  console.log('|---|---|');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);

  // The issue's targets. Sizes are the issue's only at BENCH_PRIVACY_SCALE=1 (the defaults); at a
  // smaller scale the size targets are judged on what ran and marked so.
  // The week is the issue's with 3,000 staff over 7 days at the default activity; the context with
  // 50,000 users, 2 million patients and 5 million encounters (each judged on its own).
  const fullWeek = STAFF >= 3000 && DAYS >= 7 && EVENTS_PER_SHIFT >= DEFAULT_EVENTS_PER_SHIFT;
  const fullContext = USERS >= 50_000 && PATIENTS >= 2_000_000 && ENCOUNTERS >= 5_000_000;
  const fullSize = fullWeek && fullContext;
  /** A rate: met by wall clock; met per CPU second only when other load slowed the wall clock; else not met. */
  const rate = (wall: number, perCpu: number, target: number): boolean | 'cpu' => (wall >= target ? true : perCpu >= target ? 'cpu' : false);
  const verdict = (ok: boolean | 'cpu') => (ok === true ? 'met' : ok === 'cpu' ? 'met per CPU second only (the wall clock shared the machine)' : '**NOT met**');
  const targets: [string, string, string, boolean | 'cpu'][] = [
    ['benign alerts', '<= 30 a day (goal 0)', `${fmt(benign / DAYS, 1)} a day`, benign / DAYS <= 30],
    ['planted scenarios found', 'all', `${plantedFound} of ${hospital.planted.length}`, plantedFound === hospital.planted.length],
    ['events in the simulated week', '>= 10 million', `${fmt(events)}${fullWeek ? '' : ' (a smaller week)'}`, events >= 10_000_000],
    ['engine with context joins, one core', '>= 100,000 events/s', `${fmt(events / (engineMs / 1000))} wall clock, ${fmt(events / (engineCpuMs / 1000))} per CPU second`, rate(events / (engineMs / 1000), events / (engineCpuMs / 1000), 100_000)],
    ['context memory', '<= 2 GiB', `RSS +${fmt(contextRss / MB)} MiB, heap +${fmt(contextHeap / MB)} MiB${fullContext ? '' : ' (a smaller context)'}`, contextRss <= 2048 * MB && contextHeap <= 2048 * MB],
    ['bulk context load', '>= 50,000 records/s', `${fmt(loaded / loadSeconds)} wall clock, ${fmt(loaded / loadCpuSeconds)} per CPU second`, rate(loaded / loadSeconds, loaded / loadCpuSeconds, 50_000)],
  ];
  console.log('');
  console.log(`Targets (issue 13)${fullSize ? '' : `: this run is smaller than the issue's (BENCH_PRIVACY_SCALE=${SCALE})`}:`);
  console.log('');
  console.log('| target | wanted | measured | verdict |');
  console.log('|---|---|---|---|');
  const judged = (what: string) => (what === 'events in the simulated week' ? fullWeek : what === 'context memory' ? fullContext : true);
  for (const [what, wanted, measured, ok] of targets) {
    console.log(`| ${what} | ${wanted} | ${measured} | ${judged(what) ? verdict(ok) : 'not judged: run at full size (BENCH_PRIVACY_SCALE=1)'} |`);
  }
  console.log('');
  console.log('| planted scenario | alerts (their rules) | expected rule |');
  console.log('|---|---|---|');
  for (const p of hospital.planted) {
    const rulesFound = found.get(p.scenario) ?? [];
    console.log(`| ${p.scenario} | ${rulesFound.length > 0 ? `${rulesFound.length} (${rulesFound.join(', ')})` : 'NOT FOUND'} | ${p.rules.join(' or ')} |`);
  }
}

main();
