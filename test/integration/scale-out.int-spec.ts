/**
 * Scale-out against real servers (`npm run test:integration`; opt-in: set KAFKA_BROKERS and
 * ELASTICSEARCH_URL, plus ELASTICSEARCH_API_KEY / ELASTICSEARCH_CA_FILE / KAFKA_SASL_* / KAFKA_TLS*
 * as your servers need; KAFKA_REPLICATION_FACTOR defaults to 1 here for single-broker clusters).
 *
 * Two service instances (compiled, child processes) behind one fresh Kafka topic and one fresh
 * Elasticsearch index prefix; events are posted to both; one instance is SIGKILLed while it is
 * writing. Afterwards every acknowledged event is in Elasticsearch exactly once, and every chain
 * verifies. Without the variables the suite is skipped and says so; with servers that do not
 * answer it fails at once naming the variable (a TCP check before any service starts), and a
 * service that never becomes ready is stopped in afterAll (and by globalTeardown at the latest).
 */
import { Client } from '@elastic/elasticsearch';
import { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { TokenService } from '@app/security';
import { createElasticsearchClient, createKafka } from '@app/storage/scale-out-adapters';
import { ApiClient } from '../../apps/auditctl/src/api-client';
import { ServiceProcess, startService, waitForExit } from '../support/cli';
import { accessEvent } from '../support/events';
import { brokersReachable, urlReachable } from '../support/reachable';
import { tempDataDir } from '../support/test-app';

const BROKERS = process.env.KAFKA_BROKERS;
const ES_URL = process.env.ELASTICSEARCH_URL;
const enabled = Boolean(BROKERS && ES_URL);
if (!enabled) {
  process.stdout.write('scale-out integration tests SKIPPED: set KAFKA_BROKERS and ELASTICSEARCH_URL to run them against real servers (see README, "Scale-out").\n');
}

const run = `it${Date.now().toString(36)}`;
const TOPIC = `audit-${run}`;
const PREFIX = `audit-${run}`;

interface Instance {
  svc: ServiceProcess;
  dataDir: string;
  writer: ApiClient;
  reader: ApiClient;
}

async function waitUntil(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function checkServersReachable(): Promise<void> {
  await brokersReachable(BROKERS!);
  await urlReachable(ES_URL!, 'ELASTICSEARCH_URL');
}

/** Every service this file starts, stopped in afterAll whether or not it became ready. */
const started: ChildProcess[] = [];

/**
 * Instances of one deployment share their keys (signing, data and tokenization keys: DATA_DIR/keys),
 * or one could not open, verify or tokenize what another wrote: B starts with a copy of A's.
 */
async function startInstance(name: string, keysFrom?: Instance): Promise<Instance> {
  const dataDir = tempDataDir(`audit-int-${name}-`);
  if (keysFrom) fs.cpSync(path.join(keysFrom.dataDir, 'keys'), path.join(dataDir, 'keys'), { recursive: true });
  const svc = await startService({
    DATA_DIR: dataDir,
    INSECURE_HTTP: 'true',
    LOG_LEVEL: 'warn',
    BUS: 'kafka',
    STORE: 'elasticsearch',
    KAFKA_TOPIC: TOPIC,
    KAFKA_PARTITIONS: '6',
    KAFKA_REPLICATION_FACTOR: process.env.KAFKA_REPLICATION_FACTOR ?? '1',
    KAFKA_GROUP_ID: `${run}-writers`,
    KAFKA_CLIENT_ID: `${run}-${name}`,
    KAFKA_SESSION_TIMEOUT_MS: '10000',
    ELASTICSEARCH_INDEX_PREFIX: PREFIX,
  });
  started.push(svc.child);
  const tokens = new TokenService(loadConfig({}, { dataDir }));
  const writer = new ApiClient(svc.url, await tokens.issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' }), { maxSockets: 8 });
  const reader = new ApiClient(svc.url, await tokens.issue({ role: 'compliance_officer', sub: 'int-test', ttl: '1h' }), { maxSockets: 8 });
  try {
    await waitUntil(async () => (await reader.request('GET', '/health/ready')).status === 200, 120_000, `instance ${name} to be ready`);
  } catch (err) {
    writer.close();
    reader.close();
    // Why it is not ready, in the service's own words (start-up errors name the setting to check; no PHI).
    const why = svc.output.filter((l) => l.includes('readiness stays false')).slice(-2);
    throw new Error(`${(err as Error).message}${why.length > 0 ? `; the service logged:\n${why.join('\n')}` : ''}`);
  }
  return { svc, dataDir, writer, reader };
}

(enabled ? describe : describe.skip)('scale-out: two instances, one Kafka topic, Elasticsearch', () => {
  const children: ChildProcess[] = [];
  const clients: ApiClient[] = [];
  let es: Client;

  beforeAll(async () => {
    await checkServersReachable();
    es = createElasticsearchClient(loadConfig({ ...process.env, STORE: 'elasticsearch' }).scaleOut!.elasticsearch!);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of new Set([...children, ...started])) c.kill('SIGKILL');
    for (const c of new Set([...children, ...started])) await waitForExit(c);
    if (!es) return; // the servers were not reachable: nothing was created
    // Best-effort clean-up of what this run created.
    await es.indices.deleteDataStream({ name: `${PREFIX}-events-*` }).catch(() => undefined);
    await es.indices.delete({ index: `${PREFIX}-*`, ignore_unavailable: true }).catch(() => undefined);
    await es.indices.deleteIndexTemplate({ name: `${PREFIX}-events-*` }).catch(() => undefined);
    await es.close();
    const admin = createKafka(loadConfig({ ...process.env, BUS: 'kafka' }).scaleOut!.kafka!).admin();
    await admin.connect().then(() => admin.deleteTopics({ topics: [TOPIC] })).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  });

  it('keeps every acknowledged event exactly once and every chain verifiable when a writer is killed mid-batch', async () => {
    const a = await startInstance('a');
    const b = await startInstance('b', a);
    children.push(a.svc.child, b.svc.child);
    clients.push(a.writer, a.reader, b.writer, b.reader);
    const acknowledged = new Set<string>();
    let stopA = false;
    let stopAll = false;

    const load = (inst: Instance, stop: () => boolean) => async (n: number) => {
      while (!stop()) {
        const events = Array.from({ length: n % 2 ? 1 : 1 + Math.floor(Math.random() * 20) }, () =>
          accessEvent({ occurredAt: new Date().toISOString(), category: (['data_access', 'authentication', 'security', 'data_modification'] as const)[Math.floor(Math.random() * 4)] }),
        );
        try {
          const res = await inst.writer.request('POST', '/v1/events', { events });
          if (res.status === 202) for (const r of JSON.parse(res.body).receipts as { id: string }[]) acknowledged.add(r.id);
        } catch {
          return; // the instance was killed: unanswered requests are owed nothing
        }
      }
    };
    const loadA = Promise.all([0, 1, 2, 3].map(load(a, () => stopA)));
    const loadB = Promise.all([0, 1, 2, 3].map(load(b, () => stopAll)));

    // Let both instances consume and write, then kill A while it is in the middle of batches.
    await new Promise((r) => setTimeout(r, 3000));
    a.svc.child.kill('SIGKILL');
    stopA = true;
    await waitForExit(a.svc.child);
    await loadA;
    await new Promise((r) => setTimeout(r, 3000));
    stopAll = true;
    await loadB;
    expect(acknowledged.size).toBeGreaterThan(100);

    // B takes A's partitions over (session timeout) and finishes A's half-written commits.
    const ids = [...acknowledged];
    await waitUntil(
      async () => {
        for (let i = 0; i < ids.length; i += 1000) {
          const resp = await es.mget({ index: `${PREFIX}-event-ids`, ids: ids.slice(i, i + 1000) });
          if (!resp.docs.every((d) => 'found' in d && d.found)) return false;
        }
        return true;
      },
      180_000,
      'every acknowledged event to be chained',
    );

    // Exactly once: no event id and no chain position twice, across every backing index.
    await es.indices.refresh({ index: `${PREFIX}-events-*` });
    const dupIds = await es.search({ index: `${PREFIX}-events-*`, size: 0, aggs: { d: { terms: { field: 'event.id', min_doc_count: 2, size: 10 } } } });
    expect((dupIds.aggregations!.d as { buckets: unknown[] }).buckets).toEqual([]);
    const dupPositions = await es.search({ index: `${PREFIX}-events-*`, size: 0, aggs: { d: { terms: { field: 'audit.record_id', min_doc_count: 2, size: 10 } } } });
    expect((dupPositions.aggregations!.d as { buckets: unknown[] }).buckets).toEqual([]);
    for (const id of ids.slice(0, 200)) {
      const res = await b.reader.request('GET', `/v1/events/${id}`);
      expect(res.status).toBe(200);
    }

    const verify = JSON.parse((await b.reader.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
    expect(verify.verified).toBeGreaterThanOrEqual(acknowledged.size);

    // Checkpoints and proofs live in Elasticsearch: a proof for an event A wrote, from B.
    const proof = await b.reader.request('GET', `/v1/events/${ids[0]}/proof`);
    expect(proof.status).toBe(200);
    await es.indices.refresh({ index: `${PREFIX}-checkpoints` });
    expect((await es.count({ index: `${PREFIX}-checkpoints` })).count).toBeGreaterThan(0);
    // Alerts come from the cluster's alert index; reports stream from Elasticsearch (point in time).
    const soc = new ApiClient(b.svc.url, await new TokenService(loadConfig({}, { dataDir: b.dataDir })).issue({ role: 'soc_analyst', sub: 'int-test', ttl: '1h' }));
    clients.push(soc);
    expect((await soc.request('GET', '/v1/alerts')).status).toBe(200);
    expect((await b.reader.request('GET', '/v1/reports/patient-access?patient=MRN-0001&format=json')).status).toBe(200);
    // No patient id or IP in clear in what Elasticsearch holds (token and sealed values only).
    const sample = await es.search({ index: `${PREFIX}-events-*,${PREFIX}-event-ids,${PREFIX}-chain-heads`, size: 500 });
    const stored = JSON.stringify(sample.hits.hits.map((h) => h._source));
    expect(stored).not.toContain('MRN-0001');
    expect(stored).not.toContain('10.1.2.3');
  }, 420_000);
});
