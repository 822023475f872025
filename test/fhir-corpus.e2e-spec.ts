/**
 * The real-world FHIR AuditEvent corpus (issue 21) end to end over HTTP: every file of
 * test/fixtures/fhir-corpus (Medplum, HAPI FHIR's BALP interceptor and public test server; each names its source and what
 * deviates from R4) is posted as its server would send it, gets its receipt(s), is found again
 * with GET /v1/events mapped as the file expects (actor, patient, action, outcome, source,
 * resource, data-quality notes), and the chains verify. The HL7 R4 and IHE BALP fixtures of
 * @app/standards go in as one Bundle per source. A fixture that is refused fails this suite.
 * Known deviations are accepted and noted in details.dataQuality; a search string is kept (sealed at
 * rest) and shown only to roles that see identified data, redacted for the others; what cannot be understood is still refused with an OperationOutcome naming the element.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { TestApp, startTestApp } from './support/test-app';

const CORPUS_DIR = path.resolve(__dirname, 'fixtures', 'fhir-corpus');
const STANDARDS_DIR = path.resolve(__dirname, '..', 'libs', 'standards', 'src', 'fhir', 'fixtures');

interface Expect {
  /** The actor id; `psn_*` for a keyed pseudonym (its value depends on the data dir's tokenization key). */
  actor: string;
  actorType?: string;
  actorIp?: string;
  source?: string;
  category: string;
  action: string;
  outcome: string;
  patient?: string;
  resource?: { type: string; id?: string };
  /** The search string as the identified view shows it (`query.text`), when the event is a search. */
  query?: string;
  dataQuality?: string[];
}
interface CorpusFile {
  source: string;
  deviations: string[];
  expect: Expect | { entries: Expect[] };
  resource: Record<string, unknown> & { resourceType: string };
}

const CORPUS = fs
  .readdirSync(CORPUS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(fs.readFileSync(path.join(CORPUS_DIR, f), 'utf8')) as CorpusFile] as const);

/** Search strings in the corpus: PHI, never logged nor shown to roles without identified access. */
const SEARCH_WORDS = ['name=smith', 'birthdate=1961', '8867-4'];
/** Display-only names of requestors (HAPI's public test server): not kept, never logged nor counted. */
const DISPLAY_WORDS = ['Quinlan', 'Ashgrove', 'Tamsin', 'Oakridge', 'Brannock', 'Unknown User'];
const PSEUDONYM = /^psn_[a-z2-7]{24}$/;

