/**
 * HL7 FHIR R4 AuditEvent ingestion end to end over HTTP (POST /fhir/AuditEvent and POST /fhir):
 * every @app/standards fixture is posted as application/fhir+json and then found with
 * GET /v1/events with its canonical fields and source.integration from the caller; a retry gets
 * 200 and the original receipt; a transaction Bundle of 500 AuditEvents (over 1 MiB) is stored in
 * one durable batch with 500 receipts chained contiguously; invalid resources get a 400
 * OperationOutcome naming the element, never echoing values, and nothing is stored; auth, media
 * type and size errors are OperationOutcomes too; the route is in OpenAPI.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { RECEIPT_EXTENSION_URL, mapFhirAuditEvent } from '@app/standards';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

const FIXTURES_DIR = path.resolve(__dirname, '..', 'libs', 'standards', 'src', 'fhir', 'fixtures');
const FIXTURES = fs
  .readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/** Canonical fields each fixture must end up with (read from the fixtures and the BALP profiles, not from the mapper). */
const EXPECTED: Record<string, Pick<AccessEvent, 'category' | 'action' | 'outcome'> & { actor: string; patient?: string }> = {
  'balp-create': { category: 'data_modification', action: 'create', outcome: 'success', actor: 'Practitioner/ex-practitioner' },
  'balp-patient-delete-denied': { category: 'data_modification', action: 'delete', outcome: 'denied', actor: 'jane.doe@example.org', patient: 'ex-patient' },
  'balp-patient-query': { category: 'data_access', action: 'query', outcome: 'success', actor: 'jane.doe@example.org', patient: 'ex-patient' },
  'balp-patient-read-break-glass': { category: 'data_access', action: 'read', outcome: 'success', actor: 'jane.doe@example.org', patient: 'ex-patient' },
  'balp-patient-read-no-user': { category: 'data_access', action: 'read', outcome: 'success', actor: 'Device/ex-device', patient: 'ex-patient' },
  'balp-patient-read': { category: 'data_access', action: 'read', outcome: 'success', actor: 'jane.doe@example.org', patient: 'ex-patient' },
  'balp-patient-update': { category: 'data_modification', action: 'update', outcome: 'success', actor: 'billing-clerk-7', patient: 'ex-patient' },
  'r4-example-disclosure': { category: 'data_access', action: 'export', outcome: 'success', actor: 'Practitioner/example', patient: 'example' },
  'r4-example-error': { category: 'data_modification', action: 'create', outcome: 'failure', actor: '95' },
};

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function post(baseUrl: string, route: string, token: string | null, body: string | Buffer, contentType = 'application/fhir+json'): Promise<Res> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const req = http.request(
      new URL(route, baseUrl),
      {
        method: 'POST',
        headers: { 'content-type': contentType, 'content-length': payload.length, ...(token ? { authorization: `Bearer ${token}` } : {}), accept: 'application/fhir+json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

type Ext = { url: string; valueUuid?: string; valueString?: string; valueInteger?: number; extension?: Ext[] };
function receiptOf(extensions: Ext[]): { id: string; chain: string; seq: number; hash: string } {
  const ext = extensions.find((e) => e.url === RECEIPT_EXTENSION_URL)!.extension!;
  const get = (u: string) => ext.find((e) => e.url === u)!;
  return { id: get('id').valueUuid!.replace('urn:uuid:', ''), chain: get('chain').valueString!, seq: get('seq').valueInteger!, hash: get('hash').valueString! };
}

describe('FHIR R4 AuditEvent over HTTP', () => {
  let t: TestApp;
  let token: string;
  let analyst: ApiClient;
  let compliance: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    token = await t.token('integration', 'sample-ehr');
    analyst = await t.client('soc_analyst');
    compliance = await t.client('compliance_officer');
  });
  afterAll(() => t.close());

  // Compliance staff see real patient ids (events:identified); analysts see tokens.
  const getEvent = async (id: string) => compliance.request('GET', `/v1/events/${id}`);

  it.each(FIXTURES)('%s: 201 with a receipt, then found with GET /v1/events with its canonical fields', async (name) => {
    const resource = fixture(name);
    const res = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(resource));
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toContain('application/fhir+json');
    expect(res.json.resourceType).toBe('OperationOutcome');
    const receipt = receiptOf(res.json.extension);
    expect(res.headers.location).toBe(`AuditEvent/${receipt.id}/_history/1`);
    expect(receipt.hash).toMatch(/^[0-9a-f]{64}$/);

    // What was stored is exactly the library's mapping, with the caller's integration.
    const mapped = mapFhirAuditEvent(resource, { integration: 'sample-ehr' });
    if (!mapped.ok) throw new Error('fixture does not map');
    expect(receipt.id).toBe(mapped.value.event.id);
    const one = await getEvent(receipt.id);
    expect(one.status).toBe(200);
    const view = JSON.parse(one.body);
    expect(view.event).toEqual(JSON.parse(JSON.stringify(mapped.value.event)));
    expect(view.receipt).toEqual(receipt);
    expect(view.event.source.integration).toBe('sample-ehr');
    expect(view.event.details.fhirResourceSha256).toBe(mapped.value.resourceSha256);

    const want = EXPECTED[name];
    if (want) {
      expect(view.event).toMatchObject({ category: want.category, action: want.action, outcome: want.outcome, actor: { id: want.actor } });
      if (want.patient) expect(view.event.patient).toEqual({ id: want.patient });
      // Found by the contract's filters.
      const q = new URLSearchParams({ actor: want.actor, action: want.action, outcome: want.outcome, category: want.category, ...(want.patient ? { patient: want.patient } : {}) });
      const list = JSON.parse((await compliance.request('GET', `/v1/events?${q}`)).body);
      expect(list.events.map((e: { event: { id: string } }) => e.event.id)).toContain(receipt.id);
    }
  });

  it('logins and logouts land in the authentication chain', async () => {
    for (const name of ['r4-example-login', 'r4-example-logout', 'r4-login-failure']) {
      const res = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(fixture(name)), 'application/json');
      expect([200, 201]).toContain(res.status);
      const view = JSON.parse((await getEvent(receiptOf(res.json.extension).id)).body);
      expect(view.event.category).toBe('authentication');
      expect(['login', 'logout']).toContain(view.event.action);
    }
  });

  it('a retried AuditEvent gets 200 and its original receipt, stored once', async () => {
    const resource = { ...fixture('balp-patient-read'), id: randomUUID() };
    const first = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(resource));
    expect(first.status).toBe(201);
    const again = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(resource));
    expect(again.status).toBe(200);
    expect(receiptOf(again.json.extension)).toEqual(receiptOf(first.json.extension));
  });

  it('a transaction Bundle of 500 (over 1 MiB) is one durable batch: 500 receipts, chained contiguously', async () => {
    const templates = FIXTURES.filter((n) => n.startsWith('balp-')).map(fixture);
    const resources = Array.from({ length: 500 }, (_, i) => ({
      ...templates[i % templates.length],
      id: randomUUID(),
      recorded: new Date(Date.UTC(2019, 0, 1) + i * 1000).toISOString(),
    }));
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'AuditEvent' } })) };
    const body = JSON.stringify(bundle, null, 2);
    expect(Buffer.byteLength(body)).toBeGreaterThan(1024 * 1024); // above MAX_BODY_BYTES: the FHIR limit applies here

    const res = await post(t.baseUrl, '/fhir', token, body);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    expect(res.json.entry).toHaveLength(500);
    const receipts = res.json.entry.map((e: { response: { status: string; location: string; extension: Ext[] } }, i: number) => {
      expect(e.response.status).toBe('201 Created');
      const r = receiptOf(e.response.extension);
      expect(r.id).toBe(resources[i].id);
      expect(e.response.location).toBe(`AuditEvent/${r.id}/_history/1`);
      return r;
    });
    const byChain = new Map<string, number[]>();
    for (const r of receipts) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r.seq]);
    expect(byChain.size).toBe(2); // data_access and data_modification
    for (const seqs of byChain.values()) for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1] + 1);

    // One transaction: every record carries the same receivedAt.
    const list = JSON.parse((await analyst.request('GET', '/v1/events?from=2019-01-01T00:00:00Z&to=2019-01-02T00:00:00Z&limit=1000')).body);
    expect(list.events).toHaveLength(500);
    expect(new Set(list.events.map((e: { receivedAt: string }) => e.receivedAt)).size).toBe(1);
    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
  });

  it('an invalid resource gets a 400 OperationOutcome naming the element, without its value; nothing stored', async () => {
    const secret = 'MRN-SECRET-4242';
    const resource = { ...fixture('balp-patient-read'), id: randomUUID(), recorded: secret };
    const res = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(resource));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/fhir+json');
    expect(res.json.resourceType).toBe('OperationOutcome');
    expect(res.json.issue[0]).toMatchObject({ severity: 'error', expression: ['AuditEvent.recorded'] });
    expect(res.body).not.toContain(secret);
    expect((await getEvent(resource.id)).status).toBe(404);
  });

  it('one bad entry rejects the whole Bundle, naming Bundle.entry[i]; none of the good entries is stored', async () => {
    const resources = Array.from({ length: 5 }, () => ({ ...fixture('balp-patient-read'), id: randomUUID() }));
    (resources[3] as Record<string, unknown>).agent = [{ who: {}, requestor: true }];
    const res = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: resources.map((resource) => ({ resource })) }));
    expect(res.status).toBe(400);
    expect(res.json.issue[0].expression).toEqual(['Bundle.entry[3].resource.agent[0].who']);
    for (const r of resources) expect((await getEvent(r.id)).status).toBe(404);
  });

  it('R5 elements are refused as not-supported, naming the element', async () => {
    const resource = { ...fixture('balp-patient-read'), id: randomUUID(), category: [{ coding: [{ code: 'rest' }] }] };
    const res = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(resource));
    expect(res.status).toBe(400);
    expect(res.json.issue[0]).toMatchObject({ code: 'not-supported', expression: ['AuditEvent.category'] });
  });

  it('elements R4 does not define are refused (not silently dropped), naming the parent but never the unknown name', async () => {
    const top = { ...fixture('balp-patient-read'), id: randomUUID(), 'MRN-123456': 'x' };
    const res = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(top));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/fhir+json');
    expect(res.json.issue).toHaveLength(1);
    expect(res.json.issue[0]).toMatchObject({ code: 'structure', expression: ['AuditEvent'] });
    expect(res.json.issue[0].details.text).toContain(`the ${Object.keys(top).length}th member`);
    expect(res.body).not.toContain('MRN-123456');
    expect((await getEvent(top.id)).status).toBe(404);

    const inAgent = { ...fixture('balp-patient-read'), id: randomUUID() } as unknown as Record<string, unknown> & { agent: Array<Record<string, unknown>> };
    inAgent.agent = inAgent.agent.map((a, i) => (i === 0 ? { ...a, 'MRN-654321': { value: 'x' } } : a));
    const agentRes = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(inAgent));
    expect(agentRes.status).toBe(400);
    expect(agentRes.json.issue.map((i: { expression: string[] }) => i.expression[0])).toEqual(['AuditEvent.agent[0]']);
    expect(agentRes.body).not.toContain('MRN-654321');
    expect((await getEvent(inAgent.id as string)).status).toBe(404);

    // In a Bundle entry, and inside a datatype (a Reference).
    const nested = { ...fixture('balp-patient-read'), id: randomUUID() } as unknown as Record<string, unknown> & { source: Record<string, unknown> };
    nested.source = { ...nested.source, observer: { ...(nested.source.observer as object), 'MRN-777': true } };
    const bundle = await post(t.baseUrl, '/fhir', token, JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: nested }] }));
    expect(bundle.status).toBe(400);
    expect(bundle.json.issue[0].expression).toEqual(['Bundle.entry[0].resource.source.observer']);
    expect(bundle.body).not.toContain('MRN-777');
    const bundleLevel = await post(t.baseUrl, '/fhir', token, JSON.stringify({ resourceType: 'Bundle', type: 'batch', 'MRN-778': 1, entry: [{ 'MRN-779': 1, resource: { ...fixture('balp-patient-read'), id: randomUUID() } }] }));
    expect(bundleLevel.status).toBe(400);
    expect(bundleLevel.json.issue.map((i: { expression: string[] }) => i.expression[0])).toEqual(['Bundle', 'Bundle.entry[0]']);
    expect(bundleLevel.body).not.toMatch(/MRN-77[89]/);

    // Extensions (and a primitive's `_element` companion) stay accepted.
    const extended = {
      ...fixture('balp-patient-read'),
      id: randomUUID(),
      extension: [{ url: 'http://example.org/x', valueString: 'y' }],
      _recorded: { extension: [{ url: 'http://example.org/z', valueBoolean: true }] },
    };
    expect((await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(extended))).status).toBe(201);
  });

  it('a hostile-JSON refusal names FHIR elements only, never an unknown key', async () => {
    const resource = JSON.stringify({ ...fixture('balp-patient-read'), id: randomUUID() });
    const dup = await post(t.baseUrl, '/fhir/AuditEvent', token, resource.replace('"agent":[{', '"agent":[{"MRN-DUP-1":1,"MRN-DUP-1":2,'));
    expect(dup.status).toBe(400);
    expect(dup.body).not.toContain('MRN-DUP-1');
    expect(dup.body).toContain('at JSON Pointer /agent/0');
  });

  it('errors are OperationOutcomes: bad JSON 400, wrong media type 415, no token 401, wrong role 403, too large 413', async () => {
    const bad = await post(t.baseUrl, '/fhir/AuditEvent', token, '{"resourceType": "AuditEvent",');
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toContain('application/fhir+json');
    expect(bad.json.resourceType).toBe('OperationOutcome');
    expect(bad.json.issue[0]).toMatchObject({ code: 'structure', details: { coding: [{ code: 'malformed-json' }] } });

    // The app-wide hostile-JSON checks apply here too (duplicate keys would let two readers disagree).
    const dup = await post(t.baseUrl, '/fhir/AuditEvent', token, '{"resourceType": "AuditEvent", "resourceType": "Bundle"}');
    expect(dup.status).toBe(400);
    expect(dup.json.issue[0]).toMatchObject({ code: 'structure', details: { coding: [{ code: 'json-duplicate-key' }] } });

    const xml = await post(t.baseUrl, '/fhir/AuditEvent', token, '<AuditEvent/>', 'application/fhir+xml');
    expect(xml.status).toBe(415);
    expect(xml.json).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'not-supported' }] });

    const anonymous = await post(t.baseUrl, '/fhir/AuditEvent', null, JSON.stringify(fixture('balp-create')));
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['content-type']).toContain('application/fhir+json');
    expect(anonymous.headers['www-authenticate']).toBe('Bearer');
    expect(anonymous.json.issue[0]).toMatchObject({ code: 'login', details: { coding: [{ code: 'unauthorized' }] } });

    const reader = await post(t.baseUrl, '/fhir/AuditEvent', await t.token('soc_analyst'), JSON.stringify(fixture('balp-create')));
    expect(reader.status).toBe(403);
    expect(reader.json.issue[0]).toMatchObject({ code: 'forbidden' });

    const huge = await post(t.baseUrl, '/fhir', token, Buffer.alloc(4 * 1024 * 1024 + 10, 0x20));
    expect(huge.status).toBe(413);
    expect(huge.json).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] });
  });

  it('POST /v1/events keeps its own 1 MiB limit and problem+json', async () => {
    const res = await post(t.baseUrl, '/v1/events', token, Buffer.alloc(1024 * 1024 + 10, 0x20), 'application/json');
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('is published in OpenAPI with its scope', async () => {
    const doc = JSON.parse((await analyst.request('GET', '/docs-json')).body);
    const op = doc.paths['/fhir/AuditEvent'].post;
    expect(op['x-required-scopes']).toEqual(['events:write']);
    expect(Object.keys(op.requestBody.content)).toEqual(expect.arrayContaining(['application/fhir+json', 'application/json']));
    expect(doc.paths['/fhir'].post).toBeDefined();
  });
});

