/**
 * Reads a DICOM PS3.15 A.5 `AuditMessage` (also the RFC 3881 form it grew from: `code` instead of
 * `csd-code`) from untrusted XML into a typed structure: EventIdentification, ActiveParticipant,
 * AuditSourceIdentification and ParticipantObjectIdentification. Only the parts the canonical
 * mapping uses are read; errors name the element, never its content.
 */
import { ACTION_CODES, ActionCode, OUTCOME_CODES, OutcomeCode } from '../shared/audit-vocabulary';
import { normalizeEntityQuery } from '../fhir/fhir-r4-reader';
import { AtnaError } from './atna-error';
import { ATTR, parseUntrustedXml, TEXT } from './safe-xml';

export interface DicomCode {
  code: string;
  codeSystemName?: string;
  displayName?: string;
  originalText?: string;
}

export interface DicomActiveParticipant {
  index: number;
  userId: string;
  alternativeUserId?: string;
  /** UserIsRequestor as sent, or undefined when absent (RFC 3881 default: true). */
  userIsRequestor?: boolean;
  networkAccessPointId?: string;
  networkAccessPointTypeCode?: string;
  /** UserTypeCode (PS3.15 since 2019, dcm4chee-arc sends it): `1` Person, `2` Application. */
  userTypeCode?: string;
  roleIdCodes: DicomCode[];
}

export interface DicomParticipantObject {
  index: number;
  id: string;
  typeCode?: string;
  typeCodeRole?: string;
  idTypeCode?: DicomCode;
  sensitivity?: string;
  /** Sum of SOPClass@NumberOfInstances, when the object lists SOP classes. */
  numberOfInstances?: number;
  /** ParticipantObjectQuery decoded to text (xs:base64Binary; plain text is accepted and noted). PHI. */
  query?: string;
}

export interface DicomAuditMessage {
  event: {
    id: DicomCode;
    actionCode?: ActionCode;
    dateTime: string;
    outcome: OutcomeCode;
    outcomeDescription?: string;
    typeCodes: DicomCode[];
    purposeOfUse: DicomCode[];
  };
  participants: DicomActiveParticipant[];
  sources: Array<{ auditSourceId: string; enterpriseSiteId?: string }>;
  objects: DicomParticipantObject[];
  /**
   * Known deviations from PS3.15 accepted and normalized (lenient in, strict at rest), each naming
   * the element and the deviation, never a value: e.g. `ActiveParticipant[0]@UserIsRequestor:case`.
   */
  dataQuality: string[];
}

export interface DicomReadOptions {
  /** Largest accepted XML document in bytes (default 64 KiB). */
  maxXmlBytes?: number;
}

const REPEATABLE = new Set([
  'ActiveParticipant',
  'RoleIDCode',
  'MediaIdentifier',
  'AuditSourceIdentification',
  'AuditSourceTypeCode',
  'ParticipantObjectIdentification',
  'ParticipantObjectDetail',
  'ParticipantObjectDescription',
  'SOPClass',
  'Instance',
  'EventTypeCode',
  'PurposeOfUse',
  'EventOutcomeDescription',
]);
const MAX_REPEATS = { participants: 64, sources: 8, objects: 256, codes: 32 } as const;
/** xs:dateTime; the time zone is optional in XML Schema (the mapper assumes UTC when absent). */
const XS_DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$/;

type Node = Record<string, unknown>;

function missing(element: string): AtnaError {
  return new AtnaError('mapping', 'missing-element', 'DICOM audit message lacks a required element or attribute', element);
}

function invalid(element: string, what: string): AtnaError {
  return new AtnaError('mapping', 'invalid-value', `DICOM audit message ${what}`, element);
}

function asNode(value: unknown): Node | undefined {
  if (typeof value === 'string') return value === '' ? {} : { [TEXT]: value }; // an element with text only, or empty
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Node) : undefined;
}

