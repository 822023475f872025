/**
 * Context from FHIR R4 (CONTRACT "Context feeds", docs/context-feeds.md): a batch Bundle of
 * Practitioner, PractitionerRole, Patient, RelatedPerson, Encounter and CareTeam posted at
 * `POST /fhir` feeds the same context as the JSON records (a PractitionerRole adds department and
 * title to its Practitioner's user); a batch answers per entry, a transaction with a bad entry
 * stores nothing; names and addresses never reach the database file or the log in clear. Context
 * that arrived only as FHIR then drives detection: events posted at POST /v1/events raise alerts
 * with the right `reasons` (related-person, same-surname), and the namesake on the patient's
 * encounter stays quiet.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allAlerts, AlertJson, waitForDetection } from './support/detection';
import { accessEvent } from './support/events';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, TestApp } from './support/test-app';

const FHIR = 'application/fhir+json';
const NAMES = ['Vandersloot', 'Kettleborough', 'Pennywhistle'];
const ADDRESSES = ['88 Heronsgate Lane', '3 Pilgrim Ferry Road'];
const MRN = 'MRN-FHIRCTX-4410';

function bundle(type: 'batch' | 'transaction', resources: Record<string, unknown>[]) {
  return { resourceType: 'Bundle', type, entry: resources.map((resource) => ({ fullUrl: `urn:uuid:${String(resource.id)}`, resource, request: { method: 'PUT', url: `${String(resource.resourceType)}/${String(resource.id)}` } })) };
}

const practitioner = { resourceType: 'Practitioner', id: 'p1', identifier: [{ system: 'urn:hospital:staff', value: 'u-fhir-nurse' }], active: true, name: [{ use: 'official', family: NAMES[0], given: ['Ines'] }], address: [{ use: 'home', line: [ADDRESSES[0]], city: 'Lowmoor' }] };
const role = { resourceType: 'PractitionerRole', id: 'pr1', practitioner: { reference: 'Practitioner/p1' }, specialty: [{ coding: [{ code: 'cardiology' }] }], code: [{ coding: [{ code: 'RN' }] }] };
const patient = { resourceType: 'Patient', id: 'pat1', identifier: [{ type: { coding: [{ code: 'MR' }] }, value: MRN }], name: [{ family: NAMES[1] }], address: [{ line: [ADDRESSES[1]] }], meta: { security: [{ code: 'CEL' }] } };
const related = { resourceType: 'RelatedPerson', id: 'rp1', patient: { reference: 'Patient/pat1' }, name: [{ family: NAMES[2] }] };
const encounter = { resourceType: 'Encounter', id: 'enc-fhir-1', status: 'in-progress', subject: { reference: 'Patient/pat1' }, participant: [{ individual: { reference: 'Practitioner/p1' } }], serviceType: { coding: [{ code: 'cardiology' }] }, period: { start: '2026-05-01T08:00:00Z' } };
const careTeam = { resourceType: 'CareTeam', id: 'ct1', subject: { reference: 'Patient/pat1' }, participant: [{ member: { reference: 'Practitioner/p1' } }], period: { start: '2026-04-01' } };

describe('context from FHIR R4 Bundles', () => {
  let t: TestApp;

  beforeAll(async () => {
    registerPhiMarkers('name', NAMES);
    registerPhiMarkers('address', ADDRESSES);
    registerPhiMarkers('patient-id', [MRN]);
    t = await startTestApp();
  });

  afterAll(async () => {
    await t?.close();
  });

  async function postFhir(body: unknown, role: 'integration' | 'soc_analyst' = 'integration') {
    const res = await (await t.client(role)).request('POST', '/fhir', body, FHIR);
    return { status: res.status, body: JSON.parse(res.body) as Record<string, unknown>, raw: res.body };
  }

  it('maps a transaction of all six resource types onto users, patients and encounters', async () => {
    const res = await postFhir(bundle('transaction', [practitioner, role, patient, related, encounter, careTeam]));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    expect((res.body.entry as { response: { status: string } }[]).map((e) => e.response.status)).toEqual(Array(6).fill('200 OK'));

    const status = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/status')).body);
    // The parts of one person in one Bundle (Practitioner + PractitionerRole, Patient + RelatedPerson) are one version each.
    expect(status).toMatchObject({ users: { records: 1, versions: 1 }, patients: { records: 1, versions: 1 }, encounters: { records: 2 } });
    // Practitioner + PractitionerRole: one user, identified as AuditEvents identify the agent, with both parts.
    const user = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/users/u-fhir-nurse')).body).user;
    expect(user).toMatchObject({ id: 'u-fhir-nurse', status: 'active', department: 'cardiology', title: 'RN', familyToken: expect.stringMatching(/^ctk_/), givenToken: expect.stringMatching(/^ctk_/), homeAddressToken: expect.stringMatching(/^ctk_/) });
    // As of last month (before the Bundle: the first version answers), the user has both parts too.
    const lastMonth = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const earlier = JSON.parse((await (await t.client('soc_analyst')).request('GET', `/v1/context/users/u-fhir-nurse?at=${lastMonth}`)).body).user;
    expect(earlier).toMatchObject({ department: 'cardiology', title: 'RN', familyToken: user.familyToken });
    // The same surname through the JSON feed gives the same token (one normalization, one key).
    const integration = await t.client('integration');
    await integration.request('POST', '/v1/context/users', { records: [{ id: 'u-json-twin', family: NAMES[0].toUpperCase(), status: 'active' }] });
    const twin = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/users/u-json-twin')).body).user;
    expect(twin.familyToken).toBe(user.familyToken);
  });

  it('answers a batch per entry, keeping the valid ones; a transaction with a bad entry stores nothing', async () => {
    const badEncounter = { resourceType: 'Encounter', id: 'enc-fhir-bad', subject: { reference: 'Patient/pat1' }, period: { start: 'last tuesday' } };
    const orphanRole = { resourceType: 'PractitionerRole', id: 'pr-orphan' };
    const goodPractitioner = { ...practitioner, id: 'p2', identifier: [{ value: 'u-fhir-doctor' }] };
    const batch = await postFhir(bundle('batch', [goodPractitioner, badEncounter, orphanRole]));
    expect(batch.status).toBe(200);
    const statuses = (batch.body.entry as { response: { status: string; outcome?: { issue: { expression: string[] }[] } } }[]).map((e) => e.response);
    expect(statuses.map((s) => s.status)).toEqual(['200 OK', '400 Bad Request', '400 Bad Request']);
    expect(statuses[1]!.outcome!.issue[0]!.expression).toEqual(['Bundle.entry[1].resource']);
    expect(statuses[2]!.outcome!.issue[0]!.expression).toEqual(['Bundle.entry[2].resource.practitioner']);
    expect(batch.raw).not.toContain('last tuesday');
    expect((await (await t.client('soc_analyst')).request('GET', '/v1/context/users/u-fhir-doctor')).status).toBe(200);

    const before = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/status')).body);
    const tx = await postFhir(bundle('transaction', [{ ...practitioner, id: 'p3', identifier: [{ value: 'u-fhir-never' }] }, badEncounter]));
    expect(tx.status).toBe(400);
    expect(tx.body.resourceType).toBe('OperationOutcome');
    const after = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/status')).body);
    expect(after.users.versions).toBe(before.users.versions);
    expect((await (await t.client('soc_analyst')).request('GET', '/v1/context/users/u-fhir-never')).status).toBe(404);
  });

  it('needs context:write, and keeps names and addresses out of the database file and the log', async () => {
    expect((await postFhir(bundle('batch', [practitioner]), 'soc_analyst')).status).toBe(403);
    const bytes = Buffer.concat(fs.readdirSync(t.dataDir).filter((f) => f.startsWith('audit.db')).map((f) => fs.readFileSync(path.join(t.dataDir, f))));
    for (const secret of [...NAMES, ...ADDRESSES, MRN]) expect({ secret, at: bytes.indexOf(Buffer.from(secret)) }).toEqual({ secret, at: -1 });
    const log = t.logLines.join('\n');
    for (const secret of [...NAMES, ...ADDRESSES, MRN]) expect(log).not.toContain(secret);
  });

  it('drives detection: events after a FHIR Bundle raise related-person and same-surname alerts; the namesake on the encounter stays quiet', async () => {
    // Names only this test uses (the other tests' users stay out of it).
    const [snoopFamily, sharedFamily, patientFamily] = ['Quillfeather', 'Marchbanks', 'Ashgrove'];
    const [relMrn, surMrn] = ['MRN-FHIRDET-REL', 'MRN-FHIRDET-SUR'];
    registerPhiMarkers('name', [snoopFamily, sharedFamily, patientFamily]);
    registerPhiMarkers('patient-id', [relMrn, surMrn]);
    const staff = (id: string, user: string, family: string, dept: string) => [
      { resourceType: 'Practitioner', id, identifier: [{ system: 'urn:hospital:staff', value: user }], active: true, name: [{ family }] },
      { resourceType: 'PractitionerRole', id: `${id}-role`, practitioner: { reference: `Practitioner/${id}` }, specialty: [{ coding: [{ code: dept }] }] },
    ];
    const started = new Date(Date.now() - 86_400_000).toISOString();
    const resources = [
      ...staff('pd-snoop', 'u-fhirdet-snoop', snoopFamily, 'registration'),
      ...staff('pd-clerk', 'u-fhirdet-clerk', sharedFamily, 'registration'),
      ...staff('pd-doc', 'u-fhirdet-doc', sharedFamily, 'cardiology'),
      // The snoop's family is a related person (next of kin) of this patient.
      { resourceType: 'Patient', id: 'pd-rel', identifier: [{ type: { coding: [{ code: 'MR' }] }, value: relMrn }], name: [{ family: patientFamily }] },
      { resourceType: 'RelatedPerson', id: 'pd-rel-kin', patient: { reference: 'Patient/pd-rel' }, relationship: [{ coding: [{ code: 'SIB' }] }], name: [{ family: snoopFamily }] },
      { resourceType: 'Encounter', id: 'pd-rel-enc', status: 'in-progress', subject: { reference: 'Patient/pd-rel' }, serviceType: { coding: [{ code: 'cardiology' }] }, period: { start: started } },
      // A patient who shares a surname with two staff members; one of them treats her.
      { resourceType: 'Patient', id: 'pd-sur', identifier: [{ type: { coding: [{ code: 'MR' }] }, value: surMrn }], name: [{ family: sharedFamily }] },
      { resourceType: 'Encounter', id: 'pd-sur-enc', status: 'in-progress', subject: { reference: 'Patient/pd-sur' }, participant: [{ individual: { reference: 'Practitioner/pd-doc' } }], serviceType: { coding: [{ code: 'cardiology' }] }, period: { start: started } },
    ];
    const res = await postFhir(bundle('batch', resources));
    expect(res.status).toBe(200);
    expect((res.body.entry as { response: { status: string } }[]).map((e) => e.response.status)).toEqual(Array(resources.length).fill('200 OK'));

    const analyst = await t.client('soc_analyst');
    const at = (s: number) => new Date(Date.now() - 5 * 60_000 + s * 1000).toISOString();
    const read = (actor: string, patientId: string, s: number) => accessEvent({ occurredAt: at(s), actor: { id: actor, type: 'user', role: 'clerk', ip: '10.5.5.5' }, patient: { id: patientId }, purpose: undefined });
    const events = [read('u-fhirdet-doc', surMrn, 0), read('u-fhirdet-snoop', relMrn, 1), read('u-fhirdet-clerk', surMrn, 2)];
    expect((await (await t.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
    await waitForDetection(analyst);
    const alerts = ((await allAlerts(analyst)) as (AlertJson & { reasons: string[]; actor?: string; patient?: string })[]).filter((a) => a.actor?.startsWith('u-fhirdet-'));
    expect(alerts.map((a) => `${a.actor} ${a.ruleId} ${a.reasons.join(',')}`).sort()).toEqual([
      'u-fhirdet-clerk same-surname same-surname',
      'u-fhirdet-snoop related-person related-person',
    ]);
    // The doctor on her encounter shares her surname and raised nothing; the patient is a token to the analyst.
    for (const a of alerts) {
      expect(a.patient).toMatch(/^ptk_/);
      expect(JSON.stringify(a)).not.toMatch(/MRN-FHIRDET|Quillfeather|Marchbanks|Ashgrove/);
    }
    expect(alerts.find((a) => a.ruleId === 'same-surname')!.patient).not.toBe(alerts.find((a) => a.ruleId === 'related-person')!.patient);
    const log = t.logLines.join('\n');
    for (const secret of [snoopFamily, sharedFamily, patientFamily, relMrn, surMrn]) expect(log).not.toContain(secret);
  }, 60_000);
});
