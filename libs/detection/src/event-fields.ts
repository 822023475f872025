/**
 * The event fields a rule may name (`actor.role`, `tls.result`, `details.<key>` …), what type each
 * holds, and fast getters for them. Rules are checked against this catalog at load time, so a
 * misspelt field is an error naming the field rather than a rule that silently never fires.
 */
import { ACTOR_TYPES, AccessEvent, EVENT_CATEGORIES, EVENT_OUTCOMES, EXPLANATION_KINDS, USER_STATUSES } from '@app/core';
import type { EventFacts } from './event-facts';

/** `token` / `token-list`: keyed HMAC tokens of names and addresses, compared only with `same`. */
export type FieldType = 'string' | 'number' | 'timestamp' | 'string-list' | 'scalar' | 'boolean' | 'token' | 'token-list';

export interface FieldSpec {
  path: string;
  type: FieldType;
  /** Closed vocabulary, when the field has one (values outside it are a rule error). */
  values?: readonly string[];
  /** Context fields: read from the engine's per-event facts instead of the event. */
  context?: (facts: EventFacts) => unknown;
}

const list = <T>(items: readonly (T | undefined)[]): T[] => items.filter((v): v is T => v !== undefined);

/**
 * Fields looked up in the context as of the event's time (CONTRACT "Context feeds") and the
 * explanation stage. Absent when the context does not know the actor or the patient.
 */
const CONTEXT_CATALOG: Record<string, Omit<FieldSpec, 'path'> & { context: (facts: EventFacts) => unknown }> = {
  'actor.context.known': { type: 'boolean', context: (f) => f.user() !== undefined },
  'actor.context.department': { type: 'string', context: (f) => f.user()?.department },
  'actor.context.title': { type: 'string', context: (f) => f.user()?.title },
  'actor.context.status': { type: 'string', values: USER_STATUSES, context: (f) => f.user()?.status },
  'actor.context.family': { type: 'token', context: (f) => f.user()?.familyToken },
  'actor.context.given': { type: 'token', context: (f) => f.user()?.givenToken },
  'actor.context.homeAddress': { type: 'token', context: (f) => f.user()?.homeAddressToken },
  'actor.context.patientId': { type: 'token', context: (f) => f.user()?.patientId },
  'patient.context.known': { type: 'boolean', context: (f) => f.patient() !== undefined },
  'patient.context.vip': { type: 'boolean', context: (f) => f.patient()?.vip },
  'patient.context.deceased': { type: 'boolean', context: (f) => f.patient()?.deceased },
  'patient.context.family': { type: 'token', context: (f) => f.patient()?.familyToken },
  'patient.context.address': { type: 'token', context: (f) => f.patient()?.addressToken },
  'patient.context.relatedFamilies': { type: 'token-list', context: (f) => list((f.patient()?.relatedPersons ?? []).map((r) => r.familyToken)) },
  'patient.context.relatedAddresses': { type: 'token-list', context: (f) => list((f.patient()?.relatedPersons ?? []).map((r) => r.addressToken)) },
  'patient.context.workforceMember': { type: 'boolean', context: (f) => (f.current.patient ? f.workforceMember() !== undefined : undefined) },
  'patient.context.openEncounters': { type: 'number', context: (f) => (f.current.patient ? f.encounters().length : undefined) },
  'patient.context.encounterDepartments': { type: 'string-list', context: (f) => list(f.encounters().map((e) => e.department)) },
  'query.names': { type: 'token-list', context: (f) => f.searchNameTokens() },
  'query.parameters': { type: 'string-list', context: (f) => f.searchParameters() },
  explained: { type: 'boolean', context: (f) => f.explanation().explained },
  explanation: { type: 'string', values: EXPLANATION_KINDS, context: (f) => f.explanation().kind },
};

/** Every context field path a rule may name. */
export const CONTEXT_FIELD_PATHS: readonly string[] = Object.keys(CONTEXT_CATALOG);

/** An event field or a context field (rule conditions accept both; groupBy and distinct take event fields). */
export function describeAnyField(path: string): FieldSpec | null {
  const known = CONTEXT_CATALOG[path];
  if (known) return { path, ...known };
  return describeField(path);
}

const CATALOG: Record<string, Omit<FieldSpec, 'path'>> = {
  id: { type: 'string' },
  occurredAt: { type: 'timestamp' },
  category: { type: 'string', values: EVENT_CATEGORIES },
  action: { type: 'string' },
  outcome: { type: 'string', values: EVENT_OUTCOMES },
  'actor.id': { type: 'string' },
  'actor.type': { type: 'string', values: ACTOR_TYPES },
  'actor.role': { type: 'string' },
  'actor.ip': { type: 'string' },
  'actor.userAgent': { type: 'string' },
  'patient.id': { type: 'string' },
  'resource.type': { type: 'string' },
  'resource.id': { type: 'string' },
  purpose: { type: 'string' },
  'source.system': { type: 'string' },
  'source.integration': { type: 'string' },
  recordCount: { type: 'number' },
  'tls.clientSubject': { type: 'string' },
  'tls.result': { type: 'string', values: ['success', 'failure'] },
  'tls.reason': { type: 'string' },
  sensitivity: { type: 'string-list' },
};

