/**
 * One line of a compliance report, built from a stored record: the facts as posted (actor id,
 * role, organisation unit, resource type, purpose code, outcome) and the same facts in words a
 * patient can read ("viewed", "treatment", "refused"). Every format (JSON, CSV, HTML) shows the
 * same rows with the same columns. Pure.
 *
 * Organisation unit: the canonical event has no field for it, so it is taken from `details` as
 * posted, the first present of `department`, `orgUnit`, `organizationUnit`, `organisationUnit`, `unit`.
 */
import type { AccessEvent, AccessExplanation } from '@app/core';

export interface ReportRow {
  /** Event time (RFC 3339 as posted). */
  occurredAt: string;
  eventId: string;
  /** Where the record sits in the log (its integrity coordinates). */
  chain: string;
  seq: number;
  actorId: string;
  actorType: string;
  actorRole: string | null;
  orgUnit: string | null;
  patientId: string | null;
  category: string;
  action: string;
  actionText: string;
  resourceType: string | null;
  resourceText: string | null;
  purpose: string | null;
  purposeText: string;
  outcome: string;
  outcomeText: string;
  sourceSystem: string;
  /** The integration that posted the event, as authenticated (filled in at ingest; null only for old records). */
  sourceIntegration: string | null;
  breakGlass: boolean;
  /**
   * The explanation stage (explainAccess with the context as of the access): true when a care
   * relationship, an open encounter in the user's department or a documented emergency justifies
   * it, false when nothing does, null when the event is not a patient access.
   */
  explained: boolean | null;
  /** Why, in words (e.g. "care relationship (encounter enc-1)"). */
  explanation: string;
  /** The encounter that explains it, when one does. */
  encounterId: string | null;
  /** Ids of the alerts whose evidence cites this event (CSV: separated by spaces). */
  alertIds: string[];
}

/** Column order of every format (CSV header, JSON keys). */
export const REPORT_COLUMNS: readonly (keyof ReportRow)[] = [
  'occurredAt',
  'eventId',
  'chain',
  'seq',
  'actorId',
  'actorType',
  'actorRole',
  'orgUnit',
  'patientId',
  'category',
  'action',
  'actionText',
  'resourceType',
  'resourceText',
  'purpose',
  'purposeText',
  'outcome',
  'outcomeText',
  'sourceSystem',
  'sourceIntegration',
  'breakGlass',
  'explained',
  'explanation',
  'encounterId',
  'alertIds',
];

/** `details` keys read, in order, for the organisation unit. */
export const ORG_UNIT_DETAIL_KEYS = ['department', 'orgUnit', 'organizationUnit', 'organisationUnit', 'unit'] as const;

const PURPOSE_WORDS: Readonly<Record<string, string>> = {
  TREAT: 'treatment',
  EMERGENCY: 'emergency treatment',
  PAYMENT: 'payment',
  OPERATIONS: 'healthcare operations',
  PUBLIC_HEALTH: 'public health',
  RESEARCH: 'research',
  PATIENT_REQUEST: 'at the patient\u2019s request',
  MARKETING: 'marketing',
  LEGAL: 'legal requirement',
  TRAINING: 'training',
};

const ACTION_WORDS: Readonly<Record<string, string>> = {
  read: 'viewed',
  query: 'searched',
  search: 'searched',
  create: 'created',
  update: 'changed',
  delete: 'deleted',
  export: 'exported',
  print: 'printed',
  disclose: 'disclosed',
  login: 'signed in',
  logout: 'signed out',
  tls_handshake: 'connected (secure connection)',
  permission_change: 'changed access permissions',
  break_glass: 'used emergency access (break-glass)',
  break_glass_end: 'ended emergency access',
};

const OUTCOME_WORDS: Readonly<Record<string, string>> = {
  success: 'completed',
  failure: 'failed',
  denied: 'refused',
};

