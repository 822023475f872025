/**
 * Maps a DICOM PS3.15 audit message (IHE ATNA) to the canonical access event. The event id is
 * derived from the SHA-256 of the XML bytes, so a message re-sent after a dropped connection maps
 * to the same id; that hash is also kept in `details.atnaMessageSha256`. Every choice is listed in
 * libs/standards/README.md ("DICOM audit message mapping").
 */
import { isIP } from 'node:net';
import { AccessEvent } from '@app/core';
import {
  classifyByActionCode,
  classifyDicomEvent,
  DCM,
  outcomeFromIndicator,
  purposeFromCode,
  sensitivityFromCode,
} from '../shared/audit-vocabulary';
import { canonicalErrors } from '../shared/canonical-check';
import { ID_NAMESPACES, nameBasedUuid, sha256Hex } from '../shared/content-identity';
import { dataQualityNote } from '../shared/data-quality';
import { AtnaError } from './atna-error';
import { DicomActiveParticipant, DicomCode, DicomParticipantObject, DicomReadOptions, readDicomAuditMessage } from './dicom-audit-message';

export interface DicomMappingOptions extends DicomReadOptions {
  /** The authenticated sending node (from its client certificate); becomes `source.integration`. */
  integration?: string;
  /** Extra scalar details to record (e.g. syslog host and app name); bounded like any details. */
  extraDetails?: Record<string, string | number | boolean>;
}

export interface MappedDicomAuditMessage {
  event: AccessEvent;
  /** SHA-256 (hex) of the XML bytes as received; also in `details.atnaMessageSha256`. */
  messageSha256: string;
}

const ROLE = { patient: '1', query: '24' } as const;
/** ParticipantObjectIDTypeCode (DICOM CID 404 and RFC 3881) to a resource type name. */
const OBJECT_ID_TYPES: Record<string, string> = {
  '110180': 'ImagingStudy',
  '110181': 'SOPClass',
  '110182': 'Node',
  '9': 'Report',
  '12': 'URI',
};
const MAX_DETAIL_TEXT = 256;
/** What the canonical `query.text` holds (ACCESS_EVENT_SCHEMA); longer queries are cut and noted. */
const MAX_QUERY_TEXT = 4096;

function isDcmCode(c: DicomCode): boolean {
  return c.codeSystemName === undefined ? /^1101\d\d$/.test(c.code) : c.codeSystemName === 'DCM' || c.codeSystemName === '1.2.840.10008.2.16.4';
}

function hasAppRole(p: DicomActiveParticipant): boolean {
  return p.roleIdCodes.some((c) => isDcmCode(c) && DCM.applicationRoles.has(c.code));
}

function isSourceRole(p: DicomActiveParticipant): boolean {
  return p.roleIdCodes.some((c) => isDcmCode(c) && c.code === DCM.sourceRoleId);
}

function participantIp(p: DicomActiveParticipant | undefined): string | undefined {
  const nap = p?.networkAccessPointId;
  return nap && isIP(nap) !== 0 ? nap : undefined;
}

function isPatientObject(o: DicomParticipantObject): boolean {
  return o.typeCodeRole === ROLE.patient && (o.typeCode === undefined || o.typeCode === '1');
}