const DETAILS_PREFIX = 'details.';
const DETAILS_KEY = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Every fixed field path (details.<key> paths are open-ended). */
export const KNOWN_FIELD_PATHS: readonly string[] = [...Object.keys(CATALOG), 'details.<key>'];

/** What the catalog knows about a path, or null when the event has no such field. */
export function describeField(path: string): FieldSpec | null {
  const known = CATALOG[path];
  if (known) return { path, ...known };
  if (path.startsWith(DETAILS_PREFIX) && DETAILS_KEY.test(path.slice(DETAILS_PREFIX.length))) {
    return { path, type: 'scalar' };
  }
  return null;
}

/** Why a path is not a field, for rule errors. */
export function unknownFieldMessage(path: string): string {
  return `"${path}" is not a field of the canonical event or the context (known: ${[...KNOWN_FIELD_PATHS, ...CONTEXT_FIELD_PATHS].join(', ')})`;
}

export type FieldGetter = (event: AccessEvent) => unknown;

type Nested = Record<string, unknown> | undefined | null;

/**
 * One function of its own per catalogued path: each property load then sees one shape of event and
 * stays monomorphic (a getter shared by every path, reading `event[key]`, sees every key and goes
 * megamorphic: a generic lookup on every call). Same results as the generic getter below.
 */
const FIXED_GETTERS: Readonly<Record<string, FieldGetter>> = {
  id: (e) => e.id,
  occurredAt: (e) => e.occurredAt,
  category: (e) => e.category,
  action: (e) => e.action,
  outcome: (e) => e.outcome,
  'actor.id': (e) => {
    const o = e.actor as Nested;
    return o == null ? undefined : o.id;
  },
  'actor.type': (e) => {
    const o = e.actor as Nested;
    return o == null ? undefined : o.type;
  },
  'actor.role': (e) => {
    const o = e.actor as Nested;
    return o == null ? undefined : o.role;
  },
  'actor.ip': (e) => {
    const o = e.actor as Nested;
    return o == null ? undefined : o.ip;
  },
  'actor.userAgent': (e) => {
    const o = e.actor as Nested;
    return o == null ? undefined : o.userAgent;
  },
  'patient.id': (e) => {
    const o = e.patient as Nested;
    return o == null ? undefined : o.id;
  },
  'resource.type': (e) => {
    const o = e.resource as Nested;
    return o == null ? undefined : o.type;
  },
  'resource.id': (e) => {
    const o = e.resource as Nested;
    return o == null ? undefined : o.id;
  },
  purpose: (e) => e.purpose,
  'source.system': (e) => {
    const o = e.source as Nested;
    return o == null ? undefined : o.system;
  },
  'source.integration': (e) => {
    const o = e.source as Nested;
    return o == null ? undefined : o.integration;
  },
  recordCount: (e) => e.recordCount,
  'tls.clientSubject': (e) => {
    const o = e.tls as Nested;
    return o == null ? undefined : o.clientSubject;
  },
  'tls.result': (e) => {
    const o = e.tls as Nested;
    return o == null ? undefined : o.result;
  },
  'tls.reason': (e) => {
    const o = e.tls as Nested;
    return o == null ? undefined : o.reason;
  },
  sensitivity: (e) => e.sensitivity,
};

/**
 * A getter for a catalogued path. Specialised by depth so the hot path is one or two property
 * loads and no allocation; `details.<key>` is read as one key because detail keys may hold dots.
 */
export function compileFieldGetter(path: string): FieldGetter {
  if (Object.prototype.hasOwnProperty.call(FIXED_GETTERS, path)) return FIXED_GETTERS[path];
  if (path.startsWith(DETAILS_PREFIX)) {
    const key = path.slice(DETAILS_PREFIX.length);
    return (event) => {
      const details = event.details;
      return details === undefined ? undefined : details[key];
    };
  }
  const parts = path.split('.');
  if (parts.length === 1) {
    const [a] = parts;
    return (event) => (event as unknown as Record<string, unknown>)[a];
  }
  if (parts.length === 2) {
    const [a, b] = parts;
    return (event) => {
      const outer = (event as unknown as Record<string, unknown>)[a] as Record<string, unknown> | undefined | null;
      return outer == null ? undefined : outer[b];
    };
  }
  return (event) => {
    let node: unknown = event;
    for (const part of parts) {
      if (node == null || typeof node !== 'object') return undefined;
      node = (node as Record<string, unknown>)[part];
    }
    return node;
  };
}
