/**
 * Context feed records (CONTRACT "Context feeds"): what an integration posts for users, patients
 * and encounters, checked member by member (unknown members refused, dates RFC 3339, names and
 * addresses clear text, never a token), and turned into the stored form, where every name and
 * address is already a matching token. Errors name the member by JSON pointer and never repeat
 * the submitted value.
 */
import { EncounterContext, FieldError, PatientContext, RelatedPersonContext, USER_STATUSES, UserContext, UserStatus, unknownMemberErrors } from '@app/core';
import { isPatientToken } from '@app/security/patient-tokenizer';
import { MatchingKind, MatchingTokenizer, looksLikeToken } from './matching-tokens';

export const CONTEXT_KINDS = ['users', 'patients', 'encounters'] as const;
export type ContextKind = (typeof CONTEXT_KINDS)[number];

export function isContextKind(value: unknown): value is ContextKind {
  return typeof value === 'string' && (CONTEXT_KINDS as readonly string[]).includes(value);
}

export type ContextRecord = UserContext | PatientContext | EncounterContext;

/** One version of a record as stored: valid from `validFromMs` (its `effectiveAt`, else its receipt). */
export interface ContextVersion {
  kind: ContextKind;
  validFromMs: number;
  receivedAtMs: number;
  record: ContextRecord;
}

export const USER_FIELDS = ['id', 'family', 'given', 'department', 'title', 'status', 'terminatedAt', 'homeAddress', 'patientId', 'effectiveAt'] as const;
export const PATIENT_FIELDS = ['id', 'family', 'address', 'relatedPersons', 'vip', 'deceased', 'effectiveAt'] as const;
export const RELATED_PERSON_FIELDS = ['family', 'address'] as const;
export const ENCOUNTER_FIELDS = ['id', 'patient', 'department', 'participants', 'start', 'end'] as const;
const ENCOUNTER_PATIENT_FIELDS = ['id'] as const;

const MAX_ID = 256;
const MAX_NAME = 256;
const MAX_ADDRESS = 1024;
const MAX_PARTICIPANTS = 1000;
const MAX_RELATED = 100;
/** RFC 3339 date-time with a time zone (what the feeds and `?at=` accept). */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export type ValidatedRecord = { ok: true; version: ContextVersion } | { ok: false; errors: FieldError[] };

class Checker {
  readonly errors: FieldError[] = [];

  constructor(private readonly tokens: MatchingTokenizer) {}

  object(value: unknown, pointer: string, allowed: readonly string[]): Record<string, unknown> | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.errors.push({ pointer, message: 'must be a JSON object' });
      return undefined;
    }
    this.errors.push(...unknownMemberErrors(Object.keys(value), allowed, pointer));
    return value as Record<string, unknown>;
  }

  id(value: unknown, pointer: string, what: string, required: boolean): string | undefined {
    if (value === undefined) {
      if (required) this.errors.push({ pointer, message: `is required (${what})` });
      return undefined;
    }
    if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_ID) {
      this.errors.push({ pointer, message: `must be a non-empty string of at most ${MAX_ID} characters (${what})` });
      return undefined;
    }
    return value;
  }

  /** A patient id as events carry it: the clear id, never its token (it would match nothing). */
  patientId(value: unknown, pointer: string, required: boolean): string | undefined {
    const id = this.id(value, pointer, 'the patient id as events carry it', required);
    if (id !== undefined && isPatientToken(id)) {
      this.errors.push({ pointer, message: 'holds a patient token; send the patient id as events carry it (the service keeps only its token)' });
      return undefined;
    }
    return id;
  }

  /** A clear name or address, turned into its matching token here. */
  matching(value: unknown, pointer: string, kind: MatchingKind): string | undefined {
    if (value === undefined) return undefined;
    const max = kind === 'name' ? MAX_NAME : MAX_ADDRESS;
    if (typeof value !== 'string' || value.length > max) {
      this.errors.push({ pointer, message: `must be a string of at most ${max} characters (the clear ${kind}; the service turns it into a token)` });
      return undefined;
    }
    if (looksLikeToken(value.trim())) {
      this.errors.push({ pointer, message: `holds a token where the clear ${kind} is expected; the service makes the token itself (a token of a token would match nothing)` });
      return undefined;
    }
    const token = this.tokens.token(kind, value);
    if (token === undefined) this.errors.push({ pointer, message: `holds no letters or digits (a ${kind} is expected)` });
    return token;
  }

  text(value: unknown, pointer: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_ID) {
      this.errors.push({ pointer, message: `must be a non-empty string of at most ${MAX_ID} characters` });
      return undefined;
    }
    return value;
  }

  boolean(value: unknown, pointer: string): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') {
      this.errors.push({ pointer, message: 'must be true or false' });
      return undefined;
    }
    return value;
  }

  /** An RFC 3339 date-time with a time zone; the milliseconds since the epoch. */
  time(value: unknown, pointer: string, required: boolean): number | undefined {
    if (value === undefined) {
      if (required) this.errors.push({ pointer, message: 'is required (an RFC 3339 date-time)' });
      return undefined;
    }
    const ms = typeof value === 'string' && RFC3339.test(value) ? Date.parse(value) : NaN;
    if (!Number.isFinite(ms)) {
      this.errors.push({ pointer, message: 'must be an RFC 3339 date-time with a time zone, e.g. 2026-05-01T08:00:00Z' });
      return undefined;
    }
    return ms;
  }
}

