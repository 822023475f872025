/**
 * DICOM PS3.15 audit message mapping: fixtures written from DICOM PS3.15 A.5.3 (patient record
 * access, user authentication login and failure, DICOM instances accessed, security alert) and the
 * RFC 3881 form, each asserted against its whole expected canonical event. Hashes and derived ids
 * were recomputed outside this code (sha256sum / Python hashlib). Errors never carry PHI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccessEvent, EventValidator, parseSearchQuery, searchedNames } from '@app/core';
import { AtnaError } from './atna-error';
import { mapDicomAuditMessage } from './dicom-audit.mapper';

function fixture(name: string): Buffer {
  return readFileSync(join(__dirname, 'fixtures', `${name}.xml`));
}

function errorOf(xml: string | Buffer): AtnaError {
  try {
    mapDicomAuditMessage(xml);
  } catch (e) {
    if (e instanceof AtnaError) return e;
    throw e;
  }
  throw new Error('expected an AtnaError');
}

const EXPECTED: Record<string, AccessEvent> = {
  'dicom-instances-accessed': {
    id: 'c9067803-fa95-8f8f-92bd-10239fd0ae49',
    occurredAt: '2024-03-14T10:15:00.5-05:00',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'VIEWER01', type: 'service', ip: '10.9.8.7' },
    source: { system: 'pacs.clinic.example.org' },
    patient: { id: 'RAD-99812' },
    resource: { type: 'ImagingStudy', id: '1.2.826.0.1.3680043.2.1125.1.20240314.1' },
    recordCount: 123,
    details: {
      atnaMessageSha256: 'f1853da4fbba9ffd9e9ec9fd1097fab62acd447be0757d888211c5b05561c508',
      dicomEventId: '110103',
      dicomAction: 'R',
      dicomOutcome: '0',
      sourceSite: 'Radiology',
    },
  },
  'emergency-override': {
    id: 'b4b4483a-b9a0-8d40-83f1-178ff2fa72d5',
    occurredAt: '2024-03-15T02:11:40Z',
    category: 'security',
    action: 'break_glass',
    outcome: 'success',
    actor: { id: 'dr.quinn', type: 'user', role: '309343006', ip: 'fd00:10::25' },
    source: { system: 'ehr01.clinic.example.org' },
    patient: { id: 'PAT-1002' },
    resource: { type: 'Patient', id: 'PAT-1002' },
    purpose: 'EMERGENCY',
    sensitivity: ['behavioral_health'],
    details: {
      atnaMessageSha256: '7ec27d26f78a48cf90b650228b7f686f8739d6d76ea398894f4e09528e200260',
      dicomEventId: '110113',
      dicomEventType: '110127',
      dicomAction: 'E',
      dicomOutcome: '0',
      sourceSite: 'Emergency Department',
      breakGlass: true,
    },
  },
  'patient-record-read': {
    id: '4a74e277-cf04-8639-bd0d-1f816006efdf',
    occurredAt: '2024-03-14T09:26:53.120+01:00',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr.house@clinic.example.org', type: 'user', role: '309343006', ip: '10.1.2.3' },
    source: { system: 'ehr01.clinic.example.org' },
    patient: { id: 'PAT-7731^^^&2.16.840.1.113883.3.72.5.9.1&ISO' },
    resource: { type: 'Patient', id: 'PAT-7731^^^&2.16.840.1.113883.3.72.5.9.1&ISO' },
    purpose: 'TREAT',
    details: {
      atnaMessageSha256: 'e74b533caaa10541fef0990f94c5804a2a90b79955f15ec93a1e1a5854eae5ac',
      dicomEventId: '110110',
      dicomEventType: 'ITI-21',
      dicomAction: 'R',
      dicomOutcome: '0',
      sourceSite: 'Clinic Main Campus',
    },
  },
  'rfc3881-pix-query': {
    id: 'fc6c2da2-6eb7-876d-8f04-6f82a6d2dd9f',
    occurredAt: '2015-02-17T15:38:25.282+02:00',
    category: 'data_access',
    action: 'query',
    outcome: 'success',
    actor: { id: 'pix-consumer|2100', type: 'service', ip: '172.16.4.12' },
    source: { system: 'pix-consumer.hie.example.org' },
    patient: { id: '975cac30-68e5^^^&1.3.6.1.4.1.21367.2010.1.2.300&ISO' },
    resource: { type: 'Patient', id: '975cac30-68e5^^^&1.3.6.1.4.1.21367.2010.1.2.300&ISO' },
    query: { text: 'MSH|^~\\&|PIX|MAIN||20150217|||QBP^Q23|' },
    details: {
      atnaMessageSha256: '6073631c2380e332ff3be4e0082583f06793826a41f387c957c141f1fd935fbe',
      dicomEventId: '110112',
      dicomEventType: 'ITI-9',
      dicomAction: 'E',
      dicomOutcome: '0',
    },
  },
  'user-login-failure': {
    id: '692d1ae2-fdee-8a27-995f-c9ca7fae031d',
    occurredAt: '2024-03-14T08:00:03Z',
    category: 'authentication',
    action: 'login',
    outcome: 'failure',
    actor: { id: 'nurse.ratched', type: 'user', ip: '192.168.10.20' },
    source: { system: 'idp.clinic.example.org' },
    details: {
      atnaMessageSha256: '430519807ded5dc56c61ba32c3c5c029d06d6d00bc20109daa1634ecffcf53fd',
      dicomEventId: '110114',
      dicomEventType: '110122',
      dicomAction: 'E',
      dicomOutcome: '4',
      timeZoneAssumed: 'UTC',
    },
  },
  'user-login': {
    id: 'a99efd18-0b12-82ba-909c-2698c5f51ca3',
    occurredAt: '2024-03-14T07:59:58Z',
    category: 'authentication',
    action: 'login',
    outcome: 'success',
    actor: { id: 'nurse.ratched', type: 'user', ip: '192.168.10.20' },
    source: { system: 'idp.clinic.example.org' },
    details: {
      atnaMessageSha256: 'd4495431e23625a7ea9b3b211994d752256a99cde3b34bd3d887781cc33b1972',
      dicomEventId: '110114',
      dicomEventType: '110122',
      dicomAction: 'E',
      dicomOutcome: '0',
      sourceSite: 'Clinic Main Campus',
    },
  },
  // Checked end to end by test/atna.e2e-spec.ts too.
  'dcm4chee-patient-record-update': {"id":"6558e09c-946e-8f4c-97bd-042f9aa31520","occurredAt":"2024-06-11T13:02:44.117+02:00","category":"data_modification","action":"update","outcome":"success","actor":{"id":"registrar.kim","type":"user","ip":"10.20.30.41"},"source":{"system":"dcm4chee-arc"},"patient":{"id":"RAD-55120^^^CLINIC"},"resource":{"type":"Patient","id":"RAD-55120^^^CLINIC"},"details":{"atnaMessageSha256":"54b29622a7aa6392a912f8d00dc4d71d0d40680d9bc679f3f7898da7af45b3e9","dicomEventId":"110110","dicomAction":"U","dicomOutcome":"0","sourceSite":"Radiology"}},
  'lenient-instances-transferred': {"id":"73115943-6514-8cc1-8470-de23dce93b9b","occurredAt":"2024-05-02T07:41:12Z","category":"data_modification","action":"transfer","outcome":"success","actor":{"id":"CT_SCANNER_2","type":"service","ip":"10.9.4.21"},"source":{"system":"pacs.clinic.example.org"},"patient":{"id":"RAD-40417"},"resource":{"type":"ImagingStudy","id":"1.2.826.0.1.3680043.2.1125.1.20240502.7"},"recordCount":240,"details":{"atnaMessageSha256":"154d6945a57a9c2abd8154adb31e69ee2d06fb3e6926984f04dea0257dd8cc36","dicomEventId":"110104","dicomAction":"C","dicomOutcome":"0","sourceSite":"Radiology","dataQuality":"EventIdentification@EventOutcomeIndicator:missing ActiveParticipant[0]@UserIsRequestor:case ActiveParticipant[1]@UserIsRequestor:case","outcomeAssumed":true}},
  // Real emitters' shapes (issue 21): dcm4chee-arc Query (QIDO, C-FIND, PDQ), IPF PDQm supplier, OpenHIM login.
  'dcm4chee-qido-query': {"id":"f0ab622d-70b7-86f3-88b6-09a42a484ee4","occurredAt":"2026-03-03T10:14:02.118+01:00","category":"data_access","action":"query","outcome":"success","actor":{"id":"tech.halvorsen","type":"user","ip":"10.40.2.17"},"source":{"system":"dcm4chee-arc"},"query":{"text":"/dcm4chee-arc/aets/DCM4CHEE/rs/patientsPatientName=HALVORSEN*&includefield=all&offset=0&limit=21&orderby=PatientName"},"details":{"atnaMessageSha256":"4f3737dd40c9b3b9fa983ad752baf19b6bfd2b28b3233998013d04040d8fbdd4","dicomEventId":"110112","dicomAction":"E","dicomOutcome":"0"}},
  'dcm4chee-cfind-query': {"id":"572d5231-2a04-8e83-b106-141c271bdac8","occurredAt":"2026-03-03T10:15:44+01:00","category":"data_access","action":"query","outcome":"success","actor":{"id":"VIEWSTATION7","type":"service"},"source":{"system":"dcm4chee-arc"},"resource":{"type":"SOPClass","id":"1.2.840.10008.5.1.4.1.2.2.1"},"query":{"text":"CABSAAYAAABTVFVEWSAQABAAEgAAAEhBTFZPUlNFTl5JTkdSSUQqIBAAIAAAAAAAIAANAAAAAAA="},"details":{"atnaMessageSha256":"85ed0d428b2ba40464c076a74f8edb3a31bcd03c000c1fcb919d129cde15862a","dicomEventId":"110112","dicomAction":"E","dicomOutcome":"0"}},
  'dcm4chee-pdq-query': {"id":"ab0d03b5-6222-87eb-9064-2ac48926295d","occurredAt":"2026-03-03T10:15:12.204+01:00","category":"data_access","action":"query","outcome":"success","actor":{"id":"10.40.2.23","type":"user","ip":"10.40.2.23"},"source":{"system":"dcm4chee-arc"},"patient":{"id":"PDQ-30117^^^HIS&1.2.40.0.13.1.1.77&ISO"},"resource":{"type":"Patient","id":"PDQ-30117^^^HIS&1.2.40.0.13.1.1.77&ISO"},"query":{"text":"MSH|^~\\&|HL7SND|DCM4CHEE|HL7RCV|HIS|20260303101512.204||QBP^Q22^QBP_Q21|88123004|P|2.5|||||||8859/1|||\rQPD|IHE PDQ Query|QRY88123004|@PID.5.1.1^MAGNUSSEN~@PID.7^19640212|\rRCP|I|||||"},"details":{"atnaMessageSha256":"029e78092c3ef0dea1adbb6aca0134008f154004e76be76d1ce26d5eb0252d76","dicomEventId":"110112","dicomEventType":"ITI-21","dicomAction":"E","dicomOutcome":"0"}},
  'ipf-pdqm-query': {"id":"286d8458-c9b9-8d2c-8f1f-af46cb9ca8c5","occurredAt":"2026-03-03T09:02:41.336Z","category":"data_access","action":"query","outcome":"success","actor":{"id":"mobile-intake-app","type":"service","ip":"172.20.14.9"},"source":{"system":"IPF"},"query":{"text":"https://hie.example.org/fhir/Patient?family=Oyelaran&given=Folake&gender=female"},"details":{"atnaMessageSha256":"f51b42748dd6f8da2a74a185d93c8f4c09e1e6d8c71aad6375f5c6f71f3f59af","dicomEventId":"110112","dicomEventType":"ITI-78","dicomAction":"E","dicomOutcome":"0","sourceSite":"IPF"}},
  'openhim-user-login': {"id":"2545f0b2-0ee6-858d-a8ae-71a27cd6026f","occurredAt":"2026-03-03T08:31:07.512Z","category":"authentication","action":"login","outcome":"success","actor":{"id":"thandi.mokoena@moh.example.org","type":"user","role":"admin"},"source":{"system":"openhim"},"details":{"atnaMessageSha256":"5fad7310e03013e6a87b104aa007301d2f39db5dd7fbf96ab1f7d079664ba03c","dicomEventId":"110114","dicomEventType":"110122","dicomAction":"E","dicomOutcome":"0"}},
};

describe('DICOM audit message fixtures map to the expected canonical events', () => {
  const validator = new EventValidator();
  it.each(Object.keys(EXPECTED))('%s', (name) => {
    const mapped = mapDicomAuditMessage(fixture(name));
    expect(mapped.event).toEqual(EXPECTED[name]);
    expect(mapped.messageSha256).toBe(EXPECTED[name].details?.atnaMessageSha256);
    expect(validator.errorsFor(mapped.event)).toEqual([]);
  });

  it('has an expectation for every fixture file (a fixture cannot be added untested)', () => {
    const files = readdirSync(join(__dirname, 'fixtures')).filter((f) => f.endsWith('.xml')).map((f) => f.replace(/\.xml$/, ''));
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('reads what each real emitter searched: text decoded, a binary C-FIND dataset kept as its base64, names found in URL searches', () => {
    expect(EXPECTED['dcm4chee-cfind-query'].query?.text).toBe(readFileSync(join(__dirname, 'fixtures', 'dcm4chee-cfind-query.xml'), 'utf8').match(/<ParticipantObjectQuery>([^<]+)</)![1]);
    expect(searchedNames(parseSearchQuery(EXPECTED['ipf-pdqm-query'].query!.text))).toEqual(['Oyelaran', 'Folake']);
    expect(searchedNames(parseSearchQuery(EXPECTED['dcm4chee-qido-query'].query!.text))).toEqual(['HALVORSEN']);
    expect(EXPECTED['dcm4chee-pdq-query'].query?.text).toMatch(/^MSH\|.*\rQPD\|IHE PDQ Query\|/s);
    expect(JSON.stringify(EXPECTED['dcm4chee-pdq-query'])).not.toContain('MAGNUSSEN^EIRA'); // ParticipantObjectName
  });

  it('never stores the patient name (ParticipantObjectName)', () => {
    expect(JSON.stringify(mapDicomAuditMessage(fixture('patient-record-read')).event)).not.toContain('HOUSE^GREGORY');
  });

  it('maps the same bytes to the same id (a re-sent message is idempotent), and a string like a Buffer', () => {
    const bytes = fixture('user-login');
    expect(mapDicomAuditMessage(bytes.toString('utf8')).event.id).toBe(mapDicomAuditMessage(bytes).event.id);
  });

  it('records the authenticated sending node as source.integration', () => {
    expect(mapDicomAuditMessage(fixture('user-login'), { integration: 'idp-node' }).event.source).toEqual({ system: 'idp.clinic.example.org', integration: 'idp-node' });
  });
});

describe('DICOM audit message decisions', () => {
  const login = fixture('user-login').toString('utf8');

  it('maps a failure whose description says access was denied to denied', () => {
    const xml = login
      .replace('EventOutcomeIndicator="0"', 'EventOutcomeIndicator="8"')
      .replace('</EventIdentification>', '<EventOutcomeDescription>Access denied: account locked</EventOutcomeDescription></EventIdentification>');
    expect(mapDicomAuditMessage(xml).event.outcome).toBe('denied');
  });

  it('maps logout, and an unknown event id by its action code', () => {
    expect(mapDicomAuditMessage(login.replace('csd-code="110122"', 'csd-code="110123"')).event.action).toBe('logout');
    const custom = mapDicomAuditMessage(login.replace('csd-code="110114" codeSystemName="DCM"', 'csd-code="IHE0001" codeSystemName="IHE"').replace('EventActionCode="E"', 'EventActionCode="U"'));
    expect([custom.event.category, custom.event.action]).toEqual(['data_modification', 'update']);
  });

  it('falls back to the Source Role ID participant when nobody is the requestor', () => {
    const xml = fixture('dicom-instances-accessed').toString('utf8').replace('UserIsRequestor="true"', 'UserIsRequestor="false"');
    expect(mapDicomAuditMessage(xml).event.actor).toEqual({ id: 'VIEWER01', type: 'service', ip: '10.9.8.7' });
  });

  it('keeps a long data-quality note to whole notes (each one a deviation a metric can count), marking the rest with ...', () => {
    const lenient = fixture('lenient-instances-transferred').toString('utf8');
    const participant = /<ActiveParticipant UserID="PACS_MAIN"[\s\S]*?<\/ActiveParticipant>/.exec(lenient)![0];
    const many = lenient.replace(participant, Array.from({ length: 20 }, (_, i) => participant.replace('PACS_MAIN"', `PACS_${i}"`)).join('\n'));
    const note = String(mapDicomAuditMessage(many).event.details?.dataQuality);
    expect(note.length).toBeLessThanOrEqual(256);
    expect(note.endsWith(' ...')).toBe(true);
    for (const part of note.split(' ').slice(0, -1)) expect(part).toMatch(/^(EventIdentification@EventOutcomeIndicator:missing|ActiveParticipant\[\d+\]@UserIsRequestor:case)$/);
  });
});

describe('DICOM audit message errors name the element and carry no PHI', () => {
  const read = fixture('patient-record-read').toString('utf8');
  const phi = ['PAT-7731', 'dr.house', '10.1.2.3', 'HOUSE', 'ehr01'];
  const expectNoPhi = (e: AtnaError) => {
    for (const s of phi) expect(JSON.stringify(e.toJSON()) + e.message + e.stack).not.toContain(s);
  };

  it.each([
    ['a missing EventDateTime', read.replace(/EventDateTime="[^"]*"/, ''), 'missing-element', 'EventIdentification@EventDateTime'],
    ['a bad EventDateTime', read.replace(/EventDateTime="[^"]*"/, 'EventDateTime="PAT-7731 yesterday"'), 'invalid-value', 'EventIdentification@EventDateTime'],
    ['a bad outcome', read.replace('EventOutcomeIndicator="0"', 'EventOutcomeIndicator="PAT-7731"'), 'invalid-value', 'EventIdentification@EventOutcomeIndicator'],
    ['a bad action code', read.replace('EventActionCode="R"', 'EventActionCode="X"'), 'invalid-value', 'EventIdentification@EventActionCode'],
    ['a missing EventID', read.replace(/<EventID [^>]*\/>/, ''), 'missing-element', 'EventIdentification/EventID@csd-code'],
    ['no ActiveParticipant UserID', read.replace('UserID="dr.house@clinic.example.org"', ''), 'missing-element', 'ActiveParticipant[0]@UserID'],
    ['a bad UserIsRequestor', read.replace('UserIsRequestor="true"', 'UserIsRequestor="dr.house"'), 'invalid-value', 'ActiveParticipant[0]@UserIsRequestor'],
    ['no requestor and no Source Role ID', read.replace('UserIsRequestor="true"', 'UserIsRequestor="false"'), 'no-requestor', 'ActiveParticipant@UserIsRequestor'],
    ['no AuditSourceIdentification', read.replace(/<AuditSourceIdentification[\s\S]*<\/AuditSourceIdentification>/, ''), 'missing-element', 'AuditSourceIdentification'],
    ['a patient id over the canonical bound', read.replace('PAT-7731^^^', `PAT-7731${'9'.repeat(300)}`), 'invalid-mapped-event', 'ParticipantObjectIdentification@ParticipantObjectID'],
    ['another root element', '<Audit><EventIdentification/></Audit>', 'not-an-audit-message', 'AuditMessage'],
  ])('%s', (_what, xml, code, element) => {
    const e = errorOf(xml);
    expect([e.code, e.element]).toEqual([code, element]);
    expectNoPhi(e);
  });

  it('reports malformed XML by position only', () => {
    const e = errorOf(read.replace('</ActiveParticipant>', '</ActiveParticipant_PAT-7731>'));
    expect(e.code).toBe('xml-malformed');
    expect(e.message).toMatch(/line \d+, column \d+/);
    expectNoPhi(e);
  });
});
