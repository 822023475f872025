/**
 * The search string is PHI (issue 21): a Medplum-shaped search event (`Patient?name=smith`, plain
 * text in entity.query) and an ATNA PIX query (ParticipantObjectQuery) go in over HTTP and mutual
 * TLS; no file of the data dir (database, WAL, anything) and no service log line holds the searched
 * name, /metrics does not either; a compliance officer (identified data) reads the search back, an
 * analyst sees it redacted to the resource type and parameter names; the chains verify and the
 * event's inclusion proof is served, so sealing the search broke neither.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mapAtnaSyslogFrame } from '@app/standards';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { AtnaListener } from '../apps/api/src/atna/atna-listener.service';
import { atnaFixture, atnaOverrides, frame, sampleIdentity, syslogMessage, tlsSend, waitFor } from './support/atna';
import { TestApp, startTestApp } from './support/test-app';

const NAME = 'smith';
const ATNA_NAME = 'okonkwo';

const medplumSearch = {
  resourceType: 'AuditEvent',
  meta: { project: 'c0ffee00-1111-4222-8333-444455556666' },
  type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' },
  subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'search', display: 'search' }],
  action: 'R',
  recorded: '2026-11-30T09:15:00.000Z',
  outcome: '0',
  source: { observer: { identifier: { value: 'https://api.medplum.example/' } } },
  agent: [{ who: { reference: 'Practitioner/3e2a9c1d-aa01-4b7e-9d2f-5e6a7b8c9d01' }, requestor: true, network: { address: '198.51.100.23', type: '2' } }],
  entity: [{ query: `Patient?name=${NAME}` }],
};

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? filesUnder(p) : d.isFile() ? [p] : [];
  });
}

/** Files under `dir` holding `word` as UTF-8 or UTF-16LE text, any case. */
function filesHolding(dir: string, word: string): string[] {
  const needles = [word, word.toUpperCase()].flatMap((w) => [Buffer.from(w, 'utf8'), Buffer.from(w, 'utf16le')]);
  return filesUnder(dir).filter((f) => {
    const bytes = fs.readFileSync(f);
    return needles.some((n) => bytes.includes(n));
  });
}

describe('the search string is sealed at rest and shown only to identified roles', () => {
  let t: TestApp;
  let compliance: ApiClient;
  let analyst: ApiClient;
  let integration: ApiClient;
  let fhirId: string;
  let atnaId: string;

  beforeAll(async () => {
    t = await startTestApp(atnaOverrides());
    compliance = await t.client('compliance_officer');
    analyst = await t.client('soc_analyst');
    integration = await t.client('integration');

    const res = await integration.request('POST', '/fhir/AuditEvent', medplumSearch, 'application/fhir+json');
    expect(res.status).toBe(201);
    fhirId = JSON.parse(res.body).extension.find((e: { url: string }) => e.url.endsWith('ingest-receipt')).extension.find((e: { url: string }) => e.url === 'id').valueUuid.replace('urn:uuid:', '');

    // A PIX query whose QPD segment searches by name (HL7 v2 QBP^Q22 style), as its ParticipantObjectQuery.
    const v2 = `MSH|^~\\&|PDQ-CONSUMER|CLINIC|PDQ-SUPPLIER|HIE|20260130091600||QBP^Q22^QBP_Q21|MSG-77|P|2.5\rQPD|Q22^Find Candidates^HL7|Q-77|@PID.5.1^${ATNA_NAME.toUpperCase()}`;
    const xml = atnaFixture('rfc3881-pix-query').replace(/<ParticipantObjectQuery>[^<]*<\/ParticipantObjectQuery>/, `<ParticipantObjectQuery>${Buffer.from(v2).toString('base64')}</ParticipantObjectQuery>`);
    const message = syslogMessage(xml);
    const mapped = mapAtnaSyslogFrame(message, { integration: 'sample-ehr' });
    if (!mapped.ok) throw new Error(`does not map: ${mapped.error.code}`);
    atnaId = mapped.event.id;
    const sent = await tlsSend(t.app.get(AtnaListener).address()!.port, sampleIdentity(t.dataDir), frame(message));
    expect(sent.error).toBeUndefined();
    await waitFor(async () => ((await compliance.request('GET', `/v1/events/${atnaId}`)).status === 200 ? true : undefined));
  });
  afterAll(() => t.close());

  it('a compliance officer reads the search back; an analyst sees only its type and parameter names', async () => {
    const identified = JSON.parse((await compliance.request('GET', `/v1/events/${fhirId}`)).body).event;
    expect(identified).toMatchObject({ action: 'query', resource: { type: 'Patient' }, query: { text: `Patient?name=${NAME}` } });
    const tokenView = await analyst.request('GET', `/v1/events/${fhirId}`);
    expect(JSON.parse(tokenView.body).event.query).toEqual({ text: 'Patient?name=*' });
    expect(tokenView.body.toLowerCase()).not.toContain(NAME);

    const pix = JSON.parse((await compliance.request('GET', `/v1/events/${atnaId}`)).body).event;
    expect(pix.query.text).toContain(`@PID.5.1^${ATNA_NAME.toUpperCase()}`);
    const pixAnalyst = await analyst.request('GET', `/v1/events/${atnaId}`);
    expect(JSON.parse(pixAnalyst.body).event.query).toEqual({ text: '[redacted search]' });
    expect(pixAnalyst.body.toLowerCase()).not.toContain(ATNA_NAME);
  });

  it('no file of the data dir, no service log line and no metric holds the searched names', async () => {
    // Closing the app checkpoints the WAL into the database; before that, both files are read as they are.
    for (const word of [NAME, ATNA_NAME]) {
      expect(filesHolding(t.dataDir, word)).toEqual([]);
      expect(t.logLines.join('\n').toLowerCase()).not.toContain(word);
    }
    const metrics = (await analyst.request('GET', '/metrics')).body.toLowerCase();
    expect(metrics).not.toContain(NAME);
    expect(metrics).not.toContain(ATNA_NAME);
    expect(filesUnder(t.dataDir).some((f) => /\.(db|sqlite)(-wal)?$/.test(f))).toBe(true);
  });

  it('sealing breaks neither verification nor the inclusion proof', async () => {
    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
    expect(verify.verified).toBeGreaterThanOrEqual(2);
    const proof = await compliance.request('GET', `/v1/events/${fhirId}/proof`);
    expect(proof.status).toBe(200);
    expect(JSON.parse(proof.body).recordHash).toMatch(/^[0-9a-f]{64}$/);
  });
});