describe('FHIR R4 AuditEvent: the same admission as POST /v1/events', () => {
  let t: TestApp;

  beforeAll(async () => {
    const dataDir = tempDataDir();
    // sample-ehr may post only for the system "Device/ex-device" (the BALP fixtures' observer).
    fs.writeFileSync(path.join(dataDir, 'integrations.json'), JSON.stringify({ 'sample-ehr': { systems: ['Device/ex-device'] } }));
    t = await startTestApp({ dataDir });
  });
  afterAll(() => t.close());

  it('a source.observer the integration may not post for is refused with 403 naming the element; nothing stored', async () => {
    const token = await t.token('integration', 'sample-ehr');
    const ok = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(fixture('balp-patient-read')));
    expect(ok.status).toBe(201);

    const foreign = { ...fixture('r4-example-error'), id: randomUUID() }; // observer: hl7connect.healthintersections.com.au
    const one = await post(t.baseUrl, '/fhir/AuditEvent', token, JSON.stringify(foreign));
    expect(one.status).toBe(403);
    expect(one.headers['content-type']).toContain('application/fhir+json');
    expect(one.json.issue[0]).toMatchObject({ code: 'forbidden', expression: ['AuditEvent.source.observer'] });
    expect(one.body).not.toContain('hl7connect');

    const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...fixture('balp-create'), id: randomUUID() } }, { resource: foreign }] };
    const res = await post(t.baseUrl, '/fhir', token, JSON.stringify(bundle));
    expect(res.status).toBe(403);
    expect(res.json.issue.map((i: { expression: string[] }) => i.expression[0])).toEqual(['Bundle.entry[1].resource.source.observer']);
    const reader = await t.client('compliance_officer');
    expect((await reader.request('GET', `/v1/events/${bundle.entry[0].resource.id}`)).status).toBe(404);
    expect((await reader.request('GET', `/v1/events/${foreign.id}`)).status).toBe(404);
  });
});
