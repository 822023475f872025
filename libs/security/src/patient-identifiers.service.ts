/**
 * Minimum necessary in every view: who sees which patient identifier. Principals holding the
 * `events:identified` scope (compliance staff by default) see real patient ids; everyone else sees
 * the patient's keyed-HMAC token (patient-tokenizer.ts), the same token every time, so an analyst
 * can still follow one patient across events, alerts and queries. Any feature that shows a patient
 * id (events, alert evidence, access log, reports) calls `presentPatientId` / `presentEvent` here.
 */
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, isPatientResource, redactSearchQuery, type AccessEvent, type AppConfig } from '@app/core';
import { DisplayPseudonymizer } from './display-pseudonyms';
import { displayPseudonymizerFor, patientTokenizerFor } from './field-protection';
import { isPatientToken, PatientTokenizer } from './patient-tokenizer';
import type { Principal } from './principal';

/** True when this principal may see real patient identifiers. */
export function canSeePatientIds(principal: Pick<Principal, 'scopes'> | undefined | null): boolean {
  return principal?.scopes.includes('events:identified') === true;
}

/** The id as `principal` may see it: itself with `events:identified`, else its token (fail closed). */
export function presentPatientIdWith(tokenizer: PatientTokenizer, principal: Pick<Principal, 'scopes'> | undefined | null, patientId: string): string {
  if (canSeePatientIds(principal) || isPatientToken(patientId)) return patientId;
  return tokenizer.token(patientId);
}

@Injectable()
export class PatientIdentifiers {
  readonly tokenizer: PatientTokenizer;
  /** Actor ids for agents a source names only by a display text (never the display itself). */
  readonly displays: DisplayPseudonymizer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.tokenizer = patientTokenizerFor(config);
    this.displays = displayPseudonymizerFor(config);
  }

  token(patientId: string): string {
    return this.tokenizer.token(patientId);
  }

  isToken(value: string): boolean {
    return isPatientToken(value);
  }

  canSeeIdentifiers(principal: Pick<Principal, 'scopes'> | undefined | null): boolean {
    return canSeePatientIds(principal);
  }

  /** The shared rule for every view: the patient id itself, or its token. */
  presentPatientId(principal: Pick<Principal, 'scopes'> | undefined | null, patientId: string): string {
    return presentPatientIdWith(this.tokenizer, principal, patientId);
  }

  /**
   * The event as `principal` may see it: a copy with `patient.id`, and `resource.id` of a `Patient`
   * resource (the same identifier), replaced by tokens, and the search string (`query.text`: names,
   * birth dates, MRNs searched for) redacted to its resource type and parameter names
   * (`Patient?name=*`); the event itself when identified data may be seen.
   */
  presentEvent(principal: Pick<Principal, 'scopes'> | undefined | null, event: AccessEvent): AccessEvent {
    if (canSeePatientIds(principal)) return event;
    // Any spelling of a Patient resource (`Patient `, `fhir:Patient`, a `Patient/…` id) holds the identifier.
    const patientResource = isPatientResource(event.resource);
    if (!event.patient && !patientResource && !event.query) return event;
    const out: AccessEvent = { ...event };
    if (event.query) out.query = { text: redactSearchQuery(event.query.text) };
    if (event.patient) out.patient = { ...event.patient, id: this.presentPatientId(principal, event.patient.id) };
    if (patientResource) out.resource = { ...event.resource!, id: this.presentPatientId(principal, event.resource!.id!) };
    return out;
  }
}