/** Maps raw XML (the MSG of an ATNA syslog message); throws an AtnaError naming the element on failure. */
export function mapDicomAuditMessage(xml: Buffer | string, options: DicomMappingOptions = {}): MappedDicomAuditMessage {
  const bytes = typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml;
  const message = readDicomAuditMessage(bytes, options);
  const messageSha256 = sha256Hex(bytes);
  const { event: ei, participants, objects } = message;

  // Who: the requestor (explicit UserIsRequestor=true first, then the RFC 3881 default of true),
  // else the Source Role ID participant as a service.
  let actorIndex = participants.findIndex((p) => p.userIsRequestor === true);
  if (actorIndex < 0) actorIndex = participants.findIndex((p) => p.userIsRequestor === undefined);
  const isRequestor = actorIndex >= 0;
  if (actorIndex < 0) actorIndex = participants.findIndex(isSourceRole);
  if (actorIndex < 0) {
    throw new AtnaError('mapping', 'no-requestor', 'no ActiveParticipant is the requestor or the Source Role ID: cannot tell who acted', 'ActiveParticipant@UserIsRequestor');
  }
  const actorP = participants[actorIndex];
  // UserTypeCode says it outright (1 Person, 2 Application); without it, the role decides.
  const type = actorP.userTypeCode === '1' ? 'user' : actorP.userTypeCode === '2' || !isRequestor || hasAppRole(actorP) ? 'service' : 'user';
  const actor: AccessEvent['actor'] = { id: actorP.userId, type };
  const role = actorP.roleIdCodes.find((c) => !isDcmCode(c));
  if (role) actor.role = role.code;
  const ip = participantIp(actorP) ?? participants.filter(isSourceRole).map(participantIp).find(Boolean);
  if (ip) actor.ip = ip;

  const patientObjects = objects.filter(isPatientObject);
  const patient = patientObjects[0];
  const typeCodes = ei.typeCodes.filter(isDcmCode).map((c) => c.code);
  const classification =
    (isDcmCode(ei.id) ? classifyDicomEvent(ei.id.code, typeCodes, ei.actionCode) : null) ?? classifyByActionCode(ei.actionCode, patient !== undefined);

  const source = message.sources[0];
  const timeZoneAssumed = !/(Z|[+-]\d{2}:\d{2})$/.test(ei.dateTime);
  const event: AccessEvent = {
    // Scoped by the sending integration, as FHIR-derived ids are (issue 22).
    id: nameBasedUuid(ID_NAMESPACES.dicomAuditMessage, options.integration === undefined ? bytes : Buffer.concat([Buffer.from(`${options.integration}\u0000`), bytes])),
    occurredAt: timeZoneAssumed ? `${ei.dateTime}Z` : ei.dateTime,
    category: classification.category,
    action: classification.action,
    outcome: outcomeFromIndicator(ei.outcome, ei.outcomeDescription),
    actor,
    source: { system: source.auditSourceId },
  };
  if (options.integration !== undefined) event.source.integration = options.integration;
  if (patient) event.patient = { id: patient.id };

  const dataObject = objects.find((o) => !isPatientObject(o) && o.typeCodeRole !== ROLE.query);
  if (dataObject) {
    const idType = dataObject.idTypeCode;
    const type = (idType && OBJECT_ID_TYPES[idType.code]) ?? idType?.originalText ?? idType?.displayName ?? 'ParticipantObject';
    event.resource = { type, id: dataObject.id };
  } else if (patient) {
    event.resource = { type: 'Patient', id: patient.id };
  }

  // The search made (a DICOM C-FIND's dataset, a PIX/PDQ query message): PHI, sealed at rest.
  const queryObject = objects.find((o) => o.typeCodeRole === ROLE.query && o.query) ?? objects.find((o) => o.query);
  if (queryObject?.query) {
    const text = queryObject.query.length > MAX_QUERY_TEXT ? queryObject.query.slice(0, /[\uD800-\uDBFF]/.test(queryObject.query[MAX_QUERY_TEXT - 1]) ? MAX_QUERY_TEXT - 1 : MAX_QUERY_TEXT) : queryObject.query;
    event.query = { text };
    if (text.length < queryObject.query.length) message.dataQuality.push(`ParticipantObjectIdentification[${queryObject.index}]/ParticipantObjectQuery:truncated`);
  }

  const instances = objects.reduce<number | undefined>((n, o) => (o.numberOfInstances === undefined ? n : (n ?? 0) + o.numberOfInstances), undefined);
  if (instances !== undefined) event.recordCount = instances;

  let breakGlass = classification.action === 'break_glass';
  for (const c of ei.purposeOfUse) {
    const decision = purposeFromCode(c.code);
    if (decision) {
      event.purpose = decision.purpose;
      breakGlass ||= decision.breakGlass;
      break;
    }
  }

  const sensitivity = [...new Set(objects.map((o) => (o.sensitivity ? sensitivityFromCode(o.sensitivity) : null)).filter((s): s is string => s !== null))];
  if (sensitivity.length > 0) event.sensitivity = sensitivity.slice(0, 16);

  const details: Record<string, string | number | boolean> = { atnaMessageSha256: messageSha256 };
  const put = (key: string, value: string | undefined) => {
    if (value !== undefined && value.length <= MAX_DETAIL_TEXT) details[key] = value;
  };
  put('dicomEventId', ei.id.code);
  put('dicomEventType', ei.typeCodes[0]?.code);
  put('dicomAction', ei.actionCode);
  details.dicomOutcome = ei.outcome;
  put('sourceSite', source.enterpriseSiteId);
  if (timeZoneAssumed) details.timeZoneAssumed = 'UTC';
  if (message.dataQuality.length > 0) details.dataQuality = dataQualityNote(message.dataQuality, MAX_DETAIL_TEXT);
  if (message.dataQuality.includes('EventIdentification@EventOutcomeIndicator:missing')) details.outcomeAssumed = true;
  if (breakGlass) details.breakGlass = true;
  if (new Set(patientObjects.map((o) => o.id)).size > 1) details.patientObjects = new Set(patientObjects.map((o) => o.id)).size;
  for (const [key, value] of Object.entries(options.extraDetails ?? {})) {
    if (!(key in details) && (typeof value !== 'string' || value.length <= MAX_DETAIL_TEXT)) details[key] = value;
  }
  event.details = details;

  const errors = canonicalErrors(event);
  if (errors.length > 0) {
    const first = errors[0];
    throw new AtnaError('mapping', 'invalid-mapped-event', `DICOM audit message maps to canonical field ${first.pointer || '/'}, which ${first.message}`, elementFor(first.pointer));
  }
  return { event, messageSha256 };
}

/** The XML element a canonical field comes from, to name it in errors. */
function elementFor(pointer: string): string {
  const table: Array<[string, string]> = [
    ['/occurredAt', 'EventIdentification@EventDateTime'],
    ['/actor/id', 'ActiveParticipant@UserID'],
    ['/actor/role', 'ActiveParticipant/RoleIDCode'],
    ['/actor', 'ActiveParticipant'],
    ['/patient', 'ParticipantObjectIdentification@ParticipantObjectID'],
    ['/resource', 'ParticipantObjectIdentification'],
    ['/purpose', 'EventIdentification/PurposeOfUse'],
    ['/query', 'ParticipantObjectIdentification/ParticipantObjectQuery'],
    ['/source', 'AuditSourceIdentification@AuditSourceID'],
    ['/recordCount', 'SOPClass@NumberOfInstances'],
    ['/action', 'EventIdentification/EventID'],
    ['/category', 'EventIdentification/EventID'],
  ];
  return table.find(([prefix]) => pointer === prefix || pointer.startsWith(`${prefix}/`))?.[1] ?? 'AuditMessage';
}
