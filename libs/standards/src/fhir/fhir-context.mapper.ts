/**
 * FHIR R4 context resources to context feed records (CONTRACT "Context feeds"; mapping documented
 * in docs/context-feeds.md): a batch or transaction Bundle of Practitioner, PractitionerRole,
 * Patient, RelatedPerson, Encounter and CareTeam resources becomes user, patient and encounter
 * records in the contract's own shape (clear names and addresses, which the context service turns
 * into tokens), each remembering its entry. Identifiers follow the AuditEvent mapping, so context
 * and events name the same people: a user is `identifier[0].value`, else `Practitioner/<id>`; a
 * patient is its identifier (type MR first), else its id. References are resolved within the Bundle.
 * Elements this mapping does not read are ignored (FHIR resources are rich); issues never echo values.
 */
import { FhirIssue } from './operation-outcome';

export const FHIR_CONTEXT_RESOURCE_TYPES = ['Practitioner', 'PractitionerRole', 'Patient', 'RelatedPerson', 'Encounter', 'CareTeam'] as const;
export type FhirContextResourceType = (typeof FHIR_CONTEXT_RESOURCE_TYPES)[number];

export interface FhirContextRecord {
  kind: 'users' | 'patients' | 'encounters';
  /** Index of the Bundle entry it came from. */
  entry: number;
  resourceType: FhirContextResourceType;
  /** The record in the contract's shape; a partial one (PractitionerRole, RelatedPerson) is merged with what is known. */
  record: Record<string, unknown>;
}

export type FhirContextMapping = { ok: true; bundleType: 'batch' | 'transaction'; records: FhirContextRecord[]; issues: (FhirIssue & { entry: number })[] } | { ok: false; issues: FhirIssue[] };