function nodes(parent: Node, name: string, max: number, element: string): Node[] {
  const value = parent[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  if (list.length > max) throw new AtnaError('mapping', 'too-many-elements', `DICOM audit message repeats an element more than ${max} times`, element);
  return list.map((v) => asNode(v) ?? {});
}

function attr(node: Node, name: string): string | undefined {
  const value = node[ATTR + name];
  return typeof value === 'string' && value.trim().length > 0 ? value.trim() : undefined;
}

function text(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  const value = node[TEXT];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function code(node: Node): DicomCode | undefined {
  const value = attr(node, 'csd-code') ?? attr(node, 'code');
  if (!value) return undefined;
  return { code: value, codeSystemName: attr(node, 'codeSystemName'), displayName: attr(node, 'displayName'), originalText: attr(node, 'originalText') };
}

function codes(parent: Node, name: string, element: string): DicomCode[] {
  return nodes(parent, name, MAX_REPEATS.codes, element)
    .map(code)
    .filter((c): c is DicomCode => c !== undefined);
}

function booleanAttr(node: Node, name: string, element: string, dataQuality: string[]): boolean | undefined {
  const value = attr(node, name);
  if (value === undefined) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  // Lenient in: xs:boolean is lower case, some emitters write TRUE / False.
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === 'false') {
    dataQuality.push(`${element}:case`);
    return lower === 'true';
  }
  throw invalid(element, 'has a boolean attribute that is neither true nor false');
}

function instancesOf(obj: Node): number | undefined {
  const sopClasses = [
    ...nodes(obj, 'SOPClass', MAX_REPEATS.codes, 'ParticipantObjectIdentification/SOPClass'),
    ...nodes(obj, 'ParticipantObjectDescription', MAX_REPEATS.codes, 'ParticipantObjectIdentification/ParticipantObjectDescription').flatMap((d) =>
      nodes(d, 'SOPClass', MAX_REPEATS.codes, 'ParticipantObjectDescription/SOPClass'),
    ),
  ];
  let total: number | undefined;
  for (const sop of sopClasses) {
    const n = attr(sop, 'NumberOfInstances');
    if (n === undefined) continue;
    if (!/^\d{1,9}$/.test(n)) throw invalid('SOPClass@NumberOfInstances', 'has a NumberOfInstances that is not a non-negative integer');
    total = (total ?? 0) + Number(n);
  }
  return total;
}

/**
 * The ParticipantObjectQuery as text. PS3.15 says base64Binary: base64 of text (a URL, an HL7 v2
 * query message) is decoded; base64 of binary content (a C-FIND identifier dataset, as dcm4chee-arc
 * records it) is kept as the base64 text itself. Some emitters write the query itself (lenient in:
 * read as text and noted, as FHIR's plain-text entity.query is).
 */
function queryOf(obj: Node, element: string, dataQuality: string[]): string | undefined {
  const node = nodes(obj, 'ParticipantObjectQuery', 1, element)[0];
  const value = text(node)?.trim();
  if (!value) return undefined;
  if (BASE64_TEXT.test(value)) {
    const decoded = Buffer.from(value, 'base64');
    const asText = normalizeEntityQuery(value);
    if (!asText.plainText) return decoded.toString('utf8').trim() || undefined;
    if (decoded.length > 0 && value.replace(/\s+/g, '').length % 4 === 0) return value.replace(/\s+/g, '');
  }
  dataQuality.push(`${element}:plain-text`);
  return value;
}
const BASE64_TEXT = /^[A-Za-z0-9+/\s]*={0,2}$/;

/** Parses and reads one audit message; throws an AtnaError (stage `xml` or `mapping`). */
export function readDicomAuditMessage(xml: Buffer | string, options: DicomReadOptions = {}): DicomAuditMessage {
  const tree = parseUntrustedXml(xml, { maxBytes: options.maxXmlBytes, arrayElements: REPEATABLE });
  const root = asNode(tree.AuditMessage);
  if (!root) throw new AtnaError('mapping', 'not-an-audit-message', 'document root is not a DICOM AuditMessage', 'AuditMessage');

  const ei = nodes(root, 'EventIdentification', 1, 'EventIdentification')[0];
  if (!ei) throw missing('EventIdentification');
  const eventIdNode = nodes(ei, 'EventID', 1, 'EventIdentification/EventID')[0];
  const eventId = eventIdNode && code(eventIdNode);
  if (!eventId) throw missing('EventIdentification/EventID@csd-code');

  const dateTime = attr(ei, 'EventDateTime');
  if (!dateTime) throw missing('EventIdentification@EventDateTime');
  if (!XS_DATE_TIME.test(dateTime) || Number.isNaN(Date.parse(dateTime.replace(/(\.\d{3})\d+/, '$1')))) {
    throw invalid('EventIdentification@EventDateTime', 'has an EventDateTime that is not an xs:dateTime');
  }
  const dataQuality: string[] = [];
  let outcome = attr(ei, 'EventOutcomeIndicator');
  if (outcome === undefined) {
    // Lenient in: an emitter that leaves the outcome out reports what happened, not a failure.
    outcome = '0';
    dataQuality.push('EventIdentification@EventOutcomeIndicator:missing');
  }
  if (!(OUTCOME_CODES as readonly string[]).includes(outcome)) throw invalid('EventIdentification@EventOutcomeIndicator', 'has an EventOutcomeIndicator other than 0, 4, 8 or 12');
  const actionCode = attr(ei, 'EventActionCode');
  if (actionCode !== undefined && !(ACTION_CODES as readonly string[]).includes(actionCode)) {
    throw invalid('EventIdentification@EventActionCode', 'has an EventActionCode other than C, R, U, D or E');
  }
  const descriptions = nodes(ei, 'EventOutcomeDescription', MAX_REPEATS.codes, 'EventIdentification/EventOutcomeDescription');
  const outcomeDescription = descriptions.map(text).find((t) => t !== undefined);

  const participants = nodes(root, 'ActiveParticipant', MAX_REPEATS.participants, 'ActiveParticipant').map((p, index): DicomActiveParticipant => {
    const userId = attr(p, 'UserID');
    if (!userId) throw missing(`ActiveParticipant[${index}]@UserID`);
    return {
      index,
      userId,
      alternativeUserId: attr(p, 'AlternativeUserID'),
      userIsRequestor: booleanAttr(p, 'UserIsRequestor', `ActiveParticipant[${index}]@UserIsRequestor`, dataQuality),
      networkAccessPointId: attr(p, 'NetworkAccessPointID'),
      networkAccessPointTypeCode: attr(p, 'NetworkAccessPointTypeCode'),
      userTypeCode: attr(p, 'UserTypeCode'),
      roleIdCodes: codes(p, 'RoleIDCode', `ActiveParticipant[${index}]/RoleIDCode`),
    };
  });
  if (participants.length === 0) throw missing('ActiveParticipant');

  const sources = nodes(root, 'AuditSourceIdentification', MAX_REPEATS.sources, 'AuditSourceIdentification').map((s, index) => {
    const auditSourceId = attr(s, 'AuditSourceID');
    if (!auditSourceId) throw missing(`AuditSourceIdentification[${index}]@AuditSourceID`);
    return { auditSourceId, enterpriseSiteId: attr(s, 'AuditEnterpriseSiteID') };
  });
  if (sources.length === 0) throw missing('AuditSourceIdentification');

  const objects = nodes(root, 'ParticipantObjectIdentification', MAX_REPEATS.objects, 'ParticipantObjectIdentification').map((o, index): DicomParticipantObject => {
    const id = attr(o, 'ParticipantObjectID');
    if (!id) throw missing(`ParticipantObjectIdentification[${index}]@ParticipantObjectID`);
    const idType = nodes(o, 'ParticipantObjectIDTypeCode', 1, `ParticipantObjectIdentification[${index}]/ParticipantObjectIDTypeCode`)[0];
    return {
      index,
      id,
      typeCode: attr(o, 'ParticipantObjectTypeCode'),
      typeCodeRole: attr(o, 'ParticipantObjectTypeCodeRole'),
      idTypeCode: idType ? code(idType) : undefined,
      sensitivity: attr(o, 'ParticipantObjectSensitivity'),
      numberOfInstances: instancesOf(o),
      query: queryOf(o, `ParticipantObjectIdentification[${index}]/ParticipantObjectQuery`, dataQuality),
    };
  });

  return {
    event: {
      id: eventId,
      actionCode: actionCode as ActionCode | undefined,
      dateTime,
      outcome: outcome as OutcomeCode,
      outcomeDescription,
      typeCodes: codes(ei, 'EventTypeCode', 'EventIdentification/EventTypeCode'),
      purposeOfUse: codes(ei, 'PurposeOfUse', 'EventIdentification/PurposeOfUse'),
    },
    participants,
    sources,
    objects,
    dataQuality,
  };
}
