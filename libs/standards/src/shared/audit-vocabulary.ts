/**
 * The healthcare audit vocabularies both standard mappers share (DICOM PS3.16 DCM audit codes,
 * FHIR restful-interaction, HL7 v3 PurposeOfUse / ActReason, v3 sensitivity codes, RFC 3881 /
 * DICOM outcome indicators) and the decisions that turn them into canonical category, action,
 * outcome, purpose and sensitivity. Pure tables and functions; the README documents each choice.
 */
import { EventCategory, EventOutcome } from '@app/core';

/** Code systems under which DICOM audit codes appear (FHIR R4 URI, the older FHIR URI, the OID). */
export const DCM_SYSTEMS = new Set([
  'http://dicom.nema.org/resources/ontology/DCM',
  'http://nema.org/dicom/dicm',
  'urn:oid:1.2.840.10008.2.16.4',
  'DCM',
]);
export const RESTFUL_INTERACTION_SYSTEM = 'http://hl7.org/fhir/restful-interaction';
export const AUDIT_EVENT_TYPE_SYSTEMS = new Set([
  'http://terminology.hl7.org/CodeSystem/audit-event-type',
  'http://hl7.org/fhir/audit-event-type',
]);

export const DCM = {
  applicationActivity: '110100',
  auditLogUsed: '110101',
  beginTransferringInstances: '110102',
  instancesAccessed: '110103',
  instancesTransferred: '110104',
  studyDeleted: '110105',
  export: '110106',
  import: '110107',
  networkEntry: '110108',
  orderRecord: '110109',
  patientRecord: '110110',
  procedureRecord: '110111',
  query: '110112',
  securityAlert: '110113',
  userAuthentication: '110114',
  login: '110122',
  logout: '110123',
  /** Active participant role ids that denote software or media, never a person. */
  applicationRoles: new Set(['110150', '110151', '110152', '110153', '110154', '110155']),
  sourceRoleId: '110153',
} as const;

export interface Classification {
  category: EventCategory;
  action: string;
}

/** Audit action codes shared by FHIR R4 `AuditEvent.action` and DICOM `EventActionCode`. */
export type ActionCode = 'C' | 'R' | 'U' | 'D' | 'E';
export const ACTION_CODES: readonly ActionCode[] = ['C', 'R', 'U', 'D', 'E'];

/** Outcome indicators shared by FHIR R4 `AuditEvent.outcome` and DICOM `EventOutcomeIndicator`. */
export const OUTCOME_CODES = ['0', '4', '8', '12'] as const;
export type OutcomeCode = (typeof OUTCOME_CODES)[number];

const SECURITY_ALERT_ACTIONS: Record<string, string> = {
  '110126': 'node_authentication',
  '110127': 'break_glass',
  '110138': 'break_glass_end',
  '110128': 'configuration_change',
  '110129': 'configuration_change',
  '110130': 'configuration_change',
  '110131': 'configuration_change',
  '110132': 'restricted_function',
  '110133': 'audit_recording_stopped',
  '110134': 'audit_recording_started',
  '110135': 'permission_change',
  '110136': 'permission_change',
  '110137': 'permission_change',
  '110139': 'remote_service_start',
  '110140': 'remote_service_stop',
  '110141': 'local_service_start',
  '110142': 'local_service_stop',
};

/**
 * Category and action from the action code alone (the fallback when the event type is not one we
 * know): C/U/D modify data; R reads it; E (execute) and an absent code count as data access when a
 * patient is involved and as system access otherwise.
 */
export function classifyByActionCode(actionCode: ActionCode | undefined, involvesPatient: boolean): Classification {
  switch (actionCode) {
    case 'C':
      return { category: 'data_modification', action: 'create' };
    case 'U':
      return { category: 'data_modification', action: 'update' };
    case 'D':
      return { category: 'data_modification', action: 'delete' };
    case 'R':
      return { category: 'data_access', action: 'read' };
    case 'E':
      return { category: involvesPatient ? 'data_access' : 'system_access', action: 'execute' };
    default:
      return { category: involvesPatient ? 'data_access' : 'system_access', action: 'unspecified' };
  }
}

