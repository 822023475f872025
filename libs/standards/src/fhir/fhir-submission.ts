/**
 * What `POST /fhir/AuditEvent` receives: one R4 AuditEvent, or a Bundle (batch or transaction) of
 * them. Maps everything or nothing: one bad entry rejects the whole submission with an
 * OperationOutcome naming every bad element (both bundle types are all-or-nothing here, like a
 * batch on `POST /v1/events`).
 */
import { AccessEvent, unknownMemberMessage } from '@app/core';
import { FhirMappingOptions, MappedFhirAuditEvent, mapFhirAuditEvent } from './fhir-audit-event.mapper';
import { FhirIssue, MAX_OUTCOME_ISSUES, OperationOutcome, operationOutcome } from './operation-outcome';

export const DEFAULT_MAX_BUNDLE_ENTRIES = 1000;

/** Elements FHIR R4 defines on Bundle and Bundle.entry: anything else is refused, not dropped. */
export const R4_BUNDLE_ELEMENTS = {
  Bundle: ['resourceType', 'id', 'meta', 'implicitRules', 'language', 'identifier', 'type', 'timestamp', 'total', 'link', 'entry', 'signature'],
  'Bundle.entry': ['id', 'extension', 'modifierExtension', 'link', 'fullUrl', 'resource', 'search', 'request', 'response'],
} as const;

/** Issues for members R4 does not define on `structure`, named by position only (a key may be PHI). */
function unknownElements(o: Record<string, unknown>, expression: string, structure: keyof typeof R4_BUNDLE_ELEMENTS): FhirIssue[] {
  const allowed: readonly string[] = R4_BUNDLE_ELEMENTS[structure];
  return Object.keys(o).flatMap((key, i) =>
    allowed.includes(key.startsWith('_') ? key.slice(1) : key)
      ? []
      : [{ code: 'structure' as const, expression, message: `${unknownMemberMessage(i + 1, allowed, 'element')}; FHIR R4 defines no such element on ${structure}` }],
  );
}
export type FhirBundleType = 'batch' | 'transaction';

export interface FhirSubmissionOptions extends FhirMappingOptions {
  /** Most entries one Bundle may hold (default 1000); more is refused as too costly. */
  maxEntries?: number;
}

export type FhirSubmission =
  | {
      ok: true;
      kind: 'AuditEvent' | 'Bundle';
      /** Set when kind is Bundle: the response Bundle is `${bundleType}-response`. */
      bundleType?: FhirBundleType;
      /** In entry order; `events[i]` is `mapped[i].event`. */
      mapped: MappedFhirAuditEvent[];
      events: AccessEvent[];
    }
  | { ok: false; issues: FhirIssue[]; outcome: OperationOutcome };

const ISSUE_COLLECTION_LIMIT = 10 * MAX_OUTCOME_ISSUES;

function rejected(issues: FhirIssue[]): FhirSubmission {
  return { ok: false, issues, outcome: operationOutcome(issues) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Maps a request body (already JSON-parsed) to canonical events, or says why not. */
export function mapFhirSubmission(body: unknown, options: FhirSubmissionOptions = {}): FhirSubmission {
  if (!isObject(body)) return rejected([{ code: 'structure', expression: 'Resource', message: 'the body must be a FHIR resource (a JSON object)' }]);
  if (body.resourceType === 'AuditEvent') {
    const one = mapFhirAuditEvent(body, options, 'AuditEvent');
    return one.ok ? { ok: true, kind: 'AuditEvent', mapped: [one.value], events: [one.value.event] } : rejected(one.issues);
  }
  if (body.resourceType !== 'Bundle') {
    return rejected([{ code: 'not-supported', expression: 'Resource.resourceType', message: 'must be AuditEvent or a Bundle of AuditEvent resources' }]);
  }

  const issues: FhirIssue[] = unknownElements(body, 'Bundle', 'Bundle');
  const bundleType = body.type;
  if (bundleType !== 'batch' && bundleType !== 'transaction') {
    issues.push({ code: 'not-supported', expression: 'Bundle.type', message: 'must be batch or transaction' });
  }
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_BUNDLE_ENTRIES;
  const entries = body.entry;
  if (!Array.isArray(entries) || entries.length === 0) {
    issues.push({ code: 'required', expression: 'Bundle.entry', message: 'must be a non-empty array of entries' });
    return rejected(issues);
  }
  if (entries.length > maxEntries) {
    issues.push({ code: 'too-costly', expression: 'Bundle.entry', message: `holds more than ${maxEntries} entries; split the Bundle` });
    return rejected(issues);
  }

  const mapped: MappedFhirAuditEvent[] = [];
  const firstIndexOfId = new Map<string, number>();
  for (let i = 0; i < entries.length && issues.length < ISSUE_COLLECTION_LIMIT; i++) {
    const path = `Bundle.entry[${i}]`;
    const entry = entries[i];
    if (!isObject(entry)) {
      issues.push({ code: 'structure', expression: path, message: 'must be a JSON object' });
      continue;
    }
    issues.push(...unknownElements(entry, path, 'Bundle.entry'));
    issues.push(...checkRequest(entry.request, `${path}.request`));
    if (entry.resource === undefined) {
      issues.push({ code: 'required', expression: `${path}.resource`, message: 'is required: each entry carries one AuditEvent' });
      continue;
    }
    if (isObject(entry.resource) && entry.resource.resourceType !== 'AuditEvent') {
      issues.push({ code: 'not-supported', expression: `${path}.resource.resourceType`, message: 'must be AuditEvent' });
      continue;
    }
    const one = mapFhirAuditEvent(entry.resource, options, `${path}.resource`);
    if (!one.ok) {
      issues.push(...one.issues);
      continue;
    }
    const earlier = firstIndexOfId.get(one.value.event.id);
    if (earlier !== undefined) {
      issues.push({ code: 'duplicate', expression: `${path}.resource`, message: `maps to the same event id as Bundle.entry[${earlier}] (the same AuditEvent twice)` });
      continue;
    }
    firstIndexOfId.set(one.value.event.id, i);
    mapped.push(one.value);
  }
  if (issues.length > 0) return rejected(issues);
  return { ok: true, kind: 'Bundle', bundleType: bundleType as FhirBundleType, mapped, events: mapped.map((m) => m.event) };
}

/** An entry's request, when given, must create an AuditEvent: `POST AuditEvent`. */
function checkRequest(request: unknown, path: string): FhirIssue[] {
  if (request === undefined) return [];
  if (!isObject(request)) return [{ code: 'structure', expression: path, message: 'must be a JSON object' }];
  const issues: FhirIssue[] = [];
  if (request.method !== 'POST') issues.push({ code: 'not-supported', expression: `${path}.method`, message: 'must be POST: audit events can only be created' });
  if (typeof request.url !== 'string' || !/(^|\/)AuditEvent\/?$/.test(request.url.split('?', 1)[0])) {
    issues.push({ code: 'not-supported', expression: `${path}.url`, message: 'must be AuditEvent' });
  }
  return issues;
}
