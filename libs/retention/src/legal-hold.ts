/**
 * Legal holds: what a hold is, how a request to place one is validated, and which records it
 * covers. A hold names a patient, an actor and/or an event-time range (every criterion given must
 * match: "dr-x's accesses to patient P in 2024"); while active, the records it covers must not be
 * deleted by retention. Holds are never deleted: releasing one is a recorded state change.
 *
 * Pure: `isHeld` / `holdMatcher` decide for records in hand; the store's `coverage` answers the
 * same question for a whole chain range in the database (legal-hold-store.port.ts).
 */
import { AccessEvent, FieldError, Problems, unknownMemberErrors } from '@app/core';

export const LEGAL_HOLD_STATUSES = ['active', 'released'] as const;
export type LegalHoldStatus = (typeof LEGAL_HOLD_STATUSES)[number];

export interface LegalHold {
  id: string;
  status: LegalHoldStatus;
  /** Patient id the hold covers (`patient.id` of events), or null for any patient. */
  patient: string | null;
  /** Actor id (`actor.id` of events), or null for any actor. */
  actor: string | null;
  /** Event time range (`occurredAt`), RFC 3339: `from` inclusive, `to` exclusive; null = open. */
  from: string | null;
  to: string | null;
  reason: string;
  caseId: string;
  /** Principal (`sub`) and role that placed the hold, and when. */
  createdBy: string;
  createdByRole: string;
  createdAt: string;
  releasedAt: string | null;
  releasedBy: string | null;
  releasedByRole: string | null;
  releaseNote: string | null;
}

/** A validated request to place a hold (before it gets an id and an author). */
export interface LegalHoldRequest {
  patient: string | null;
  actor: string | null;
  from: string | null;
  to: string | null;
  reason: string;
  caseId: string;
}

/** What a hold is matched against: an event, or a stored record carrying one. */
export type HoldSubject = Pick<AccessEvent, 'occurredAt' | 'actor' | 'patient'> | { event: Pick<AccessEvent, 'occurredAt' | 'actor' | 'patient'> };

