/**
 * `auditctl seed --events N`: posts realistic synthetic traffic (benign clinical work plus one
 * planted instance of each default detection rule's pattern) to a running service.
 * `auditctl seed --hospital [--staff N] [--days N]`: the hospital simulator instead (context feeds,
 * then a week of 24/7 traffic with late batches and the planted privacy scenarios; hospital-seed.ts),
 * posted to the service or, with `--out <dir>`, written as NDJSON files without one. Events go in
 * event-time order (planSeedRequests: ticks of at most a minute of event time, one batch per
 * integration, each posted with that integration's own token), so detection sees them as they
 * happened. Refuses (exit 2) when the data dir holds no token signing key (its tokens would get
 * 401) and, when the service cannot be reached, names the URL it tried and how to point it elsewhere.
 */
import { Command } from 'commander';
import { AppConfig } from '@app/core';
import { buildHospital, DEFAULT_EVENTS_PER_SHIFT, defaultHospitalStart, generateTraffic, Hospital, planSeedRequests, postTicks } from '@app/simulation';
import { TokenService } from '@app/security';
import { ApiClient, ServiceUnreachableError, defaultServiceUrl, localCa, unreachableServiceMessage } from '../api-client';
import { cliConfig, missingTokenKey } from '../data-dir';
import { progressBar } from '../progress';
import { postHospital, SeedRejectedError, SeedSummary, writeHospitalFiles } from './hospital-seed';

interface SeedOptions {
  events?: string;
  hospital?: boolean;
  staff: string;
  days: string;
  start?: string;
  eventsPerShift: string;
  out?: string;
  url?: string;
  dataDir?: string;
  batch: string;
  concurrency: string;
  seed: string;
  benignOnly?: boolean;
}

export function seedCommand(): Command {
  return new Command('seed')
    .description('post realistic synthetic traffic (benign, with a few suspicious patterns) to the running service')
    .option('--events <n>', 'number of events to post (synthetic traffic; required without --hospital)')
    .option('--hospital', 'simulate a hospital instead: context feeds, then 24/7 traffic of --staff people over --days days')
    .option('--staff <n>', 'with --hospital: workforce size', '3000')
    .option('--days <n>', 'with --hospital: days of traffic', '7')
    .option('--start <date>', 'with --hospital: first day (YYYY-MM-DD, UTC; default: --days days before today)')
    .option('--events-per-shift <n>', 'with --hospital: mean audit events per staff shift', String(DEFAULT_EVENTS_PER_SHIFT))
    .option('--out <dir>', 'with --hospital: write users/patients/encounters/events NDJSON and planted.json there instead of posting (no service needed)')
    .option('--url <url>', 'service URL (default: from HOST, PORT and INSECURE_HTTP)')
    .option('--data-dir <dir>', 'data directory of the service (for its CA and token key; default: $DATA_DIR, then ./data)')
    .option('--batch <n>', 'events per request', '100')
    .option('--concurrency <n>', 'ticks (30 s of event time, one request per integration) in flight; above 3, events may arrive later than detection allows', '3')
    .option('--seed <n>', 'random seed (same seed, same traffic)', '42')
    .option('--benign-only', 'do not plant suspicious patterns')
    .action(async (opts: SeedOptions) => {
      if (opts.hospital) return seedHospital(opts);
      if (opts.out !== undefined) throw new Error('--out is for --hospital');
      if (opts.events === undefined) throw new Error('--events <n> is required (or --hospital)');
      const n = positiveInt(opts.events, '--events');
      const batch = positiveInt(opts.batch, '--batch');
      const concurrency = positiveInt(opts.concurrency, '--concurrency');
      const access = serviceAccess(opts);
      if (!access) return;
      const { config, tokens, url } = access;
      const { events, planted } = generateTraffic({ events: n, seed: Number(opts.seed), suspicious: !opts.benignOnly });
      const ticks = planSeedRequests(events, { maxBatch: batch });
      // Each integration posts its own events (source ownership), with its own token.
      const clients = new Map<string, ApiClient>();
      for (const integration of new Set(ticks.flatMap((t) => t.map((b) => b.integration)))) {
        const token = await tokens.issue({ role: 'integration', sub: integration, ttl: '1h' });
        clients.set(integration, new ApiClient(url, token, { caPem: localCa(config.dataDir), maxSockets: concurrency, connectTimeoutMs: 10_000 }));
      }
      const progress = progressBar();
      let done = 0;
      const post = async (integration: string, chunk: unknown[]) => {
        for (let attempt = 0; ; attempt++) {
          const res = await clients.get(integration)!.request('POST', '/v1/events', { events: chunk });
          if (res.status === 202) break;
          if ((res.status === 503 || res.status === 429) && attempt < 10) {
            await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
            continue;
          }
          if (res.status === 401) {
            throw new Error(`the service at ${url} rejected the token signed with ${config.dataDir}'s key (401): pass --data-dir <the DATA_DIR that service runs on>`);
          }
          throw new Error(`the service answered ${res.status}: ${res.body.slice(0, 300)}`);
        }
        done += chunk.length;
        progress.update('seed', done, events.length);
      };
      try {
        await postTicks(ticks, (b) => post(b.integration, b.events), concurrency);
      } catch (err) {
        if (!(err instanceof ServiceUnreachableError)) throw err;
        progress.stop();
        process.stderr.write(`auditctl seed: ${unreachableServiceMessage(err, opts.url !== undefined)}\n`);
        if (done > 0) process.stderr.write(`auditctl seed: ${done} event(s) were posted before that.\n`);
        process.exitCode = 2;
        return;
      } finally {
        progress.stop();
        for (const c of clients.values()) c.close();
      }
      process.stdout.write(`Posted ${done} events.\n`);
      if (planted.length > 0) {
        process.stdout.write('Planted suspicious patterns:\n');
        for (const p of planted) process.stdout.write(`  ${p.rule.padEnd(36)} ${p.key.padEnd(18)} ${p.description}\n`);
      }
    });
}