type Json = Record<string, unknown>;
const REFERENCE = /(?:^|\/)([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[A-Za-z0-9.-]{1,64})?$/;
const CONTEXT_TYPES: ReadonlySet<string> = new Set(FHIR_CONTEXT_RESOURCE_TYPES);
/** Patient.meta.security codes read as "VIP" (v3 InformationSensitivityPolicy CEL: celebrity). */
const VIP_SECURITY_CODES: ReadonlySet<string> = new Set(['CEL', 'VIP']);

function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** True when `body` is a Bundle whose every entry holds one of the context resource types. */
export function isFhirContextBundle(body: unknown): boolean {
  const b = obj(body);
  if (!b || b.resourceType !== 'Bundle' || !Array.isArray(b.entry) || b.entry.length === 0) return false;
  return b.entry.every((e) => CONTEXT_TYPES.has(String(obj(obj(e)?.resource)?.resourceType)));
}

function pickName(resource: Json): { family?: string; given?: string } {
  const names = arr(resource.name).map(obj).filter((n): n is Json => n !== undefined);
  const n = names.find((x) => x.use === 'official') ?? names.find((x) => x.use === 'usual') ?? names[0];
  if (!n) return {};
  const given = arr(n.given).filter((g): g is string => typeof g === 'string').join(' ');
  return { family: str(n.family), given: str(given) };
}

function pickAddress(resource: Json): string | undefined {
  const addresses = arr(resource.address).map(obj).filter((a): a is Json => a !== undefined);
  const a = addresses.find((x) => x.use === 'home') ?? addresses[0];
  if (!a) return undefined;
  const parts = [...arr(a.line), a.city, a.postalCode, a.country].filter((p): p is string => typeof p === 'string' && p.trim() !== '');
  return parts.length > 0 ? parts.join(' ') : str(a.text);
}

function firstCode(concepts: unknown): string | undefined {
  for (const c of arr(concepts).concat(obj(concepts) ? [concepts] : [])) {
    const cc = obj(c);
    if (!cc) continue;
    for (const coding of arr(cc.coding)) {
      const code = str(obj(coding)?.code);
      if (code) return code;
    }
    if (str(cc.text)) return str(cc.text);
  }
  return undefined;
}

/** FHIR date or dateTime as RFC 3339 (a date alone is its midnight UTC); anything else as is (then refused). */
function instant(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  return /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v;
}

function identifierValue(resource: Json, preferType?: string): string | undefined {
  const ids = arr(resource.identifier).map(obj).filter((i): i is Json => i !== undefined && str(i.value) !== undefined);
  const preferred = preferType ? ids.find((i) => arr(obj(i.type)?.coding).some((c) => obj(c)?.code === preferType)) : undefined;
  return str((preferred ?? ids[0])?.value);
}

export function mapFhirContextBundle(body: unknown, maxEntries = 1000): FhirContextMapping {
  const b = obj(body)!;
  if (b.type !== 'batch' && b.type !== 'transaction') return { ok: false, issues: [{ code: 'not-supported', expression: 'Bundle.type', message: 'must be batch or transaction' }] };
  const entries = arr(b.entry);
  if (entries.length > maxEntries) return { ok: false, issues: [{ code: 'too-costly', expression: 'Bundle.entry', message: `holds more than ${maxEntries} entries; split the Bundle` }] };

  // Pass 1: who each Practitioner, PractitionerRole and Patient of the Bundle is (by reference and fullUrl).
  const users = new Map<string, string>();
  const patients = new Map<string, string>();
  entries.forEach((e) => {
    const entry = obj(e)!;
    const r = obj(entry.resource)!;
    const id = str(r.id);
    const keys = [id ? `${String(r.resourceType)}/${id}` : undefined, str(entry.fullUrl)].filter((k): k is string => k !== undefined);
    if (r.resourceType === 'Practitioner') {
      const user = identifierValue(r) ?? (id ? `Practitioner/${id}` : undefined);
      if (user) for (const k of keys) users.set(k, user);
    } else if (r.resourceType === 'Patient') {
      const patient = identifierValue(r, 'MR') ?? id;
      if (patient) for (const k of keys) patients.set(k, patient);
    }
  });
  entries.forEach((e) => {
    const entry = obj(e)!;
    const r = obj(entry.resource)!;
    if (r.resourceType !== 'PractitionerRole') return;
    const user = resolveUser(obj(r.practitioner));
    const id = str(r.id);
    if (user && id) users.set(`PractitionerRole/${id}`, user);
    if (user && str(entry.fullUrl)) users.set(str(entry.fullUrl)!, user);
  });

  function resolve(ref: Json | undefined, map: Map<string, string>, type: string, fallback: (id: string) => string): string | undefined {
    if (!ref) return undefined;
    const byIdentifier = str(obj(ref.identifier)?.value);
    if (byIdentifier) return byIdentifier;
    const reference = str(ref.reference);
    if (!reference) return undefined;
    if (map.has(reference)) return map.get(reference);
    const m = REFERENCE.exec(reference);
    if (m && map.has(`${m[1]}/${m[2]}`)) return map.get(`${m[1]}/${m[2]}`);
    return m && m[1] === type ? fallback(m[2]!) : undefined;
  }
  function resolveUser(ref: Json | undefined): string | undefined {
    return resolve(ref, users, 'Practitioner', (id) => `Practitioner/${id}`);
  }
  function resolvePatient(ref: Json | undefined): string | undefined {
    return resolve(ref, patients, 'Patient', (id) => id);
  }

  const records: FhirContextRecord[] = [];
  const issues: (FhirIssue & { entry: number })[] = [];
  entries.forEach((e, i) => {
    const entry = obj(e)!;
    const r = obj(entry.resource)!;
    const at = `Bundle.entry[${i}].resource`;
    const type = r.resourceType as FhirContextResourceType;
    const push = (kind: FhirContextRecord['kind'], record: Json) => records.push({ kind, entry: i, resourceType: type, record: dropUndefined(record) });
    const missing = (element: string, what: string) => issues.push({ entry: i, code: 'required', expression: `${at}.${element}`, message: what });
    const request = obj(entry.request);
    if (request && (!['POST', 'PUT'].includes(String(request.method)) || !String(request.url ?? '').split('?', 1)[0]!.includes(type))) {
      issues.push({ entry: i, code: 'not-supported', expression: `Bundle.entry[${i}].request`, message: `must be POST or PUT of ${type}` });
      return;
    }
    if (type === 'Practitioner') {
      const id = identifierValue(r) ?? (str(r.id) ? `Practitioner/${str(r.id)}` : undefined);
      if (!id) return missing('identifier', 'a Practitioner needs identifier.value or id (the user id events carry)');
      const name = pickName(r);
      push('users', { id, family: name.family, given: name.given, homeAddress: pickAddress(r), status: r.active === false ? 'terminated' : 'active' });
    } else if (type === 'PractitionerRole') {
      const id = resolveUser(obj(r.practitioner));
      if (!id) return missing('practitioner', 'a PractitionerRole needs practitioner (a reference or identifier)');
      push('users', { id, department: firstCode(r.specialty) ?? str(obj(r.organization)?.display), title: firstCode(r.code) });
    } else if (type === 'Patient') {
      const id = identifierValue(r, 'MR') ?? str(r.id);
      if (!id) return missing('identifier', 'a Patient needs identifier.value or id (the patient id events carry)');
      const name = pickName(r);
      const deceased = typeof r.deceasedBoolean === 'boolean' ? r.deceasedBoolean : r.deceasedDateTime !== undefined ? true : undefined;
      const vip = arr(obj(r.meta)?.security).some((s) => VIP_SECURITY_CODES.has(String(obj(s)?.code)));
      push('patients', { id, family: name.family, address: pickAddress(r), deceased, vip: vip || undefined });
    } else if (type === 'RelatedPerson') {
      const id = resolvePatient(obj(r.patient));
      if (!id) return missing('patient', 'a RelatedPerson needs patient (a reference or identifier)');
      const name = pickName(r);
      const address = pickAddress(r);
      if (!name.family && !address) return missing('name', 'a RelatedPerson needs a family name or an address to match on');
      push('patients', { id, relatedPersons: [dropUndefined({ family: name.family, address })] });
    } else if (type === 'Encounter' || type === 'CareTeam') {
      const encounter = type === 'Encounter';
      const id = encounter ? (identifierValue(r) ?? str(r.id)) : str(r.id) ? `CareTeam/${str(r.id)}` : undefined;
      if (!id) return missing('id', `an ${type} needs an id`);
      const patient = resolvePatient(obj(r.subject));
      if (!patient) return missing('subject', `an ${type} needs subject (a Patient reference or identifier)`);
      const participants = arr(r.participant)
        .map((p) => resolveUser(obj(obj(p)?.[encounter ? 'individual' : 'member'])))
        .filter((u): u is string => u !== undefined);
      const period = obj(r.period);
      const start = instant(period?.start) ?? (encounter ? undefined : '1970-01-01T00:00:00Z');
      if (!start) return missing('period.start', 'an Encounter needs period.start');
      const cancelled = ['cancelled', 'entered-in-error'].includes(String(r.status));
      push('encounters', {
        id,
        patient: { id: patient },
        department: encounter ? (firstCode(r.serviceType) ?? str(obj(r.serviceProvider)?.display)) : undefined,
        participants,
        start,
        end: cancelled ? start : instant(period?.end),
      });
    }
  });
  return { ok: true, bundleType: b.type, records, issues };
}

function dropUndefined(o: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}