/**
 * Checks one posted record of `kind` and gives its stored version (valid from `effectiveAt`, else
 * `receivedAtMs`), or its errors (pointers relative to the record, e.g. `/family`).
 */
export function validateContextRecord(kind: ContextKind, raw: unknown, receivedAtMs: number, tokens: MatchingTokenizer): ValidatedRecord {
  const c = new Checker(tokens);
  let record: ContextRecord | undefined;
  let effectiveMs: number | undefined;
  if (kind === 'users') {
    const o = c.object(raw, '', USER_FIELDS);
    if (o) {
      const id = c.id(o.id, '/id', 'the actor.id events carry', true);
      let status: UserStatus | undefined;
      if (o.status === undefined) c.errors.push({ pointer: '/status', message: `is required (one of ${USER_STATUSES.join(', ')})` });
      else if (typeof o.status !== 'string' || !(USER_STATUSES as readonly string[]).includes(o.status)) c.errors.push({ pointer: '/status', message: `must be one of ${USER_STATUSES.join(', ')}` });
      else status = o.status as UserStatus;
      const terminatedMs = c.time(o.terminatedAt, '/terminatedAt', false);
      effectiveMs = c.time(o.effectiveAt, '/effectiveAt', false);
      const user: UserContext = { id: id ?? '', status: status ?? 'active' };
      const family = c.matching(o.family, '/family', 'name');
      const given = c.matching(o.given, '/given', 'name');
      const home = c.matching(o.homeAddress, '/homeAddress', 'address');
      const department = c.text(o.department, '/department');
      const title = c.text(o.title, '/title');
      const patientId = c.patientId(o.patientId, '/patientId', false);
      if (family) user.familyToken = family;
      if (given) user.givenToken = given;
      if (department) user.department = department;
      if (title) user.title = title;
      if (terminatedMs !== undefined) user.terminatedAt = new Date(terminatedMs).toISOString();
      if (home) user.homeAddressToken = home;
      if (patientId) user.patientId = patientId;
      // A termination is effective from when it happened, when that is earlier than its receipt.
      if (effectiveMs === undefined && status === 'terminated' && terminatedMs !== undefined && terminatedMs < receivedAtMs) effectiveMs = terminatedMs;
      record = user;
    }
  } else if (kind === 'patients') {
    const o = c.object(raw, '', PATIENT_FIELDS);
    if (o) {
      const id = c.patientId(o.id, '/id', true);
      effectiveMs = c.time(o.effectiveAt, '/effectiveAt', false);
      const family = c.matching(o.family, '/family', 'name');
      const address = c.matching(o.address, '/address', 'address');
      const related: RelatedPersonContext[] = [];
      if (o.relatedPersons !== undefined) {
        if (!Array.isArray(o.relatedPersons) || o.relatedPersons.length > MAX_RELATED) {
          c.errors.push({ pointer: '/relatedPersons', message: `must be an array of at most ${MAX_RELATED} objects { family?, address? }` });
        } else {
          o.relatedPersons.forEach((r: unknown, i) => {
            const p = c.object(r, `/relatedPersons/${i}`, RELATED_PERSON_FIELDS);
            if (!p) return;
            const person: RelatedPersonContext = {};
            const f = c.matching(p.family, `/relatedPersons/${i}/family`, 'name');
            const a = c.matching(p.address, `/relatedPersons/${i}/address`, 'address');
            if (f) person.familyToken = f;
            if (a) person.addressToken = a;
            if (f || a) related.push(person);
          });
        }
      }
      const patient: PatientContext = { id: id ?? '', relatedPersons: related, vip: c.boolean(o.vip, '/vip') ?? false, deceased: c.boolean(o.deceased, '/deceased') ?? false };
      if (family) patient.familyToken = family;
      if (address) patient.addressToken = address;
      record = patient;
    }
  } else {
    const o = c.object(raw, '', ENCOUNTER_FIELDS);
    if (o) {
      const id = c.id(o.id, '/id', 'the encounter id', true);
      let patientId: string | undefined;
      if (o.patient === undefined) c.errors.push({ pointer: '/patient', message: 'is required ({ id })' });
      else {
        const p = c.object(o.patient, '/patient', ENCOUNTER_PATIENT_FIELDS);
        if (p) patientId = c.patientId(p.id, '/patient/id', true);
      }
      const participants: string[] = [];
      if (o.participants !== undefined) {
        if (!Array.isArray(o.participants) || o.participants.length > MAX_PARTICIPANTS) {
          c.errors.push({ pointer: '/participants', message: `must be an array of at most ${MAX_PARTICIPANTS} actor ids` });
        } else {
          o.participants.forEach((a: unknown, i) => {
            const actor = c.id(a, `/participants/${i}`, 'an actor id', true);
            if (actor !== undefined) participants.push(actor);
          });
        }
      }
      const startMs = c.time(o.start, '/start', true);
      const endMs = c.time(o.end, '/end', false);
      if (startMs !== undefined && endMs !== undefined && endMs < startMs) c.errors.push({ pointer: '/end', message: 'must not be before start' });
      const encounter: EncounterContext = { id: id ?? '', patientId: patientId ?? '', participants, startMs: startMs ?? 0 };
      const department = c.text(o.department, '/department');
      if (department) encounter.department = department;
      if (endMs !== undefined) encounter.endMs = endMs;
      record = encounter;
    }
  }
  if (c.errors.length > 0 || !record) return { ok: false, errors: c.errors };
  return { ok: true, version: { kind, validFromMs: effectiveMs ?? receivedAtMs, receivedAtMs, record } };
}
