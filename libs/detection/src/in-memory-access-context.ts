/**
 * A small in-memory AccessContext built from context records in the CONTRACT shapes (users,
 * patients, encounters), for rule examples (`examples.context`), unit tests and e2e test modules.
 * Names and addresses are turned into tokens by normalizing them (case, accents, whitespace) and
 * prefixing `tok:`: good enough to prove token equality in examples, not a keyed HMAC (the
 * service's context store makes those). Records are checked; problems name the record and field.
 */
import { AccessContext, EncounterContext, PatientContext, USER_STATUSES, UserContext, UserStatus } from '@app/core';
import { tryParseDuration } from './duration';

/** Records in the CONTRACT shapes (checked field by field, so any object is accepted here). */
export interface ContextRecords {
  users?: readonly object[];
  patients?: readonly object[];
  encounters?: readonly object[];
}

/** Normalized example token of a name or address (see the module note). */
export function exampleToken(value: string): string {
  return `tok:${value.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().trim().replace(/\s+/g, ' ')}`;
}

const USER_KEYS = ['id', 'family', 'given', 'department', 'title', 'status', 'terminatedAt', 'homeAddress', 'patientId'];
const PATIENT_KEYS = ['id', 'family', 'address', 'relatedPersons', 'vip', 'deceased'];
const ENCOUNTER_KEYS = ['id', 'patient', 'department', 'participants', 'start', 'end'];

export class InMemoryAccessContext implements AccessContext {
  private readonly users = new Map<string, UserContext>();
  private readonly patients = new Map<string, PatientContext>();
  private readonly encounters = new Map<string, EncounterContext[]>();
  private readonly byOwnPatientId = new Map<string, UserContext>();

  /**
   * Builds a context from records; `problems` collects what is wrong (records with problems are
   * left out). Times in encounters may be RFC 3339 or `+/-<duration>` from `relativeTo`.
   */
  static fromRecords(records: ContextRecords, problems: string[] = [], relativeTo = 0): InMemoryAccessContext {
    const ctx = new InMemoryAccessContext();
    ctx.add(records, problems, relativeTo);
    return ctx;
  }

  add(records: ContextRecords, problems: string[] = [], relativeTo = 0): this {
    (records.users ?? []).forEach((r, i) => {
      const user = parseUser(r as Record<string, unknown>, `users[${i}]`, problems);
      if (user) this.putUser(user);
    });
    (records.patients ?? []).forEach((r, i) => {
      const patient = parsePatient(r as Record<string, unknown>, `patients[${i}]`, problems);
      if (patient) this.patients.set(patient.id, patient);
    });
    (records.encounters ?? []).forEach((r, i) => {
      const encounter = parseEncounter(r as Record<string, unknown>, `encounters[${i}]`, problems, relativeTo);
      if (encounter) this.putEncounter(encounter);
    });
    return this;
  }

  putUser(user: UserContext): void {
    this.users.set(user.id, user);
    if (user.patientId !== undefined) this.byOwnPatientId.set(user.patientId, user);
  }

  putPatient(patient: PatientContext): void {
    this.patients.set(patient.id, patient);
  }

  putEncounter(encounter: EncounterContext): void {
    const list = (this.encounters.get(encounter.patientId) ?? []).filter((e) => e.id !== encounter.id);
    list.push(encounter);
    this.encounters.set(encounter.patientId, list);
  }

  userAt(actorId: string): UserContext | undefined {
    return this.users.get(actorId);
  }

  patientAt(patientId: string): PatientContext | undefined {
    return this.patients.get(patientId);
  }

  encountersAt(patientId: string, atMs: number): readonly EncounterContext[] {
    const list = this.encounters.get(patientId);
    if (!list) return [];
    return list.filter((e) => e.startMs <= atMs && (e.endMs === undefined || atMs <= e.endMs));
  }

  workforceMemberWithPatientId(patientId: string): UserContext | undefined {
    return this.byOwnPatientId.get(patientId);
  }

  /** A searched name as the example tokens of family names (`exampleToken`). */
  nameToken(clear: string): string | undefined {
    const token = exampleToken(clear);
    return token === 'tok:' ? undefined : token;
  }
}

function unknownKeys(record: Record<string, unknown>, allowed: string[], where: string, problems: string[]): boolean {
  const extra = Object.keys(record).filter((k) => !allowed.includes(k));
  for (const k of extra) problems.push(`${where}.${k}: unknown field (allowed: ${allowed.join(', ')})`);
  return extra.length === 0;
}

