/**
 * The faults a real Kafka broker showed (issue 17), against a real broker (`npm run
 * test:integration`; opt-in: set KAFKA_BROKERS, plus KAFKA_SASL_* / KAFKA_TLS* as it needs). The
 * service runs with BUS=kafka STORE=sqlite on fresh topics:
 * - KAFKA_REPLICATION_FACTOR above the cluster's broker count: the log names the setting, the
 *   value and the broker count, and readiness stays 503;
 * - a factor the cluster can hold: ready, 202 queued, the chained receipt follows, and kafkajs's
 *   "Limiting retries for the idempotent producer" warning is not in the log;
 * - the seed traffic (20,000 events, posted as `auditctl seed` posts it) through the real topic's
 *   interleaved partitions: detection drops nothing as late and raises exactly one alert group per
 *   planted pattern (on the broker it once dropped 4,167 events and missed an incident).
 * Without KAFKA_BROKERS the suite is skipped and says so; with brokers that do not answer it
 * fails at once naming the variable; every service it starts is stopped in afterAll.
 */
import { ChildProcess } from 'node:child_process';
import { loadConfig } from '@app/core';
import { patientTokenizerFor, TokenService } from '@app/security';
import { generateTraffic, lastWorkingDay, planSeedRequests } from '@app/simulation';
import { createKafka } from '@app/storage/scale-out-adapters';
import { ApiClient } from '../../apps/auditctl/src/api-client';
import { ServiceProcess, startService, waitForExit } from '../support/cli';
import { alertGroup, allAlerts, plantedGroup, postTicks, waitForDetection } from '../support/detection';
import { accessEvent } from '../support/events';
import { brokersReachable } from '../support/reachable';
import { tempDataDir } from '../support/test-app';

const BROKERS = process.env.KAFKA_BROKERS;
if (!BROKERS) process.stdout.write('Kafka fault integration tests SKIPPED: set KAFKA_BROKERS to run them against a real broker.\n');

const run = `kf${Date.now().toString(36)}`;
const started: ChildProcess[] = [];
const clients: ApiClient[] = [];
const topics: string[] = [];

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await Promise.resolve().then(check).catch(() => false))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function service(name: string, env: Record<string, string>): Promise<{ svc: ServiceProcess; reader: ApiClient; writer: ApiClient; dataDir: string; tokens: TokenService }> {
  const dataDir = tempDataDir(`audit-int-kafka-${name}-`);
  const topic = `audit-${run}-${name}`;
  topics.push(topic);
  const svc = await startService({ DATA_DIR: dataDir, INSECURE_HTTP: 'true', LOG_LEVEL: 'info', BUS: 'kafka', STORE: 'sqlite', KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `${run}-${name}`, ...env });
  started.push(svc.child);
  const tokens = new TokenService(loadConfig({}, { dataDir }));
  const reader = new ApiClient(svc.url, await tokens.issue({ role: 'compliance_officer', sub: 'int-test', ttl: '1h' }));
  const writer = new ApiClient(svc.url, await tokens.issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' }));
  clients.push(reader, writer);
  return { svc, reader, writer, dataDir, tokens };
}

(BROKERS ? describe : describe.skip)('Kafka faults against a real broker', () => {
  let brokerCount = 0;

  beforeAll(async () => {
    await brokersReachable(BROKERS!);
    const admin = createKafka(loadConfig({ ...process.env, BUS: 'kafka' }).scaleOut!.kafka!).admin();
    await admin.connect();
    brokerCount = (await admin.describeCluster()).brokers.length;
    await admin.disconnect();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of started) c.kill('SIGKILL');
    for (const c of started) await waitForExit(c);
    if (brokerCount === 0) return;
    const admin = createKafka(loadConfig({ ...process.env, BUS: 'kafka' }).scaleOut!.kafka!).admin();
    await admin.connect().then(() => admin.deleteTopics({ topics })).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  });

  it('names KAFKA_REPLICATION_FACTOR and the broker count when the cluster cannot hold the factor, and stays not ready', async () => {
    const factor = brokerCount + 1;
    const { svc, reader } = await service('rf', { KAFKA_REPLICATION_FACTOR: String(factor) });
    const expected = `KAFKA_REPLICATION_FACTOR=${factor}: the cluster has ${brokerCount} broker${brokerCount === 1 ? '' : 's'}`;
    await waitUntil('the replication-factor message in the log', () => svc.output.some((l) => l.includes(expected)));
    expect((await reader.request('GET', '/health/ready')).status).toBe(503);
  }, 120_000);

  it('with a factor the cluster holds: ready, 202 queued, chained, and no idempotent-producer retries warning', async () => {
    const { svc, reader, writer } = await service('ok', { KAFKA_REPLICATION_FACTOR: '1' });
    await waitUntil('ready', async () => (await reader.request('GET', '/health/ready')).status === 200, 120_000);
    const event = accessEvent();
    const res = await writer.request('POST', '/v1/events', event);
    expect(res.status).toBe(202);
    await waitUntil('the chained receipt', async () => (await reader.request('GET', `/v1/events/${event.id}`)).status === 200);
    expect(svc.output.join('\n')).not.toContain('Limiting retries for the idempotent producer');
  }, 180_000);

  it('seed traffic through the interleaved partitions: nothing dropped as late, every planted pattern one alert group', async () => {
    const { svc, reader, dataDir, tokens } = await service('seed', { KAFKA_REPLICATION_FACTOR: '1', KAFKA_PARTITIONS: '12' });
    await waitUntil('ready', async () => (await reader.request('GET', '/health/ready')).status === 200, 120_000);
    const traffic = generateTraffic({ events: 20_000, seed: 7, day: lastWorkingDay() });
    const perIntegration = new Map<string, Promise<ApiClient>>();
    const clientFor = (integration: string) => {
      if (!perIntegration.has(integration)) {
        perIntegration.set(integration, tokens.issue({ role: 'integration', sub: integration, ttl: '1h' }).then((t) => {
          const c = new ApiClient(svc.url, t, { maxSockets: 8 });
          clients.push(c);
          return c;
        }));
      }
      return perIntegration.get(integration)!;
    };
    await postTicks(planSeedRequests(traffic.events), clientFor);
    const analyst = new ApiClient(svc.url, await tokens.issue({ role: 'soc_analyst', sub: 'int-analyst', ttl: '1h' }));
    clients.push(analyst);
    await waitUntil('every event chained', async () => (await waitForDetection(analyst, 5_000)).headPosition >= traffic.events.length - 1, 300_000);
    await waitForDetection(analyst, 120_000);
    const status = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as { lateDropped: number; unevaluated: Record<string, number> };
    expect(status).toMatchObject({ lateDropped: 0, unevaluated: {} });
    const tokenizer = patientTokenizerFor(loadConfig({}, { dataDir }));
    const planted = traffic.planted.map((p) => plantedGroup(p.rule, p.group, (id) => tokenizer.token(id))).sort();
    expect((await allAlerts(analyst)).map((a) => alertGroup(a.ruleId, a.groupKey)).sort()).toEqual(planted);
  }, 600_000);
});
