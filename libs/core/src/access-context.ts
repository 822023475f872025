/**
 * The context that detection joins every access with (CONTRACT "Context feeds"): who the workforce is,
 * who the patients are, who is caring for whom, each as it was at a given time. Names and addresses
 * appear here only as keyed HMAC tokens (opaque strings; equal tokens mean equal normalized values).
 *
 * `AccessContext` is the port detection, explanations and reports read through. Lookups are
 * synchronous because the engine evaluates events in a tight loop: an adapter keeps an in-memory
 * index fed from the durable context store. `explainAccess` is the explanation stage: pure, so the
 * engine, the reports and the tests judge an access the same way.
 */
import { AccessEvent } from './access-event';

export const USER_STATUSES = ['active', 'leave', 'terminated'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/** A workforce member as known at some time (tokens, never clear names or addresses). */
export interface UserContext {
  id: string;
  familyToken?: string;
  givenToken?: string;
  department?: string;
  title?: string;
  status: UserStatus;
  terminatedAt?: string;
  homeAddressToken?: string;
  /** The person's own medical record id, when they are also a patient (clear, as events carry patient.id). */
  patientId?: string;
}

export interface RelatedPersonContext {
  familyToken?: string;
  addressToken?: string;
}

export interface PatientContext {
  id: string;
  familyToken?: string;
  addressToken?: string;
  relatedPersons: RelatedPersonContext[];
  vip: boolean;
  deceased: boolean;
}

/** A care relationship: open-ended while `endMs` is absent. */
export interface EncounterContext {
  id: string;
  patientId: string;
  department?: string;
  participants: readonly string[];
  startMs: number;
  endMs?: number;
}

/** Read side of the context store, as it was at `atMs` (ms since the epoch, event time). */
export interface AccessContext {
  userAt(actorId: string, atMs: number): UserContext | undefined;
  patientAt(patientId: string, atMs: number): PatientContext | undefined;
  /** Encounters of the patient that are open at `atMs` (start <= at, and no end or at <= end). */
  encountersAt(patientId: string, atMs: number): readonly EncounterContext[];
  /** The workforce member whose own medical record id is `patientId`, if any (co-worker records). */
  workforceMemberWithPatientId(patientId: string, atMs: number): UserContext | undefined;
  /**
   * The matching token of a person name as the context tokenizes family names (so a name searched
   * for compares with `patient.context.family`), or undefined when none can be made (no tokenizer,
   * nothing left after normalization). Detection uses it on the names of a search (`query.names`).
   */
  nameToken?(clear: string): string | undefined;
}

/** No context loaded: every lookup answers nothing (the engine then judges events alone). */
export const EMPTY_ACCESS_CONTEXT: AccessContext = {
  userAt: () => undefined,
  patientAt: () => undefined,
  encountersAt: () => [],
  workforceMemberWithPatientId: () => undefined,
};

export const EXPLANATION_KINDS = ['care-relationship', 'department-encounter', 'emergency', 'no-patient', 'unexplained'] as const;
export type ExplanationKind = (typeof EXPLANATION_KINDS)[number];

/** Why an access was (or was not) justified, as recorded for reports and alerts. */
export interface AccessExplanation {
  explained: boolean;
  kind: ExplanationKind;
  /** The encounter that explains it (care-relationship, department-encounter). */
  encounterId?: string;
}

const EMERGENCY_PURPOSES: ReadonlySet<string> = new Set(['EMERGENCY', 'ETREAT', 'BTG']);
const BREAK_GLASS_ACTIONS: ReadonlySet<string> = new Set(['break_glass']);

/**
 * The explanation stage: an access to a patient is explained by a care relationship (the actor
 * takes part in an open encounter of the patient), by an open encounter in the actor's department,
 * or by a documented emergency (emergency purpose of use, or break-glass). Anything else is
 * unexplained. Events without a patient are not patient accesses.
 */
export function explainAccess(event: AccessEvent, context: AccessContext, atMs = Date.parse(event.occurredAt)): AccessExplanation {
  const patientId = event.patient?.id;
  if (!patientId) return { explained: true, kind: 'no-patient' };
  const encounters = context.encountersAt(patientId, atMs);
  const actorId = event.actor.id;
  for (const encounter of encounters) {
    if (encounter.participants.includes(actorId)) return { explained: true, kind: 'care-relationship', encounterId: encounter.id };
  }
  const department = context.userAt(actorId, atMs)?.department;
  if (department !== undefined) {
    for (const encounter of encounters) {
      if (encounter.department === department) return { explained: true, kind: 'department-encounter', encounterId: encounter.id };
    }
  }
  if ((event.purpose !== undefined && EMERGENCY_PURPOSES.has(event.purpose)) || BREAK_GLASS_ACTIONS.has(event.action)) {
    return { explained: true, kind: 'emergency' };
  }
  return { explained: false, kind: 'unexplained' };
}

/** Nest injection token of the AccessContext (bound by the context module; EMPTY_ACCESS_CONTEXT without one). */
export const ACCESS_CONTEXT = Symbol.for('audit.access-context');