function text(record: Record<string, unknown>, key: string, where: string, problems: string[], required = false): string | undefined {
  const v = record[key];
  if (v === undefined) {
    if (required) problems.push(`${where}.${key}: is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0) {
    problems.push(`${where}.${key}: must be a non-empty text`);
    return undefined;
  }
  return v;
}

function parseUser(r: Record<string, unknown>, where: string, problems: string[]): UserContext | null {
  const before = problems.length;
  unknownKeys(r, USER_KEYS, where, problems);
  const id = text(r, 'id', where, problems, true);
  const status = (r.status ?? 'active') as string;
  if (!(USER_STATUSES as readonly string[]).includes(status)) problems.push(`${where}.status: must be one of ${USER_STATUSES.join(', ')}`);
  const terminatedAt = text(r, 'terminatedAt', where, problems);
  if (terminatedAt !== undefined && Number.isNaN(Date.parse(terminatedAt))) problems.push(`${where}.terminatedAt: must be an RFC 3339 timestamp`);
  const family = text(r, 'family', where, problems);
  const given = text(r, 'given', where, problems);
  const homeAddress = text(r, 'homeAddress', where, problems);
  const user: UserContext = { id: id ?? '', status: status as UserStatus };
  const department = text(r, 'department', where, problems);
  const title = text(r, 'title', where, problems);
  const patientId = text(r, 'patientId', where, problems);
  if (family) user.familyToken = exampleToken(family);
  if (given) user.givenToken = exampleToken(given);
  if (homeAddress) user.homeAddressToken = exampleToken(homeAddress);
  if (department) user.department = department;
  if (title) user.title = title;
  if (patientId) user.patientId = patientId;
  if (terminatedAt) user.terminatedAt = terminatedAt;
  return problems.length > before ? null : user;
}

function parsePatient(r: Record<string, unknown>, where: string, problems: string[]): PatientContext | null {
  const before = problems.length;
  unknownKeys(r, PATIENT_KEYS, where, problems);
  const id = text(r, 'id', where, problems, true);
  const family = text(r, 'family', where, problems);
  const address = text(r, 'address', where, problems);
  for (const key of ['vip', 'deceased']) {
    if (r[key] !== undefined && typeof r[key] !== 'boolean') problems.push(`${where}.${key}: must be true or false`);
  }
  const related = r.relatedPersons ?? [];
  const relatedPersons: PatientContext['relatedPersons'] = [];
  if (!Array.isArray(related)) problems.push(`${where}.relatedPersons: must be a list of { family?, address? }`);
  else {
    related.forEach((p: unknown, i) => {
      const at = `${where}.relatedPersons[${i}]`;
      if (p === null || typeof p !== 'object' || Array.isArray(p)) {
        problems.push(`${at}: must be { family?, address? }`);
        return;
      }
      const rp = p as Record<string, unknown>;
      unknownKeys(rp, ['family', 'address'], at, problems);
      const f = text(rp, 'family', at, problems);
      const a = text(rp, 'address', at, problems);
      relatedPersons.push({ ...(f ? { familyToken: exampleToken(f) } : {}), ...(a ? { addressToken: exampleToken(a) } : {}) });
    });
  }
  if (problems.length > before) return null;
  return {
    id: id!,
    ...(family ? { familyToken: exampleToken(family) } : {}),
    ...(address ? { addressToken: exampleToken(address) } : {}),
    relatedPersons,
    vip: r.vip === true,
    deceased: r.deceased === true,
  };
}

function time(value: unknown, where: string, problems: string[], relativeTo: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    if (value.startsWith('+') || value.startsWith('-')) {
      const ms = tryParseDuration(value.slice(1));
      if (ms !== null) return relativeTo + (value.startsWith('-') ? -ms : ms);
    } else if (!Number.isNaN(Date.parse(value))) return Date.parse(value);
  }
  problems.push(`${where}: must be an RFC 3339 timestamp or +/-<duration> from the scenario start`);
  return undefined;
}

function parseEncounter(r: Record<string, unknown>, where: string, problems: string[], relativeTo: number): EncounterContext | null {
  const before = problems.length;
  unknownKeys(r, ENCOUNTER_KEYS, where, problems);
  const id = text(r, 'id', where, problems, true);
  const patient = r.patient as Record<string, unknown> | undefined;
  const patientId = patient && typeof patient === 'object' ? text(patient, 'id', `${where}.patient`, problems, true) : undefined;
  if (!patient || typeof patient !== 'object') problems.push(`${where}.patient: must be { id }`);
  const department = text(r, 'department', where, problems);
  const participants = r.participants ?? [];
  if (!Array.isArray(participants) || !participants.every((p) => typeof p === 'string')) problems.push(`${where}.participants: must be a list of actor ids`);
  // Examples may leave the start out: the care relationship is then open since well before the scenario.
  const startMs = r.start === undefined ? relativeTo - 365 * 86_400_000 : time(r.start, `${where}.start`, problems, relativeTo);
  const endMs = time(r.end, `${where}.end`, problems, relativeTo);
  if (problems.length > before || startMs === undefined) return null;
  return { id: id!, patientId: patientId!, ...(department ? { department } : {}), participants: participants as string[], startMs, ...(endMs !== undefined ? { endMs } : {}) };
}
