/**
 * Context feeds with STORE=elasticsearch (the Elasticsearch double over HTTP): the records posted
 * over HTTP land in the cluster's `<prefix>-context` index, sealed (no id, name, address or token
 * readable in any document), and a service started afresh on the same cluster loads them back.
 */
import { loadConfig } from '@app/core';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

const NAME = 'Thistlewaite';
const ADDRESS = '61 Gullhaven Terrace';
const MRN = 'MRN-ESCTX-3301';

async function ready(t: TestApp): Promise<void> {
  const anon = await t.client(null);
  const until = Date.now() + 20_000;
  while ((await anon.request('GET', '/health/ready')).status !== 200) {
    if (Date.now() > until) throw new Error('the service did not become ready on the Elasticsearch double');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('context feeds with STORE=elasticsearch', () => {
  let es: EsFakeServer;
  let t: TestApp;
  const dataDir = tempDataDir('audit-context-es-');

  beforeAll(async () => {
    registerPhiMarkers('name', [NAME]);
    registerPhiMarkers('address', [ADDRESS]);
    registerPhiMarkers('patient-id', [MRN]);
    es = await startEsFakeServer();
    t = await startTestApp({ dataDir, scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut! });
    await ready(t);
  });

  afterAll(async () => {
    await t?.close();
    await es?.close();
  });

  it('stores context in the cluster, sealed, and a fresh service loads it back', async () => {
    const integration = await t.client('integration');
    const users = await integration.request('POST', '/v1/context/users', { records: [{ id: 'u-es-ctx', family: NAME, homeAddress: ADDRESS, department: 'oncology', status: 'active', patientId: MRN }] });
    expect(JSON.parse(users.body)).toEqual({ accepted: 1, rejected: [] });
    const patients = await integration.request('POST', '/v1/context/patients', `${JSON.stringify({ id: MRN, family: NAME, address: ADDRESS })}\n`, 'application/x-ndjson');
    expect(JSON.parse(patients.body)).toEqual({ accepted: 1, rejected: [] });

    const docs = [...(es.fake.indices.get('audit-context')?.values() ?? [])].map((d) => d.source);
    expect(docs.map((d) => d.kind).sort()).toEqual(['patients', 'users']);
    const stored = JSON.stringify(docs);
    for (const secret of [NAME, ADDRESS, MRN, 'u-es-ctx', 'oncology', 'ctk_']) expect(stored).not.toContain(secret);
    const user = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/users/u-es-ctx')).body).user;

    await t.close();
    t = await startTestApp({ dataDir, scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut! });
    await ready(t);
    const analyst = await t.client('soc_analyst');
    const until = Date.now() + 10_000;
    let status = JSON.parse((await analyst.request('GET', '/v1/context/status')).body);
    while (!status.loaded && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      status = JSON.parse((await analyst.request('GET', '/v1/context/status')).body);
    }
    expect(status).toMatchObject({ loaded: true, users: { records: 1 }, patients: { records: 1 } });
    expect(JSON.parse((await analyst.request('GET', '/v1/context/users/u-es-ctx')).body).user).toEqual(user);
  });
});