/** The service's URL and a token minter for its data dir; null (exit 2, said on stderr) when the data dir has no token key. */
function serviceAccess(opts: SeedOptions): { config: AppConfig; tokens: TokenService; url: string } | null {
  const config = cliConfig(opts.dataDir);
  const missing = missingTokenKey(config);
  if (missing) {
    process.stderr.write(`auditctl seed: ${missing}\n`);
    process.exitCode = 2;
    return null;
  }
  return { config, tokens: new TokenService(config), url: opts.url ?? defaultServiceUrl() };
}

function hospitalFrom(opts: SeedOptions): Hospital {
  const days = positiveInt(opts.days, '--days');
  let start = defaultHospitalStart(days);
  if (opts.start !== undefined) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(opts.start);
    start = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : new Date(NaN);
    if (Number.isNaN(start.getTime()) || start.toISOString().slice(0, 10) !== opts.start) throw new Error('--start must be a date YYYY-MM-DD');
  }
  const staff = positiveInt(opts.staff, '--staff');
  if (staff < 50) throw new Error('--staff must be at least 50 (every department and planted scenario needs people)');
  return buildHospital({ staff, days, start, seed: Number(opts.seed), eventsPerShift: positiveInt(opts.eventsPerShift, '--events-per-shift'), plant: !opts.benignOnly });
}

async function seedHospital(opts: SeedOptions): Promise<void> {
  if (opts.events !== undefined) throw new Error('--events is for synthetic traffic; with --hospital the volume follows --staff, --days and --events-per-shift');
  const hospital = hospitalFrom(opts);
  const progress = progressBar();
  let summary: SeedSummary;
  if (opts.out !== undefined) {
    try {
      summary = await writeHospitalFiles(hospital, opts.out, progress);
    } finally {
      progress.stop();
    }
    process.stdout.write(`Wrote ${summary.users} users, ${summary.patients} patients, ${summary.encounters} encounters and ${summary.events} events to ${opts.out}.\n`);
  } else {
    const access = serviceAccess(opts);
    if (!access) return;
    const { config, tokens, url } = access;
    const concurrency = positiveInt(opts.concurrency, '--concurrency');
    const client = async (sub: string) =>
      new ApiClient(url, await tokens.issue({ role: 'integration', sub, ttl: '2h' }), { caPem: localCa(config.dataDir), maxSockets: concurrency, connectTimeoutMs: 10_000 });
    const contextClient = await client('hospital-directory');
    try {
      summary = await postHospital(hospital, { contextClient, eventClient: client, batch: positiveInt(opts.batch, '--batch'), concurrency, progress });
    } catch (err) {
      progress.stop();
      if (err instanceof ServiceUnreachableError) process.stderr.write(`auditctl seed: ${unreachableServiceMessage(err, opts.url !== undefined)}\n`);
      else if (err instanceof SeedRejectedError) process.stderr.write(`auditctl seed: ${err.message}\n`);
      else throw err;
      process.exitCode = 2;
      return;
    } finally {
      progress.stop();
      contextClient.close();
    }
    process.stdout.write(`Posted ${summary.users} users, ${summary.patients} patients, ${summary.encounters} encounters and ${summary.events} events.\n`);
  }
  const first = new Date(hospital.start).toISOString().slice(0, 10);
  const last = new Date(hospital.end - 1).toISOString().slice(0, 10);
  process.stdout.write(`Hospital of ${hospital.staff.length} staff, ${first} to ${last} (seed ${hospital.seed}); late: onc-legacy and encoder send each day at 02:00 the next, pacs runs an hour behind.\n`);
  if (hospital.planted.length > 0) {
    process.stdout.write('Planted privacy scenarios:\n');
    for (const p of hospital.planted) process.stdout.write(`  ${p.scenario.padEnd(20)} ${p.actorId.padEnd(10)} ${p.description}\n`);
  }
}

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}