/** FHIR resource types most often seen, in plain words; others are shown as posted. */
const RESOURCE_WORDS: Readonly<Record<string, string>> = {
  Patient: 'demographics',
  Observation: 'observations (results, vital signs)',
  Condition: 'diagnoses and problems',
  MedicationRequest: 'medication orders',
  MedicationStatement: 'medications',
  AllergyIntolerance: 'allergies',
  Immunization: 'immunizations',
  DiagnosticReport: 'diagnostic reports',
  DocumentReference: 'documents and notes',
  Encounter: 'visits',
  Procedure: 'procedures',
  ImagingStudy: 'imaging',
  CarePlan: 'care plans',
  Claim: 'insurance claims',
  Coverage: 'insurance coverage',
};

function words(code: string): string {
  return code.toLowerCase().replace(/_/g, ' ');
}

export function purposeText(purpose: string | undefined): string {
  if (purpose === undefined) return 'not stated';
  return PURPOSE_WORDS[purpose] ?? words(purpose);
}

export function actionText(action: string): string {
  return ACTION_WORDS[action] ?? words(action);
}

export function outcomeText(outcome: string): string {
  return OUTCOME_WORDS[outcome] ?? words(outcome);
}

export function resourceText(type: string | undefined): string | null {
  if (type === undefined) return null;
  return RESOURCE_WORDS[type] ?? type;
}

export function orgUnitOf(event: Pick<AccessEvent, 'details'>): string | null {
  const details = event.details;
  if (!details) return null;
  for (const key of ORG_UNIT_DETAIL_KEYS) {
    const v = details[key];
    if (typeof v === 'string' || typeof v === 'number') return String(v);
  }
  return null;
}

export function isBreakGlass(event: Pick<AccessEvent, 'action' | 'details'>): boolean {
  return event.action === 'break_glass' || event.details?.breakGlass === true;
}

const EXPLANATION_WORDS: Readonly<Record<AccessExplanation['kind'], string>> = {
  'care-relationship': 'care relationship',
  'department-encounter': 'open encounter in the user\u2019s department',
  emergency: 'documented emergency access',
  'no-patient': 'not a patient access',
  unexplained: 'unexplained: no care relationship, department encounter or documented emergency',
};

/** The explanation of an access in words, with the encounter that explains it. */
export function explanationText(x: AccessExplanation | undefined): string {
  if (!x) return 'not evaluated (no context)';
  return EXPLANATION_WORDS[x.kind] + (x.encounterId ? ` (encounter ${x.encounterId})` : '');
}

/** What the explanation stage adds to a row (absent: not evaluated). */
export interface RowJustification {
  explanation?: AccessExplanation;
  alertIds?: readonly string[];
}

export function toReportRow(r: { chain: string; seq: number; event: AccessEvent }, justification: RowJustification = {}): ReportRow {
  const e = r.event;
  const x = justification.explanation;
  return {
    occurredAt: e.occurredAt,
    eventId: e.id,
    chain: r.chain,
    seq: r.seq,
    actorId: e.actor.id,
    actorType: e.actor.type,
    actorRole: e.actor.role ?? null,
    orgUnit: orgUnitOf(e),
    patientId: e.patient?.id ?? null,
    category: e.category,
    action: e.action,
    actionText: actionText(e.action),
    resourceType: e.resource?.type ?? null,
    resourceText: resourceText(e.resource?.type),
    purpose: e.purpose ?? null,
    purposeText: purposeText(e.purpose),
    outcome: e.outcome,
    outcomeText: outcomeText(e.outcome),
    sourceSystem: e.source.system,
    sourceIntegration: e.source.integration ?? null,
    breakGlass: isBreakGlass(e),
    explained: !x || x.kind === 'no-patient' ? null : x.explained,
    explanation: explanationText(x),
    encounterId: x?.encounterId ?? null,
    alertIds: [...(justification.alertIds ?? [])],
  };
}
