/**
 * FHIR R4 AuditEvent mapping: fixtures written from the FHIR R4 AuditEvent examples and the IHE
 * BALP profiles (fixtures/*.json), each asserted against its whole expected canonical event. The
 * expected hashes and derived ids were recomputed outside this code (Python json sort_keys +
 * hashlib) to check the RFC 8785 and id derivation independently.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccessEvent, EventValidator } from '@app/core';
import { mapFhirAuditEvent, searchedResourceType } from './fhir-audit-event.mapper';
import { dataQualityDeviations } from '../shared/data-quality';
import { normalizeEntityQuery } from './fhir-r4-reader';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

const EXPECTED: Record<string, AccessEvent> = {
  'balp-create': {
    id: '0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10',
    occurredAt: '2021-12-03T09:49:00.000Z',
    category: 'data_modification',
    action: 'create',
    outcome: 'success',
    actor: { id: 'Practitioner/ex-practitioner', type: 'user', ip: '192.0.2.10' },
    source: { system: 'Device/ex-device' },
    resource: { type: 'Organization', id: 'ex-organization' },
    details: {
      fhirResourceSha256: '2ffa34eca9db13fc310ac4da44ba16af7d68bd4fd34ddbad6a274b04f25e7526',
      fhirType: 'rest',
      fhirSubtype: 'create',
      fhirAction: 'C',
      fhirOutcome: '0',
      sourceSite: 'server.example.com',
    },
  },
  'balp-patient-delete-denied': {
    id: 'f00d5978-5262-8323-b705-cf83f1c6ea60',
    occurredAt: '2021-12-03T09:51:00Z',
    category: 'data_modification',
    action: 'delete',
    outcome: 'denied',
    actor: { id: 'jane.doe@example.org', type: 'user', role: '158965000', ip: '192.0.2.10' },
    source: { system: 'Device/ex-device' },
    patient: { id: 'ex-patient' },
    resource: { type: 'DocumentReference', id: 'ex-doc' },
    purpose: 'OPERATIONS',
    details: {
      fhirResourceSha256: '6773b4e960180ad0cf22e5bc4fb41cb14d40f4c43b0c6ae4fe9b3df7fa5d8b2d',
      fhirResourceId: 'ex-auditBasicDeletePatient',
      fhirType: 'rest',
      fhirSubtype: 'delete',
      fhirAction: 'D',
      fhirOutcome: '4',
      sourceSite: 'server.example.com',
    },
  },
  'balp-patient-query': {
    id: 'fce80298-cbb7-8254-8573-a2838fcb5544',
    occurredAt: '2020-04-29T09:49:00Z',
    category: 'data_access',
    action: 'query',
    outcome: 'success',
    actor: { id: 'jane.doe@example.org', type: 'user', role: '158965000', ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' },
    source: { system: 'Device/ex-device' },
    patient: { id: 'ex-patient' },
    resource: { type: 'Observation' },
    purpose: 'TREAT',
    query: { text: 'GET https://server.example.com/fhir/Observation?patient=Patient/ex-patient&category=laboratory HTTP/1.1' },
    details: {
      fhirResourceSha256: '25bfb067556720480b5ff93cda1baa53bc82e86b3f4def9b02dcdc35e80ee481',
      fhirResourceId: 'ex-auditBasicQueryGet',
      fhirType: 'rest',
      fhirSubtype: 'search-type',
      fhirAction: 'E',
      fhirOutcome: '0',
      sourceSite: 'server.example.com',
    },
  },
  'balp-patient-read-break-glass': {
    id: '4b20bc1d-18a2-8cb5-94b9-6ad7dd0427c8',
    occurredAt: '2020-04-29T23:15:02Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'jane.doe@example.org', type: 'user', role: '158965000', ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' },
    source: { system: 'Device/ex-device' },
    patient: { id: 'ex-patient' },
    resource: { type: 'Observation', id: 'ex-obs' },
    purpose: 'EMERGENCY',
    sensitivity: ['behavioral_health'],
    details: {
      fhirResourceSha256: '7a9a8efa7faff0cdcf5aaf3797592e57f061927b749a7524fedd60dc37f0eb41',
      fhirResourceId: 'ex-auditBasicReadBreakGlass',
      fhirType: 'rest',
      fhirSubtype: 'read',
      fhirAction: 'R',
      fhirOutcome: '0',
      sourceSite: 'server.example.com',
      breakGlass: true,
    },
  },
  'balp-patient-read-no-user': {
    id: '7364607c-ce2e-8a5f-882e-595bc34d7fda',
    occurredAt: '2020-04-29T09:49:00Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'Device/ex-device', type: 'service', ip: '10.20.30.40' },
    source: { system: 'Device/ex-device' },
    patient: { id: 'ex-patient' },
    resource: { type: 'List', id: 'ex-list' },
    details: {
      fhirResourceSha256: '5e3145d4e81eb7b2be5399a88b11ae2fe9ebef938652aadb9eff36264701716e',
      fhirResourceId: 'ex-auditBasicReadNoUser',
      fhirType: 'rest',
      fhirSubtype: 'read',
      fhirAction: 'R',
      fhirOutcome: '0',
      sourceSite: 'server.example.com',
    },
  },
  'balp-patient-read': {
    id: '9bc49d49-513c-8270-87c0-47161054ba19',
    occurredAt: '2020-04-29T09:49:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'jane.doe@example.org', type: 'user', role: '158965000', ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' },
    source: { system: 'Device/ex-device' },
    patient: { id: 'ex-patient' },
    resource: { type: 'Observation', id: 'ex-obs' },
    purpose: 'TREAT',
    details: {
      fhirResourceSha256: '5dc61d1c45448a444e74deda85d5a8a82bbab9169dd27d70eb99dd0d8a75e3a4',
      fhirResourceId: 'ex-auditBasicReadPatient',
      fhirType: 'rest',
      fhirSubtype: 'read',
      fhirAction: 'R',
      fhirOutcome: '0',
      sourceSite: 'server.example.com',
    },
  },
  'balp-patient-update': {
    id: 'ef086dad-d855-8c81-b3b0-72c05e2e692b',
    occurredAt: '2021-12-03T09:50:12+01:00',
    category: 'data_modification',
    action: 'update',
    outcome: 'success',
    actor: { id: 'billing-clerk-7', type: 'user', role: '158965000', ip: '192.0.2.10' },
    source: { system: 'Device/ex-device' },
    patient: { id: 'ex-patient' },
    resource: { type: 'Condition', id: 'ex-condition' },
    purpose: 'PAYMENT',
    sensitivity: ['substance_use'],
    details: {
      fhirResourceSha256: '1261a99e5986681ad8f2479f9030845802bc9d9084b023fc5e701c7be2191df3',
      fhirResourceId: 'ex-auditBasicUpdatePatient',
      fhirType: 'rest',
      fhirSubtype: 'update',
      fhirAction: 'U',
      fhirOutcome: '0',
      sourceSite: 'server.example.com',
    },
  },
  'r4-example-disclosure': {
    id: 'f19badc7-5e63-8124-8436-6346cf4589e7',
    occurredAt: '2013-09-22T00:08:00Z',
    category: 'data_access',
    action: 'export',
    outcome: 'success',
    actor: { id: 'Practitioner/example', type: 'user', role: 'IRCP', ip: '1.2.3.4' },
    source: { system: 'Watchers Accounting of Disclosures Application' },
    patient: { id: 'example' },
    resource: { type: 'Patient', id: 'example' },
    purpose: 'MARKETING',
    sensitivity: ['very_restricted', 'sexually_transmitted_disease'],
    details: {
      fhirResourceSha256: '58ceb33b37812bcfcc163315238a6c9a8a8dd343d18c2e18803dadd533d5b473',
      fhirResourceId: 'example-disclosure',
      fhirType: '110106',
      fhirSubtype: 'read',
      fhirAction: 'R',
      fhirOutcome: '0',
      sourceSite: 'Watcher',
    },
  },
  'r4-example-error': {
    id: '73adf660-3683-8ac7-af7a-769f5bb06d92',
    occurredAt: '2017-09-07T23:42:24.194+10:00',
    category: 'data_modification',
    action: 'create',
    outcome: 'failure',
    actor: { id: '95', type: 'user' },
    source: { system: 'hl7connect.healthintersections.com.au' },
    details: {
      fhirResourceSha256: 'e6e6638ee886a6d938a2c80367b3937d3033abd61d9b547262f9a4453dc18aed',
      fhirResourceId: 'example-error',
      fhirType: 'rest',
      fhirSubtype: 'create',
      fhirAction: 'C',
      fhirOutcome: '8',
      sourceSite: 'Cloud',
    },
  },
  'r4-example-login': {
    id: '5fdc2cad-1688-88e3-bed3-b0115a961f4d',
    occurredAt: '2013-06-20T23:41:23Z',
    category: 'authentication',
    action: 'login',
    outcome: 'success',
    actor: { id: '95', type: 'user', ip: '127.0.0.1' },
    source: { system: 'hl7connect.healthintersections.com.au' },
    details: {
      fhirResourceSha256: 'dfbe4ba2f255c8ef21e9b9752a1664e44091b2c03755ee828a66c6104c6738a2',
      fhirResourceId: 'example-login',
      fhirType: '110114',
      fhirSubtype: '110122',
      fhirAction: 'E',
      fhirOutcome: '0',
      sourceSite: 'Cloud',
    },
  },
  'r4-example-logout': {
    id: '0b2ff09c-f817-8fcc-b287-7b02f249c911',
    occurredAt: '2013-06-20T23:46:41Z',
    category: 'authentication',
    action: 'logout',
    outcome: 'success',
    actor: { id: '95', type: 'user', ip: '127.0.0.1' },
    source: { system: 'hl7connect.healthintersections.com.au' },
    details: {
      fhirResourceSha256: '9f9f21370a0ce633278697b080199a3ce7bf6c4d4100c2feada030017939f964',
      fhirResourceId: 'example-logout',
      fhirType: '110114',
      fhirSubtype: '110123',
      fhirAction: 'E',
      fhirOutcome: '0',
      sourceSite: 'Cloud',
    },
  },
  'r4-example-search': {
    id: '083f96a6-3c8e-8bfb-a2ac-55bb0d679827',
    occurredAt: '2015-08-22T23:42:24Z',
    category: 'data_access',
    action: 'query',
    outcome: 'success',
    actor: { id: '95', type: 'user' },
    source: { system: 'hl7connect.healthintersections.com.au' },
    resource: { type: 'Encounter' },
    query: { text: 'http://fhir-dev.healthintersections.com.au/open/Encounter?participant=13' },
    details: {
      fhirResourceSha256: 'eb6de695761b53c1798b7e8f420bd98922c95345654990becaa48071a0944b40',
      fhirResourceId: 'example-search',
      fhirType: 'rest',
      fhirSubtype: 'search',
      fhirAction: 'E',
      fhirOutcome: '0',
      sourceSite: 'Cloud',
    },
  },
  'r4-example-vread': {
    id: '27432928-db6a-89a8-8226-3b43e1e8cd21',
    occurredAt: '2013-06-20T23:42:24Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: '95', type: 'user' },
    source: { system: 'hl7connect.healthintersections.com.au' },
    patient: { id: 'example' },
    resource: { type: 'Patient', id: 'example' },
    details: {
      fhirResourceSha256: '9d62257eb150d54fa15d48451e87c028a5dade75f1dd54fe203994c77e402da3',
      fhirResourceId: 'example-rest',
      fhirType: 'rest',
      fhirSubtype: 'vread',
      fhirAction: 'R',
      fhirOutcome: '0',
      sourceSite: 'Cloud',
    },
  },
  'r4-login-failure': {
    id: 'f6666fc2-b90f-8915-84bd-c51748f2b903',
    occurredAt: '2013-06-20T23:40:02Z',
    category: 'authentication',
    action: 'login',
    outcome: 'failure',
    actor: { id: '95', type: 'user', ip: '127.0.0.1' },
    source: { system: 'hl7connect.healthintersections.com.au' },
    details: {
      fhirResourceSha256: '2eb0e28e85f9e0a8f0a60b54e2fab867054a22d453edb96eba244d9eae50b1ef',
      fhirResourceId: 'example-login-failed',
      fhirType: '110114',
      fhirSubtype: '110122',
      fhirAction: 'E',
      fhirOutcome: '4',
      sourceSite: 'Cloud',
    },
  },
};

describe('FHIR R4 AuditEvent fixtures map to the expected canonical events', () => {
  const validator = new EventValidator();
  it.each(Object.keys(EXPECTED))('%s', (name) => {
    const result = mapFhirAuditEvent(fixture(name));
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.value.event).toEqual(EXPECTED[name]);
    expect(result.value.resourceSha256).toBe(EXPECTED[name].details?.fhirResourceSha256);
    expect(validator.errorsFor(result.value.event)).toEqual([]);
  });
});

describe('FHIR mapping decisions', () => {
  it('maps the same resource to the same id every time (retries are idempotent)', () => {
    const a = mapFhirAuditEvent(fixture('balp-patient-read'));
    const b = mapFhirAuditEvent(JSON.parse(JSON.stringify(fixture('balp-patient-read'))));
    expect(a.ok && b.ok && a.value.event.id === b.value.event.id).toBe(true);
  });

  it('hashes the canonical form, so key order and white space do not change the hash or id', () => {
    const original = fixture('r4-example-login');
    const reordered = Object.fromEntries(Object.entries(original).reverse());
    const a = mapFhirAuditEvent(original);
    const b = mapFhirAuditEvent(reordered);
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) {
      expect(b.value.resourceSha256).toBe(a.value.resourceSha256);
      expect(b.value.event.id).toBe(a.value.event.id);
    }
  });

  it('uses the resource id when it is a UUID (lower-cased)', () => {
    const r = { ...fixture('balp-create'), id: '0B9A0D5C-8E6E-4F4E-9A51-5D7C0F3C2A10' };
    const result = mapFhirAuditEvent(r);
    expect(result.ok && result.value.event.id).toBe('0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10');
  });

  it('identifies a BALP minimal OAuth user by its token id (agent.policy) when nothing else names it', () => {
    const r = fixture('balp-patient-read');
    const user = (r.agent as Array<Record<string, unknown>>)[2];
    delete user.who;
    const result = mapFhirAuditEvent(r);
    expect(result.ok && result.value.event.actor).toEqual({ id: 'C187CC480FAC40A0936902D8BC324F5F', type: 'user', role: '158965000', ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' });
    expect(result.ok && result.value.event.details?.actorIdSource).toBe('policy');
  });

  it('sets source.integration from the authenticated caller', () => {
    const result = mapFhirAuditEvent(fixture('balp-create'), { integration: 'ehr-gateway' });
    expect(result.ok && result.value.event.source).toEqual({ system: 'Device/ex-device', integration: 'ehr-gateway' });
  });

  it.each([
    ['4', undefined, 'failure'],
    ['8', 'Server error', 'failure'],
    ['12', 'Access denied by consent directive', 'denied'],
    ['4', 'HTTP 403', 'denied'],
    ['0', 'Forbidden words in a success description', 'success'],
  ])('outcome %s with description %p maps to %s', (outcome, outcomeDesc, expected) => {
    const r: Record<string, unknown> = { ...fixture('balp-patient-read'), outcome };
    if (outcomeDesc) r.outcomeDesc = outcomeDesc;
    else delete r.outcomeDesc;
    const result = mapFhirAuditEvent(r);
    expect(result.ok && result.value.event.outcome).toBe(expected);
  });

  it('assumes success when outcome is absent and says so in details', () => {
    const r = { ...fixture('balp-patient-read') };
    delete r.outcome;
    const result = mapFhirAuditEvent(r);
    expect(result.ok && result.value.event.outcome).toBe('success');
    expect(result.ok && result.value.event.details).toMatchObject({ outcomeAssumed: true });
  });

  it('maps a DICOM security alert (emergency override started) to break_glass / security', () => {
    const r = {
      ...fixture('r4-example-login'),
      type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110113' },
      subtype: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110127' }],
    };
    const result = mapFhirAuditEvent(r);
    expect(result.ok && [result.value.event.category, result.value.event.action]).toEqual(['security', 'break_glass']);
  });

  it('treats a bulk-data $export operation as an export', () => {
    const r = {
      ...fixture('balp-patient-query'),
      subtype: [
        { system: 'http://hl7.org/fhir/restful-interaction', code: 'operation' },
        { system: 'http://hl7.org/fhir/uv/bulkdata', code: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' },
      ],
    };
    const result = mapFhirAuditEvent(r);
    expect(result.ok && [result.value.event.category, result.value.event.action]).toEqual(['data_access', 'export']);
  });

  it('falls back to the action code for unknown event types', () => {
    const r = { ...fixture('balp-patient-read'), type: { system: 'urn:example:types', code: 'custom' }, action: 'U' };
    const result = mapFhirAuditEvent(r);
    expect(result.ok && [result.value.event.category, result.value.event.action]).toEqual(['data_modification', 'update']);
  });

  it('reads only the resource type from a search query, never its parameters', () => {
    const q = (s: string) => Buffer.from(s).toString('base64');
    expect(searchedResourceType(q('GET https://h/fhir/Observation?patient=123'))).toBe('Observation');
    expect(searchedResourceType(q('https://h/fhir/Patient/_search'))).toBe('Patient');
    expect(searchedResourceType(q('/Encounter'))).toBe('Encounter');
    expect(searchedResourceType(q('?name=Smith'))).toBeUndefined();
  });
});

describe('lenient in, strict at rest (issue 21)', () => {
  const read = () => fixture('balp-patient-query') as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  it('a plain-text entity.query is encoded to base64; base64 stays as sent; base64-looking text that decodes to binary is text', () => {
    expect(normalizeEntityQuery('Patient?name=smith')).toEqual({ base64: Buffer.from('Patient?name=smith').toString('base64'), plainText: true });
    const b64 = Buffer.from('GET /Observation?patient=1').toString('base64');
    expect(normalizeEntityQuery(b64)).toEqual({ base64: b64, plainText: false });
    expect(normalizeEntityQuery('Patient')).toEqual({ base64: Buffer.from('Patient').toString('base64'), plainText: true });
  });

  it('a plain-text query maps like its base64 form, with a data-quality note naming the element', () => {
    const r = read();
    const i = (r.entity as Array<{ query?: string }>).findIndex((e) => e.query);
    const plain = { ...r, entity: r.entity.map((e: { query?: string }, j: number) => (j === i ? { ...e, query: Buffer.from(e.query!, 'base64').toString('utf8') } : e)) };
    const a = mapFhirAuditEvent(r);
    const b = mapFhirAuditEvent(plain);
    if (!a.ok || !b.ok) throw new Error('expected both to map');
    expect(b.value.event.resource).toEqual(a.value.event.resource);
    expect(b.value.event.action).toBe(a.value.event.action);
    expect(b.value.event.query).toEqual(a.value.event.query);
    expect(a.value.event.query?.text).toContain('Observation?patient=Patient/ex-patient');
    expect(a.value.event.details?.dataQuality).toBeUndefined();
    expect(b.value.event.details?.dataQuality).toBe(`entity[${i}].query:plain-text`);
  });

  it('keeps the search string as query.text, cut to 4096 characters with a note when longer', () => {
    const r = read();
    const i = (r.entity as Array<{ query?: string }>).findIndex((e) => e.query);
    const long = `Patient?name=${'x'.repeat(5000)}`;
    const m = mapFhirAuditEvent({ ...r, entity: r.entity.map((e: object, j: number) => (j === i ? { ...e, query: long } : e)) });
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    expect(m.value.event.query?.text).toBe(long.slice(0, 4096));
    expect(String(m.value.event.details?.dataQuality).split(' ')).toEqual([`entity[${i}].query:plain-text`, `entity[${i}].query:truncated`]);
    expect(dataQualityDeviations(m.value.event.details?.dataQuality)).toEqual(['entity.query:plain-text', 'entity.query:truncated']);
  });

  it('vendor meta members and a missing requestor are accepted and noted; the notes count by kind without positions', () => {
    const r = read();
    r.meta = { versionId: '1', project: 'p-1', author: { reference: 'Practitioner/1' } };
    r.agent = r.agent.map((a: Record<string, unknown>) => (a.requestor === false ? (({ requestor, ...rest }) => rest)(a) : a)); // eslint-disable-line @typescript-eslint/no-unused-vars
    const m = mapFhirAuditEvent(r);
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    const note = String(m.value.event.details?.dataQuality);
    expect(note.split(' ')[0]).toBe('meta:vendor-members');
    expect(note).toMatch(/agent\[\d+\]\.requestor:missing/);
    expect(dataQualityDeviations(note)).toEqual(['meta:vendor-members', 'agent.requestor:missing']);
  });

  it('a requestor known only by display (HAPI public test server) is accepted when the client is identified: the client acts, the display is not kept', () => {
    const display = '[203.0.X.X] Jane Roe';
    const r = fixture('balp-patient-read');
    const agents = r.agent as Array<Record<string, unknown>>;
    agents[2] = { ...agents[2], who: { display }, policy: undefined };
    const m = mapFhirAuditEvent(r);
    if (!m.ok) throw new Error(JSON.stringify(m.issues));
    expect(m.value.event.actor).toEqual({ id: 'Device/ex-device', type: 'service', ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' });
    expect(m.value.event.patient).toEqual({ id: 'ex-patient' });
    expect(m.value.event.details?.dataQuality).toBe('agent[2].who:display-only');
    expect(dataQualityDeviations(m.value.event.details?.dataQuality)).toEqual(['agent.who:display-only']);
    expect(JSON.stringify(m.value.event)).not.toContain('Jane');
    expect(JSON.stringify(m.value.event)).not.toContain('203.0.');
    // A requestor with an identity still acts, whatever its display says.
    agents[2] = { ...agents[2], who: { display, identifier: { value: 'jroe' } } };
    const named = mapFhirAuditEvent(r);
    expect(named.ok && named.value.event.actor.id).toBe('jroe');
    expect(named.ok && named.value.event.details?.dataQuality).toBeUndefined();
  });
});

describe('invalid AuditEvents give issues naming the element, never the value', () => {
  const issuesOf = (resource: unknown) => {
    const result = mapFhirAuditEvent(resource);
    if (result.ok) throw new Error('expected issues');
    return result.issues;
  };

  it('names missing required R4 elements', () => {
    const r = { ...fixture('balp-patient-read') };
    delete r.recorded;
    delete r.source;
    delete r.type;
    expect(issuesOf(r).map((i) => [i.code, i.expression])).toEqual([
      ['required', 'AuditEvent.type'],
      ['required', 'AuditEvent.recorded'],
      ['required', 'AuditEvent.source'],
    ]);
  });

  it('names a requestor known only by display at agent[i].who when no client agent is identified and no pseudonymizer is given', () => {
    const secret = '[203.0.X.X] Jane Roe';
    const r = fixture('balp-patient-read');
    const agents = r.agent as Array<Record<string, unknown>>;
    agents[2] = { ...agents[2], who: { display: secret }, policy: undefined };
    // The client (110153) known by display only too, as HAPI's public test server sends it (its User-Agent).
    const clientByDisplay = { ...r, agent: [{ ...agents[0], who: { display: 'Mozilla/5.0' } }, agents[1], agents[2]] };
    const issues = issuesOf(clientByDisplay);
    expect(issues).toEqual([expect.objectContaining({ code: 'required', expression: 'AuditEvent.agent[2].who' })]);
    expect(JSON.stringify(issues)).not.toContain(secret);
    // No client agent at all.
    expect(issuesOf({ ...r, agent: [agents[1], agents[2]] })).toEqual([expect.objectContaining({ code: 'required', expression: 'AuditEvent.agent[1].who' })]);
    // An empty who is not a known deviation, client or not.
    expect(issuesOf({ ...r, agent: [agents[0], agents[1], { ...agents[2], who: {} }] })).toEqual([expect.objectContaining({ code: 'required', expression: 'AuditEvent.agent[2].who' })]);
  });

  it('with a pseudonymizer, a display-only requestor and no identified agent (HAPI public test server as shipped) acts as a keyed pseudonym', () => {
    const key = createHmac('sha256', 'spec-key').update('k').digest();
    const pseudonymizeDisplay = (d: string) => `psn_${createHmac('sha256', key).update(d.trim()).digest('hex').slice(0, 24)}`;
    const r = fixture('balp-patient-read');
    const agents = r.agent as Array<Record<string, unknown>>;
    const asUser = (display: string) => ({ ...r, agent: [{ ...agents[0], who: { display: 'Mozilla/5.0' } }, agents[1], { ...agents[2], who: { display }, policy: undefined }] });
    const one = mapFhirAuditEvent(asUser('[203.0.X.X] Jane Roe'), { pseudonymizeDisplay });
    if (!one.ok) throw new Error(JSON.stringify(one.issues));
    expect(one.value.event.actor).toEqual({ id: pseudonymizeDisplay('[203.0.X.X] Jane Roe'), type: 'user', role: '158965000', ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334' });
    expect(one.value.event.details?.dataQuality).toBe('agent[2].who:display-only actor:pseudonym-from-display');
    expect(dataQualityDeviations(one.value.event.details?.dataQuality)).toEqual(['agent.who:display-only', 'actor:pseudonym-from-display']);
    expect(JSON.stringify(one.value.event)).not.toContain('Jane');
    const again = mapFhirAuditEvent(asUser('[203.0.X.X] Jane Roe'), { pseudonymizeDisplay });
    const other = mapFhirAuditEvent(asUser('[203.0.X.X] John Doe'), { pseudonymizeDisplay });
    expect(again.ok && again.value.event.actor.id).toBe(one.value.event.actor.id);
    expect(other.ok && other.value.event.actor.id).not.toBe(one.value.event.actor.id);
    // An identified client still acts for a display-only user; an empty who is still refused.
    const withClient = mapFhirAuditEvent({ ...r, agent: [agents[0], agents[1], { ...agents[2], who: { display: 'x' }, policy: undefined }] }, { pseudonymizeDisplay });
    expect(withClient.ok && withClient.value.event.actor.id).toBe('Device/ex-device');
    const empty = mapFhirAuditEvent({ ...r, agent: [{ ...agents[0], who: { display: 'Mozilla/5.0' } }, agents[1], { ...agents[2], who: {}, policy: undefined }] }, { pseudonymizeDisplay });
    expect(empty.ok ? [] : empty.issues).toEqual([expect.objectContaining({ code: 'required', expression: 'AuditEvent.agent[2].who' })]);
    const blank = mapFhirAuditEvent(asUser('   '), { pseudonymizeDisplay });
    expect(blank.ok ? [] : blank.issues.map((i) => i.expression)).toEqual(['AuditEvent.agent[2].who.display']);
  });

  it('names bad codes and bad types', () => {
    const secret = 'PATIENT-SECRET-0042';
    const r: Record<string, unknown> = { ...fixture('balp-patient-read'), action: secret, outcome: 3, recorded: `2020-01-01 ${secret}` };
    const agents = r.agent as Array<Record<string, unknown>>;
    agents[0] = { ...agents[0], requestor: 'yes' };
    const issues = issuesOf(r);
    expect(issues.map((i) => [i.code, i.expression])).toEqual([
      ['code-invalid', 'AuditEvent.action'],
      ['value', 'AuditEvent.recorded'],
      ['code-invalid', 'AuditEvent.outcome'],
      ['value', 'AuditEvent.agent[0].requestor'],
    ]);
    expect(JSON.stringify(issues)).not.toContain(secret);
  });

  it('names a canonical-field violation by the FHIR element it came from', () => {
    const secret = 'x'.repeat(300);
    const r = fixture('balp-patient-read');
    (r.agent as Array<Record<string, unknown>>)[2].who = { identifier: { value: secret } };
    const issues = issuesOf(r);
    expect(issues).toEqual([expect.objectContaining({ code: 'value', expression: 'AuditEvent.agent[2].who.identifier.value' })]);
    expect(JSON.stringify(issues)).not.toContain(secret);
  });

  it('names a patient entity that does not identify the patient', () => {
    const r = fixture('balp-patient-read');
    (r.entity as Array<Record<string, unknown>>)[2].what = { display: 'John Smith' };
    expect(issuesOf(r)).toEqual([expect.objectContaining({ code: 'required', expression: 'AuditEvent.entity[2].what' })]);
  });

  it('refuses R5 AuditEvents, naming the R5 elements', () => {
    const r5 = {
      resourceType: 'AuditEvent',
      category: [{ coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114' }] }],
      code: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110122' }] },
      action: 'E',
      recorded: '2013-06-20T23:41:23Z',
      outcome: { code: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-outcome', code: '0' } },
      agent: [{ who: { identifier: { value: '95' } }, requestor: true, networkString: '127.0.0.1' }],
      source: { observer: { display: 'server' } },
    };
    const issues = issuesOf(r5);
    expect(issues.filter((i) => i.code === 'not-supported').map((i) => i.expression)).toEqual([
      'AuditEvent.category',
      'AuditEvent.code',
      'AuditEvent.outcome',
      'AuditEvent.agent[0].networkString',
    ]);
    expect(issues).toContainEqual(expect.objectContaining({ code: 'required', expression: 'AuditEvent.type' }));
  });

  it('refuses a CodeableConcept where R4 has a Coding', () => {
    const r = { ...fixture('balp-patient-read'), type: { coding: [{ code: 'rest' }] } };
    expect(issuesOf(r)).toEqual([expect.objectContaining({ code: 'structure', expression: 'AuditEvent.type' })]);
  });

  it('refuses an AuditEvent with no agent able to stand for the actor', () => {
    const r = fixture('balp-patient-read');
    r.agent = [(r.agent as unknown[])[1]];
    expect(issuesOf(r)).toEqual([expect.objectContaining({ code: 'required', expression: 'AuditEvent.agent' })]);
  });
});