const MAX_ID = 256;
const MAX_CASE_ID = 128;
const MAX_TEXT = 2000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const HOLD_KEYS = ['patient', 'actor', 'from', 'to', 'reason', 'caseId'] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Normalizes an RFC 3339 timestamp or a date (midnight UTC) to ISO 8601 UTC, or null when invalid. */
export function normalizeInstant(v: string): string | null {
  if (!RFC3339.test(v) && !DATE_ONLY.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/**
 * Validates the body of `POST /v1/retention/holds`: at least one of patient, actor, from, to;
 * a reason and a case id. Errors name fields by JSON Pointer and never echo values.
 */
export function parseLegalHoldRequest(body: unknown): LegalHoldRequest {
  if (!isPlainObject(body)) throw Problems.validation([{ pointer: '', message: 'must be a JSON object' }], 'The legal hold request is invalid.');
  const errors: FieldError[] = [];
  errors.push(...unknownMemberErrors(Object.keys(body), HOLD_KEYS, ''));
  const text = (key: string, max: number, required: boolean): string | null => {
    const v = body[key];
    if (v === undefined || v === null) {
      if (required) errors.push({ pointer: `/${key}`, message: 'is required' });
      return null;
    }
    if (typeof v !== 'string' || v.trim().length === 0 || v.length > max) {
      errors.push({ pointer: `/${key}`, message: `must be a non-empty string of at most ${max} characters` });
      return null;
    }
    return v;
  };
  const instant = (key: string): string | null => {
    const v = text(key, 64, false);
    if (v === null) return null;
    const iso = normalizeInstant(v);
    if (!iso) errors.push({ pointer: `/${key}`, message: 'must be an RFC 3339 timestamp or a date (YYYY-MM-DD)' });
    return iso;
  };
  const req: LegalHoldRequest = {
    patient: text('patient', MAX_ID, false),
    actor: text('actor', MAX_ID, false),
    from: instant('from'),
    to: instant('to'),
    reason: text('reason', MAX_TEXT, true) ?? '',
    caseId: text('caseId', MAX_CASE_ID, true) ?? '',
  };
  const scoped = ['patient', 'actor', 'from', 'to'].some((k) => body[k] !== undefined && body[k] !== null);
  if (!scoped) errors.push({ pointer: '', message: 'a hold needs at least one of patient, actor, from, to' });
  if (req.from && req.to && Date.parse(req.from) >= Date.parse(req.to)) errors.push({ pointer: '/to', message: 'must be later than from' });
  if (errors.length > 0) throw Problems.validation(errors, 'The legal hold request is invalid.');
  return req;
}

/** Validates the body of `POST /v1/retention/holds/{id}/release`: `{ note }`. */
export function parseReleaseRequest(body: unknown): { note: string } {
  const errors: FieldError[] = [];
  if (!isPlainObject(body)) throw Problems.validation([{ pointer: '', message: 'must be a JSON object { note }' }], 'The release request is invalid.');
  errors.push(...unknownMemberErrors(Object.keys(body), ['note'], ''));
  const note = body.note;
  if (typeof note !== 'string' || note.trim().length === 0 || note.length > MAX_TEXT) {
    errors.push({ pointer: '/note', message: `is required: a non-empty string of at most ${MAX_TEXT} characters` });
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The release request is invalid.');
  return { note: note as string };
}

/** Which criteria a hold uses (for logs and summaries; never the values). */
export function holdCriteriaKinds(h: Pick<LegalHold, 'patient' | 'actor' | 'from' | 'to'>): string[] {
  const kinds: string[] = [];
  if (h.patient !== null) kinds.push('patient');
  if (h.actor !== null) kinds.push('actor');
  if (h.from !== null || h.to !== null) kinds.push('time');
  return kinds;
}

interface CompiledHold {
  patient: string | null;
  actor: string | null;
  fromMs: number;
  toMs: number;
}

function compile(h: LegalHold): CompiledHold {
  return {
    patient: h.patient,
    actor: h.actor,
    fromMs: h.from === null ? -Infinity : Date.parse(h.from),
    toMs: h.to === null ? Infinity : Date.parse(h.to),
  };
}

function eventOf(s: HoldSubject): Pick<AccessEvent, 'occurredAt' | 'actor' | 'patient'> {
  return 'event' in s ? s.event : s;
}

function covers(h: CompiledHold, s: HoldSubject): boolean {
  const e = eventOf(s);
  if (h.patient !== null && e.patient?.id !== h.patient) return false;
  if (h.actor !== null && e.actor?.id !== h.actor) return false;
  if (h.fromMs !== -Infinity || h.toMs !== Infinity) {
    const t = Date.parse(e.occurredAt);
    if (!(t >= h.fromMs && t < h.toMs)) return false;
  }
  return true;
}

/** True when this hold (active or not) names the record: every criterion it sets matches. */
export function holdCovers(hold: LegalHold, record: HoldSubject): boolean {
  return covers(compile(hold), record);
}

/**
 * A predicate "is this record under an active hold?" for many records (the holds are compiled
 * once). Released holds are ignored.
 */
export function holdMatcher(holds: readonly LegalHold[]): (record: HoldSubject) => boolean {
  const active = holds.filter((h) => h.status === 'active').map(compile);
  if (active.length === 0) return () => false;
  return (record) => active.some((h) => covers(h, record));
}

/** True when any active hold covers the record. */
export function isHeld(record: HoldSubject, holds: readonly LegalHold[]): boolean {
  return holdMatcher(holds)(record);
}

/** The active holds that cover a record (e.g. to say why it was kept). */
export function holdsCovering(record: HoldSubject, holds: readonly LegalHold[]): LegalHold[] {
  return holds.filter((h) => h.status === 'active' && holdCovers(h, record));
}

/** The records among `records` that an active hold covers, in their order. */
export function heldRecords<T extends HoldSubject>(records: readonly T[], holds: readonly LegalHold[]): T[] {
  const held = holdMatcher(holds);
  return records.filter((r) => held(r));
}