/**
 * Category and action of a DICOM audit event id (PS3.15 A.5.3, PS3.16 CID 400) refined by its
 * event type codes (CID 401); null when the event id is not a DICOM audit event id.
 */
export function classifyDicomEvent(eventId: string, typeCodes: readonly string[], actionCode: ActionCode | undefined): Classification | null {
  const has = (code: string) => typeCodes.includes(code);
  switch (eventId) {
    case DCM.applicationActivity:
      return { category: 'system_access', action: has('110120') ? 'application_start' : has('110121') ? 'application_stop' : 'application_activity' };
    case DCM.auditLogUsed:
      return { category: 'data_access', action: 'read' };
    case DCM.beginTransferringInstances:
      return { category: 'data_access', action: 'transfer_start' };
    case DCM.instancesTransferred:
      return { category: actionCode === 'C' || actionCode === 'U' ? 'data_modification' : 'data_access', action: 'transfer' };
    case DCM.studyDeleted:
      return { category: 'data_modification', action: 'delete' };
    case DCM.export:
      return { category: 'data_access', action: 'export' };
    case DCM.import:
      return { category: 'data_modification', action: 'import' };
    case DCM.networkEntry:
      return { category: 'system_access', action: has('110124') ? 'network_attach' : has('110125') ? 'network_detach' : 'network_entry' };
    case DCM.query:
      return { category: 'data_access', action: 'query' };
    case DCM.securityAlert: {
      const known = typeCodes.find((c) => c in SECURITY_ALERT_ACTIONS);
      return { category: 'security', action: known ? SECURITY_ALERT_ACTIONS[known] : 'security_alert' };
    }
    case DCM.userAuthentication:
      return { category: 'authentication', action: has(DCM.login) ? 'login' : has(DCM.logout) ? 'logout' : 'authenticate' };
    case DCM.instancesAccessed:
    case DCM.orderRecord:
    case DCM.patientRecord:
    case DCM.procedureRecord: {
      const byCode = classifyByActionCode(actionCode, true);
      return byCode.action === 'execute' || byCode.action === 'unspecified' ? { category: 'data_access', action: 'read' } : byCode;
    }
    default:
      return null;
  }
}

/** FHIR restful-interaction codes (R4) to canonical actions. */
const REST_INTERACTIONS: Record<string, Classification> = {
  read: { category: 'data_access', action: 'read' },
  vread: { category: 'data_access', action: 'read' },
  'history-instance': { category: 'data_access', action: 'read' },
  search: { category: 'data_access', action: 'query' },
  'search-type': { category: 'data_access', action: 'query' },
  'search-system': { category: 'data_access', action: 'query' },
  history: { category: 'data_access', action: 'query' },
  'history-type': { category: 'data_access', action: 'query' },
  'history-system': { category: 'data_access', action: 'query' },
  create: { category: 'data_modification', action: 'create' },
  update: { category: 'data_modification', action: 'update' },
  patch: { category: 'data_modification', action: 'update' },
  delete: { category: 'data_modification', action: 'delete' },
  capabilities: { category: 'system_access', action: 'read' },
  operation: { category: 'data_access', action: 'execute' },
};

export function classifyRestInteraction(code: string): Classification | null {
  return Object.prototype.hasOwnProperty.call(REST_INTERACTIONS, code) ? REST_INTERACTIONS[code] : null;
}

/** A FHIR bulk-data `$export` (or an `export` operation code) is an export, whatever else it says. */
export function isExportOperationCode(code: string): boolean {
  return code === 'export' || code === '$export' || /\/OperationDefinition\/[A-Za-z-]*export$/i.test(code);
}

