/**
 * `auditctl seed --events N`: posts realistic synthetic traffic (benign clinical work plus one
 * planted instance of each default detection rule's pattern) to a running service. Events go in
 * event-time order (planSeedRequests: ticks of at most a minute of event time, one batch per
 * integration, each posted with that integration's own token), so detection sees them as they
 * happened. Refuses (exit 2) when the data dir holds no token signing key (its tokens would get
 * 401) and, when the service cannot be reached, names the URL it tried and how to point it elsewhere.
 */
import { Command } from 'commander';
import { generateTraffic, planSeedRequests, postTicks } from '@app/simulation';
import { TokenService } from '@app/security';
import { ApiClient, ServiceUnreachableError, defaultServiceUrl, localCa, unreachableServiceMessage } from '../api-client';
import { cliConfig, missingTokenKey } from '../data-dir';
import { progressBar } from '../progress';

interface SeedOptions {
  events: string;
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
    .requiredOption('--events <n>', 'number of events to post')
    .option('--url <url>', 'service URL (default: from HOST, PORT and INSECURE_HTTP)')
    .option('--data-dir <dir>', 'data directory of the service (for its CA and token key; default: $DATA_DIR, then ./data)')
    .option('--batch <n>', 'events per request', '100')
    .option('--concurrency <n>', 'ticks (30 s of event time, one request per integration) in flight; above 3, events may arrive later than detection allows', '3')
    .option('--seed <n>', 'random seed (same seed, same traffic)', '42')
    .option('--benign-only', 'do not plant suspicious patterns')
    .action(async (opts: SeedOptions) => {
      const n = positiveInt(opts.events, '--events');
      const batch = positiveInt(opts.batch, '--batch');
      const concurrency = positiveInt(opts.concurrency, '--concurrency');
      const config = cliConfig(opts.dataDir);
      const missing = missingTokenKey(config);
      if (missing) {
        process.stderr.write(`auditctl seed: ${missing}\n`);
        process.exitCode = 2;
        return;
      }
      const tokens = new TokenService(config);
      const url = opts.url ?? defaultServiceUrl();
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

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}