function post(baseUrl: string, route: string, token: string, body: unknown): Promise<{ status: number; json: any; text: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(route, baseUrl),
      { method: 'POST', headers: { 'content-type': 'application/fhir+json', 'content-length': payload.length, authorization: `Bearer ${token}` } },
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
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

type Ext = { url: string; valueUuid?: string; extension?: Ext[] };
function receiptId(extensions: Ext[]): string {
  const receipt = extensions.find((e) => e.url.endsWith('ingest-receipt'))!.extension!;
  return receipt.find((e) => e.url === 'id')!.valueUuid!.replace('urn:uuid:', '');
}

describe('FHIR corpus: what real servers emit is accepted, mapped and verifiable', () => {
  let t: TestApp;
  let token: string;
  let compliance: ApiClient;
  let analyst: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    token = await t.token('integration');
    compliance = await t.client('compliance_officer');
    analyst = await t.client('soc_analyst');
  });
  afterAll(() => t.close());

  async function storedEvent(id: string): Promise<{ event: any; text: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const res = await compliance.request('GET', `/v1/events/${id}`);
    expect(res.status).toBe(200);
    return { event: JSON.parse(res.body).event, text: res.body };
  }

  async function checkMapped(id: string, want: Expect): Promise<void> {
    const { event, text } = await storedEvent(id);
    for (const word of DISPLAY_WORDS) expect(text).not.toContain(word);
    if (want.actor === 'psn_*') expect(event.actor.id).toMatch(PSEUDONYM);
    else expect(event.actor.id).toBe(want.actor);
    if (want.actorType) expect(event.actor.type).toBe(want.actorType);
    if (want.actorIp) expect(event.actor.ip).toBe(want.actorIp);
    expect({ category: event.category, action: event.action, outcome: event.outcome }).toEqual({ category: want.category, action: want.action, outcome: want.outcome });
    if (want.source) expect(event.source.system).toBe(want.source);
    expect(event.source.integration).toBe('sample-ehr');
    if (want.patient) expect(event.patient).toEqual({ id: want.patient });
    else expect(event.patient).toBeUndefined();
    if (want.resource) expect(event.resource).toEqual(want.resource);
    if (want.query) expect(event.query).toEqual({ text: want.query });
    else expect(event.query).toBeUndefined();
    // An analyst sees the same event with the search redacted to its type and parameter names.
    const analystView = await analyst.request('GET', `/v1/events/${id}`);
    expect(analystView.status).toBe(200);
    for (const word of SEARCH_WORDS) expect(analystView.body).not.toContain(word);
    if (want.query) expect(JSON.parse(analystView.body).event.query.text).toMatch(/^[A-Za-z/*_]*\?([A-Za-z:._-]+=\*&?)+$/);
    if (want.dataQuality) {
      const notes = typeof event.details.dataQuality === 'string' ? event.details.dataQuality.split(' ') : [];
      expect(notes).toEqual(expect.arrayContaining(want.dataQuality));
      if (want.dataQuality.length === 0) expect(event.details.dataQuality).toBeUndefined();
    }
    // Found again by the contract's filters.
    const q = new URLSearchParams({ actor: event.actor.id, action: want.action, category: want.category, ...(want.patient ? { patient: want.patient } : {}) });
    const list = JSON.parse((await compliance.request('GET', `/v1/events?${q}`)).body);
    expect(list.events.map((e: { event: { id: string } }) => e.event.id)).toContain(id);
  }

  it.each(CORPUS)('%s is accepted and mapped as its file expects', async (name, file) => {
    expect(file.source.length).toBeGreaterThan(10);
    if (file.resource.resourceType === 'Bundle') {
      const res = await post(t.baseUrl, '/fhir', token, file.resource);
      if (res.status !== 200) throw new Error(`${name} refused: ${res.status} ${res.text}`);
      const wants = (file.expect as { entries: Expect[] }).entries;
      expect(res.json.entry).toHaveLength(wants.length);
      for (let i = 0; i < wants.length; i++) {
        expect(res.json.entry[i].response.status).toBe('201 Created');
        await checkMapped(receiptId(res.json.entry[i].response.extension), wants[i]);
      }
    } else {
      const res = await post(t.baseUrl, '/fhir/AuditEvent', token, file.resource);
      if (res.status !== 201) throw new Error(`${name} refused: ${res.status} ${res.text}`);
      await checkMapped(receiptId(res.json.extension), file.expect as Expect);
    }
    for (const word of [...SEARCH_WORDS, ...DISPLAY_WORDS]) expect(t.logLines.join('\n')).not.toContain(word);
  });

  it.each(['r4-', 'balp-'])('the %s fixtures of @app/standards go in as one transaction Bundle, every entry 201', async (prefix) => {
    const resources = fs
      .readdirSync(STANDARDS_DIR)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
      .map((f) => ({ ...JSON.parse(fs.readFileSync(path.join(STANDARDS_DIR, f), 'utf8')), id: undefined }))
      .map((r, i) => ({ ...r, recorded: new Date(Date.UTC(2026, 10, 20, 8, 0, i)).toISOString() }));
    expect(resources.length).toBeGreaterThan(4);
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'AuditEvent' } })) };
    const res = await post(t.baseUrl, '/fhir', token, bundle);
    expect(res.status).toBe(200);
    expect(res.json.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(resources.map(() => '201 Created'));
  });

  it('a search string sent in plain text: an analyst sees the searched type and parameter names only, compliance the search', async () => {
    const [, file] = CORPUS.find(([n]) => n === 'medplum-search')!;
    const resource = { ...file.resource, recorded: '2026-11-21T10:00:00.000Z' };
    const res = await post(t.baseUrl, '/fhir/AuditEvent', token, resource);
    expect(res.status).toBe(201);
    const view = await analyst.request('GET', `/v1/events/${receiptId(res.json.extension)}`);
    expect(view.status).toBe(200);
    expect(JSON.parse(view.body).event).toMatchObject({ action: 'query', resource: { type: 'Patient' }, query: { text: 'Patient?name=*&birthdate=*' } });
    for (const word of SEARCH_WORDS) expect(view.body).not.toContain(word);
    const identified = await compliance.request('GET', `/v1/events/${receiptId(res.json.extension)}`);
    expect(JSON.parse(identified.body).event.query).toEqual({ text: 'Patient?name=smith&birthdate=1961-04-12' });
  });

  it('what cannot be understood is still refused, naming the element without its value', async () => {
    const [, file] = CORPUS.find(([n]) => n === 'medplum-search')!;
    const notText = { ...file.resource, recorded: '2026-11-22T10:00:00.000Z', entity: [{ query: 42 }] };
    const bad = await post(t.baseUrl, '/fhir/AuditEvent', token, notText);
    expect(bad.status).toBe(400);
    expect(bad.json.issue[0].expression).toEqual(['AuditEvent.entity[0].query']);
    // A requestor that names nobody: who acted cannot be told.
    const [, read] = CORPUS.find(([n]) => n === 'medplum-read')!;
    const nobody = { ...read.resource, recorded: '2026-11-22T10:01:00.000Z', agent: [{ requestor: true, network: { address: '198.51.100.23', type: '2' } }] };
    const refused = await post(t.baseUrl, '/fhir/AuditEvent', token, nobody);
    expect(refused.status).toBe(400);
    expect(refused.json.issue[0].expression).toEqual(['AuditEvent.agent[0].who']);
    // An empty who, no display anywhere, the client known by display only: nobody to name, not even by pseudonym.
    const [, shipped] = CORPUS.find(([n]) => n === 'hapi-public-server-as-shipped')!;
    const agents = (shipped.resource.agent as Array<Record<string, unknown>>).map((a, i) => (i === 2 ? { ...a, who: {} } : a));
    const emptyWho = await post(t.baseUrl, '/fhir/AuditEvent', token, { ...shipped.resource, recorded: '2026-11-22T10:02:00.000Z', agent: agents });
    expect(emptyWho.status).toBe(400);
    expect(emptyWho.json.resourceType).toBe('OperationOutcome');
    expect(emptyWho.json.issue.map((i: { expression: string[] }) => i.expression)).toEqual([['AuditEvent.agent[2].who']]);
  });

  it('HAPI public test server users named by display only: one keyed pseudonymous actor per display, the display stored nowhere', async () => {
    const [, shipped] = CORPUS.find(([n]) => n === 'hapi-public-server-as-shipped')!;
    const asUser = (display: string, minute: number) => ({
      ...shipped.resource,
      recorded: `2026-11-23T09:${String(minute).padStart(2, '0')}:00.000Z`,
      agent: (shipped.resource.agent as Array<Record<string, unknown>>).map((a, i) => (i === 2 ? { ...a, who: { display } } : a)),
    });
    const actorOf = async (display: string, minute: number): Promise<{ id: string; actor: { id: string; type: string } }> => {
      const res = await post(t.baseUrl, '/fhir/AuditEvent', token, asUser(display, minute));
      expect(res.status).toBe(201);
      for (const word of DISPLAY_WORDS) expect(res.text).not.toContain(word);
      const id = receiptId(res.json.extension);
      return { id, actor: (await storedEvent(id)).event.actor };
    };
    const first = await actorOf('[203.0.X.X] Tamsin Oakridge', 1);
    const again = await actorOf('[203.0.X.X] Tamsin Oakridge', 2);
    const other = await actorOf('[198.51.X.X] Unknown User Brannock', 3);
    expect(first.actor).toEqual({ id: expect.stringMatching(PSEUDONYM), type: 'user' });
    expect(again.actor.id).toBe(first.actor.id);
    expect(other.actor.id).toMatch(PSEUDONYM);
    expect(other.actor.id).not.toBe(first.actor.id);
    // Detection and investigations group one user's accesses by actor.
    const byActor = JSON.parse((await compliance.request('GET', `/v1/events?${new URLSearchParams({ actor: first.actor.id, from: '2026-11-23T00:00:00Z' })}`)).body);
    expect(byActor.events.map((e: { event: { id: string } }) => e.event.id).sort()).toEqual([first.id, again.id].sort());
    // The display text is in no file of the data dir (database, WAL, logs, keys), no log line, no metric.
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile()) files.push(full);
      }
    };
    walk(t.dataDir);
    expect(files.length).toBeGreaterThan(2);
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      for (const word of DISPLAY_WORDS) expect({ file, found: bytes.includes(Buffer.from(word, 'utf8')) }).toEqual({ file, found: false });
    }
    for (const word of DISPLAY_WORDS) expect(t.logLines.join('\n')).not.toContain(word);
    const metrics = (await analyst.request('GET', '/metrics')).body;
    for (const word of DISPLAY_WORDS) expect(metrics).not.toContain(word);
  });

  it('deviations are counted per posting integration, by kind, with no value in the labels', async () => {
    const text = (await analyst.request('GET', '/metrics')).body;
    const count = (deviation: string) => {
      const m = new RegExp(`^audit_fhir_data_quality_total\\{integration="sample-ehr",deviation="${deviation.replace(/[.[\]]/g, '\\$&')}"\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : 0;
    };
    // Plain-text queries: medplum-search, -search-absolute, the search in medplum-bundle, and the analyst-view test's.
    expect(count('entity.query:plain-text')).toBe(4);
    expect(count('actor:source.observer')).toBe(2);
    expect(count('action:type.code')).toBe(2);
    expect(count('meta:vendor-members')).toBeGreaterThanOrEqual(15);
    // HAPI's public test server: its user named by display only, with the client identified (1) or not
    // (the as-shipped fixture, and the three events of the pseudonym test: the refused one is not counted).
    expect(count('agent.who:display-only')).toBe(5);
    expect(count('actor:pseudonym-from-display')).toBe(4);
    for (const word of [...SEARCH_WORDS, ...DISPLAY_WORDS]) expect(text).not.toContain(word);
  });

  it('after the whole corpus, every chain verifies', async () => {
    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
  });
});