/**
 * Outcome: 0 is success; 4 (minor), 8 (serious) and 12 (major failure) are failures, reported as
 * `denied` when the outcome description says the request was refused for lack of permission
 * (HTTP 403, "forbidden", "denied", "not permitted", "insufficient scope", "consent"). The
 * description is only matched, never stored.
 */
export function outcomeFromIndicator(code: OutcomeCode, description?: string): EventOutcome {
  if (code === '0') return 'success';
  if (description && DENIAL_PATTERN.test(description.slice(0, 2048))) return 'denied';
  return 'failure';
}
const DENIAL_PATTERN = /\b(403|forbidden|denied|not permitted|insufficient[ _-]scope|consent)\b/i;

/**
 * HL7 v3 PurposeOfUse (v3-ActReason) codes to the canonical purposes. Specializations follow their
 * HIPAA parent (payment, operations); unknown codes that are valid tokens pass through unchanged.
 */
const PURPOSES: Record<string, string> = {
  TREAT: 'TREAT',
  ETREAT: 'EMERGENCY',
  BTG: 'EMERGENCY',
  HPAYMT: 'PAYMENT',
  CLMATTCH: 'PAYMENT',
  COVAUTH: 'PAYMENT',
  COVERAGE: 'PAYMENT',
  ELIGDTRM: 'PAYMENT',
  ELIGVER: 'PAYMENT',
  ENROLLM: 'PAYMENT',
  REMITADV: 'PAYMENT',
  HOPERAT: 'OPERATIONS',
  CAREMGT: 'OPERATIONS',
  HSYSADMIN: 'OPERATIONS',
  PATADMIN: 'OPERATIONS',
  RECORDMGT: 'OPERATIONS',
  HQUALIMP: 'OPERATIONS',
  HACCRED: 'OPERATIONS',
  HCOMPL: 'OPERATIONS',
  HOUTCOMS: 'OPERATIONS',
  HLEGAL: 'OPERATIONS',
  PATSFTY: 'OPERATIONS',
  PERFMSR: 'OPERATIONS',
  FRAUD: 'OPERATIONS',
  METAMGT: 'OPERATIONS',
  SYSDEV: 'OPERATIONS',
  TRAIN: 'OPERATIONS',
  HTEST: 'OPERATIONS',
  PUBHLTH: 'PUBLIC_HEALTH',
  HRESCH: 'RESEARCH',
  CLINTRCH: 'RESEARCH',
  PATRQT: 'PATIENT_REQUEST',
  FAMRQT: 'PATIENT_REQUEST',
  PWATRNY: 'PATIENT_REQUEST',
  HMARKT: 'MARKETING',
};
const PURPOSE_TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/;

export interface PurposeDecision {
  purpose: string;
  breakGlass: boolean;
}

/** The canonical purpose of a purpose-of-use code, or null when the code cannot be a purpose token. */
export function purposeFromCode(code: string): PurposeDecision | null {
  const upper = code.toUpperCase();
  if (Object.prototype.hasOwnProperty.call(PURPOSES, upper)) return { purpose: PURPOSES[upper], breakGlass: upper === 'BTG' };
  return PURPOSE_TOKEN.test(code) ? { purpose: code, breakGlass: false } : null;
}

/** HL7 v3 sensitivity (ActCode) and confidentiality codes to canonical sensitivity segments. */
const SENSITIVITIES: Record<string, string> = {
  ETH: 'substance_use',
  SUD: 'substance_use',
  PSY: 'behavioral_health',
  PSYTHPN: 'behavioral_health',
  BH: 'behavioral_health',
  MH: 'behavioral_health',
  HIV: 'hiv',
  STD: 'sexually_transmitted_disease',
  SDV: 'sexual_domestic_violence',
  SEX: 'sexuality_reproductive',
  GDIS: 'genetic',
  CEL: 'vip',
  EMP: 'employee',
  R: 'restricted',
  V: 'very_restricted',
};

export function sensitivityFromCode(code: string): string | null {
  return Object.prototype.hasOwnProperty.call(SENSITIVITIES, code) ? SENSITIVITIES[code] : null;
}
