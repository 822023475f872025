/**
 * Structural reading of an HL7 FHIR R4 (4.0.1) AuditEvent from untrusted JSON: checks the elements
 * the mapping relies on (types, cardinalities, code values), recognizes R5-only elements and says so,
 * refuses elements R4 does not define (rather than silently dropping part of an audit record), and
 * returns typed R4 shapes or issues naming each bad element by FHIRPath, never by value nor by the
 * name of an unknown element (a client's key may be PHI): those are named by position.
 */
import { unknownMemberMessage } from '@app/core';
import { ACTION_CODES, ActionCode, OUTCOME_CODES, OutcomeCode } from '../shared/audit-vocabulary';
import { FhirIssue, FhirIssueType } from './operation-outcome';

export interface R4Coding {
  system?: string;
  code?: string;
  display?: string;
}

export interface R4CodeableConcept {
  coding: R4Coding[];
  text?: string;
}

export interface R4Reference {
  reference?: string;
  type?: string;
  identifier?: { system?: string; value?: string };
  display?: string;
}

export interface R4Agent {
  index: number;
  type?: R4CodeableConcept;
  role: R4CodeableConcept[];
  who?: R4Reference;
  altId?: string;
  /** Policy or token ids (BALP: the OAuth/SAML token id of the user's authorization). */
  policy: string[];
  requestor: boolean;
  network?: { address?: string; type?: string };
  purposeOfUse: R4CodeableConcept[];
  media?: R4Coding;
}

export interface R4Entity {
  index: number;
  what?: R4Reference;
  type?: R4Coding;
  role?: R4Coding;
  securityLabel: R4Coding[];
  query?: string;
}

export interface R4AuditEvent {
  id?: string;
  type: R4Coding;
  subtype: R4Coding[];
  action?: ActionCode;
  recorded: string;
  outcome?: OutcomeCode;
  outcomeDesc?: string;
  purposeOfEvent: R4CodeableConcept[];
  agent: R4Agent[];
  source: { site?: string; observer: R4Reference; type: R4Coding[] };
  entity: R4Entity[];
  /**
   * Known deviations from R4 that were accepted and normalized (lenient in, strict at rest), each a
   * short note naming the element and the deviation, never a value: e.g. `entity[0].query:plain-text`.
   */
  dataQuality: string[];
}

export type R4ReadResult = { ok: true; value: R4AuditEvent } | { ok: false; issues: FhirIssue[] };

/** FHIR `id`: 1-64 of [A-Za-z0-9-.]. */
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;
/** FHIR `instant`: to the second, with a time zone (fraction bounded to nanoseconds). */
const FHIR_INSTANT = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;
/** The members FHIR R4 defines on Meta; anything else there is a vendor's own (Medplum: project, author, compartment...). */
const R4_META_ELEMENTS = new Set(['id', 'extension', 'versionId', 'lastUpdated', 'source', 'profile', 'security', 'tag']);

/**
 * `entity.query` as R4 wants it (base64Binary) or, as some servers send it (Medplum), the search
 * string in plain text: that is encoded here so what is kept is always base64. A string that is
 * valid base64 but decodes to non-text is read as plain text too (a bare "Patient" is both).
 */
export function normalizeEntityQuery(value: string): { base64: string; plainText: boolean } {
  if (BASE64.test(value)) {
    const decoded = Buffer.from(value, 'base64');
    const text = decoded.toString('utf8');
    // eslint-disable-next-line no-control-regex
    if (decoded.length > 0 && !text.includes('\uFFFD') && !/[\u0000-\u0008\u000E-\u001F\u007F]/.test(text)) return { base64: value, plainText: false };
  }
  return { base64: Buffer.from(value, 'utf8').toString('base64'), plainText: true };
}

/** Elements that exist in R5 AuditEvent but not in R4: their presence means the sender speaks R5. */
const R5_ROOT_ELEMENTS = ['category', 'code', 'severity', 'occurredPeriod', 'occurredDateTime', 'authorization', 'basedOn', 'patient', 'encounter'];
const R5_AGENT_ELEMENTS = ['networkReference', 'networkUri', 'networkString', 'authorization'];
const R5_MESSAGE = 'this element belongs to FHIR R5 AuditEvent; this endpoint accepts FHIR R4 (4.0.1) AuditEvent';

/** Members of every R4 Element and BackboneElement (extensions are accepted, not interpreted). */
const ELEMENT = ['id', 'extension'] as const;
const BACKBONE = [...ELEMENT, 'modifierExtension'] as const;

/** The elements FHIR R4 (4.0.1) defines for AuditEvent, its backbone elements and the datatypes read here. */
export const R4_AUDIT_EVENT_ELEMENTS = {
  AuditEvent: ['resourceType', 'id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension', 'modifierExtension',
    'type', 'subtype', 'action', 'period', 'recorded', 'outcome', 'outcomeDesc', 'purposeOfEvent', 'agent', 'source', 'entity'],
  'AuditEvent.agent': [...BACKBONE, 'type', 'role', 'who', 'altId', 'name', 'requestor', 'location', 'policy', 'media', 'network', 'purposeOfUse'],
  'AuditEvent.agent.network': [...ELEMENT, 'address', 'type'],
  'AuditEvent.source': [...BACKBONE, 'site', 'observer', 'type'],
  'AuditEvent.entity': [...BACKBONE, 'what', 'type', 'role', 'lifecycle', 'securityLabel', 'name', 'description', 'query', 'detail'],
  Coding: [...ELEMENT, 'system', 'version', 'code', 'display', 'userSelected'],
  CodeableConcept: [...ELEMENT, 'coding', 'text'],
  Reference: [...ELEMENT, 'reference', 'type', 'identifier', 'display'],
  Identifier: [...ELEMENT, 'use', 'type', 'system', 'value', 'period', 'assigner'],
} as const satisfies Record<string, readonly string[]>;

type R4Structure = keyof typeof R4_AUDIT_EVENT_ELEMENTS;

/** Every element name above, with the R5-only ones this reader recognizes: names that are ours to repeat. */
export const R4_AUDIT_EVENT_ELEMENT_NAMES: ReadonlySet<string> = new Set<string>([
  ...Object.values(R4_AUDIT_EVENT_ELEMENTS).flat(),
  ...R5_ROOT_ELEMENTS,
  ...R5_AGENT_ELEMENTS,
]);

const MAX_ITEMS = { agent: 64, entity: 256, coding: 32, concepts: 32 } as const;

type Json = Record<string, unknown>;

class Reader {
  readonly issues: FhirIssue[] = [];

  constructor(private readonly prefix: string) {}

  issue(code: FhirIssueType, path: string, message: string): void {
    this.issues.push({ code, expression: path ? `${this.prefix}.${path}` : this.prefix, message });
  }

  /**
   * Refuses members R4 does not define for `structure` (`_name`, a primitive's id/extensions, is
   * accepted when `name` is). `handled` names members already reported otherwise (R5 elements).
   */
  members(o: Json, path: string, structure: R4Structure, handled: readonly string[] = []): void {
    const allowed: readonly string[] = R4_AUDIT_EVENT_ELEMENTS[structure];
    Object.keys(o).forEach((key, i) => {
      const name = key.startsWith('_') ? key.slice(1) : key;
      if (allowed.includes(name) || handled.includes(key)) return;
      this.issue('structure', path, `${unknownMemberMessage(i + 1, allowed, 'element')}; FHIR R4 defines no such element on ${structure}`);
    });
  }

  object(value: unknown, path: string): Json | undefined {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Json;
    this.issue('structure', path, 'must be a JSON object');
    return undefined;
  }

  string(parent: Json, key: string, path: string): string | undefined {
    const value = parent[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string' && value.trim().length > 0) return value;
    this.issue('value', path, 'must be a non-empty string');
    return undefined;
  }

  array(parent: Json, key: string, path: string, max: number): unknown[] {
    const value = parent[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.issue('structure', path, 'must be a JSON array');
      return [];
    }
    if (value.length > max) {
      this.issue('too-costly', path, `must hold at most ${max} items`);
      return value.slice(0, max);
    }
    return value;
  }

  strings(parent: Json, key: string, path: string): string[] {
    return this.array(parent, key, path, MAX_ITEMS.coding).flatMap((item, i) => {
      if (typeof item === 'string' && item.trim().length > 0) return [item];
      this.issue('value', `${path}[${i}]`, 'must be a non-empty string');
      return [];
    });
  }

  coding(value: unknown, path: string): R4Coding | undefined {
    const o = this.object(value, path);
    if (!o) return undefined;
    if ('coding' in o) {
      this.issue('structure', path, 'must be a Coding in FHIR R4 (a CodeableConcept here is the R5 shape)');
      return undefined;
    }
    this.members(o, path, 'Coding');
    return { system: this.string(o, 'system', `${path}.system`), code: this.string(o, 'code', `${path}.code`), display: this.string(o, 'display', `${path}.display`) };
  }

  codings(parent: Json, key: string, path: string): R4Coding[] {
    const out: R4Coding[] = [];
    this.array(parent, key, path, MAX_ITEMS.coding).forEach((item, i) => {
      const c = this.coding(item, `${path}[${i}]`);
      if (c) out.push(c);
    });
    return out;
  }

  concept(value: unknown, path: string): R4CodeableConcept | undefined {
    const o = this.object(value, path);
    if (!o) return undefined;
    if ('code' in o || 'system' in o) {
      this.issue('structure', path, 'must be a CodeableConcept (codings go in its coding array)');
      return undefined;
    }
    this.members(o, path, 'CodeableConcept');
    return { coding: this.codings(o, 'coding', `${path}.coding`), text: this.string(o, 'text', `${path}.text`) };
  }

  concepts(parent: Json, key: string, path: string): R4CodeableConcept[] {
    const out: R4CodeableConcept[] = [];
    this.array(parent, key, path, MAX_ITEMS.concepts).forEach((item, i) => {
      const c = this.concept(item, `${path}[${i}]`);
      if (c) out.push(c);
    });
    return out;
  }

  reference(value: unknown, path: string): R4Reference | undefined {
    const o = this.object(value, path);
    if (!o) return undefined;
    this.members(o, path, 'Reference');
    let identifier: R4Reference['identifier'];
    if (o.identifier !== undefined) {
      const id = this.object(o.identifier, `${path}.identifier`);
      if (id) this.members(id, `${path}.identifier`, 'Identifier');
      if (id) identifier = { system: this.string(id, 'system', `${path}.identifier.system`), value: this.string(id, 'value', `${path}.identifier.value`) };
    }
    return {
      reference: this.string(o, 'reference', `${path}.reference`),
      type: this.string(o, 'type', `${path}.type`),
      identifier,
      display: this.string(o, 'display', `${path}.display`),
    };
  }

  code<T extends string>(parent: Json, key: string, path: string, allowed: readonly T[], what: string, objectMeansR5 = false): T | undefined {
    const value = parent[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    if (objectMeansR5 && value !== null && typeof value === 'object') this.issue('not-supported', path, R5_MESSAGE);
    else this.issue('code-invalid', path, `must be one of the ${what} codes ${allowed.join(', ')}`);
    return undefined;
  }
}

/** Reads one AuditEvent; `prefix` is the FHIRPath of the resource (`AuditEvent` or `Bundle.entry[i].resource`). */
export function readR4AuditEvent(resource: unknown, prefix = 'AuditEvent'): R4ReadResult {
  const r = new Reader(prefix);
  const root = r.object(resource, '');
  if (!root) return { ok: false, issues: r.issues };
  if (root.resourceType !== 'AuditEvent') {
    r.issue('invalid', 'resourceType', 'must be AuditEvent');
    return { ok: false, issues: r.issues };
  }
  for (const name of R5_ROOT_ELEMENTS) if (name in root) r.issue('not-supported', name, R5_MESSAGE);
  r.members(root, '', 'AuditEvent', R5_ROOT_ELEMENTS);

  const id = r.string(root, 'id', 'id');
  if (id !== undefined && !FHIR_ID.test(id)) r.issue('value', 'id', 'must be a FHIR id (1-64 letters, digits, "-" or ".")');

  let type: R4Coding | undefined;
  if (root.type === undefined) r.issue('required', 'type', 'is required (R4 AuditEvent.type, 1..1)');
  else type = r.coding(root.type, 'type');
  if (type && !type.code) r.issue('required', 'type.code', 'is required to classify the event');

  const subtype = r.codings(root, 'subtype', 'subtype');
  const action = r.code(root, 'action', 'action', ACTION_CODES, 'AuditEventAction');

  const recorded = r.string(root, 'recorded', 'recorded');
  if (root.recorded === undefined) r.issue('required', 'recorded', 'is required (R4 AuditEvent.recorded, 1..1)');
  else if (recorded !== undefined && !FHIR_INSTANT.test(recorded)) r.issue('value', 'recorded', 'must be a FHIR instant (date, time to the second, and time zone)');

  const outcome = r.code(root, 'outcome', 'outcome', OUTCOME_CODES, 'AuditEventOutcome', true);
  const outcomeDesc = r.string(root, 'outcomeDesc', 'outcomeDesc');
  const purposeOfEvent = r.concepts(root, 'purposeOfEvent', 'purposeOfEvent');

  const dataQuality: string[] = [];
  if (root.meta !== null && typeof root.meta === 'object' && !Array.isArray(root.meta)) {
    if (Object.keys(root.meta).some((k) => !R4_META_ELEMENTS.has(k.startsWith('_') ? k.slice(1) : k))) dataQuality.push('meta:vendor-members');
  }
  const agents: R4Agent[] = [];
  if (root.agent === undefined) r.issue('required', 'agent', 'is required (R4 AuditEvent.agent, 1..*)');
  const agentItems = r.array(root, 'agent', 'agent', MAX_ITEMS.agent);
  if (root.agent !== undefined && Array.isArray(root.agent) && root.agent.length === 0) r.issue('required', 'agent', 'must hold at least one agent');
  agentItems.forEach((item, i) => {
    const path = `agent[${i}]`;
    const a = r.object(item, path);
    if (!a) return;
    for (const name of R5_AGENT_ELEMENTS) if (name in a) r.issue('not-supported', `${path}.${name}`, R5_MESSAGE);
    r.members(a, path, 'AuditEvent.agent', R5_AGENT_ELEMENTS);
    let requestor = false;
    if (a.requestor === undefined) dataQuality.push(`${path}.requestor:missing`);
    else if (typeof a.requestor !== 'boolean') r.issue('value', `${path}.requestor`, 'must be true or false');
    else requestor = a.requestor;
    let network: R4Agent['network'];
    if (a.network !== undefined) {
      const n = r.object(a.network, `${path}.network`);
      if (n) r.members(n, `${path}.network`, 'AuditEvent.agent.network');
      if (n) network = { address: r.string(n, 'address', `${path}.network.address`), type: r.code(n, 'type', `${path}.network.type`, ['1', '2', '3', '4', '5'], 'AuditEventAgentNetworkType') };
    }
    agents.push({
      index: i,
      type: a.type === undefined ? undefined : r.concept(a.type, `${path}.type`),
      role: r.concepts(a, 'role', `${path}.role`),
      who: a.who === undefined ? undefined : r.reference(a.who, `${path}.who`),
      altId: r.string(a, 'altId', `${path}.altId`),
      policy: r.strings(a, 'policy', `${path}.policy`),
      requestor,
      network,
      purposeOfUse: r.concepts(a, 'purposeOfUse', `${path}.purposeOfUse`),
      media: a.media === undefined ? undefined : r.coding(a.media, `${path}.media`),
    });
  });

  let source: R4AuditEvent['source'] | undefined;
  if (root.source === undefined) r.issue('required', 'source', 'is required (R4 AuditEvent.source, 1..1)');
  else {
    const s = r.object(root.source, 'source');
    if (s) {
      r.members(s, 'source', 'AuditEvent.source');
      let site: string | undefined;
      if (s.site !== undefined && typeof s.site === 'object') r.issue('not-supported', 'source.site', R5_MESSAGE);
      else site = r.string(s, 'site', 'source.site');
      let observer: R4Reference | undefined;
      if (s.observer === undefined) r.issue('required', 'source.observer', 'is required (R4 AuditEvent.source.observer, 1..1)');
      else observer = r.reference(s.observer, 'source.observer');
      const sourceType = r.codings(s, 'type', 'source.type');
      if (observer) source = { site, observer, type: sourceType };
    }
  }

  const entities: R4Entity[] = [];
  r.array(root, 'entity', 'entity', MAX_ITEMS.entity).forEach((item, i) => {
    const path = `entity[${i}]`;
    const e = r.object(item, path);
    if (!e) return;
    r.members(e, path, 'AuditEvent.entity');
    let role: R4Coding | undefined;
    if (e.role !== undefined && e.role !== null && typeof e.role === 'object' && 'coding' in (e.role as Json)) {
      r.issue('not-supported', `${path}.role`, R5_MESSAGE);
    } else if (e.role !== undefined) role = r.coding(e.role, `${path}.role`);
    let query = r.string(e, 'query', `${path}.query`);
    if (query !== undefined) {
      const normalized = normalizeEntityQuery(query);
      if (normalized.plainText) dataQuality.push(`${path}.query:plain-text`);
      query = normalized.base64;
    }
    entities.push({
      index: i,
      what: e.what === undefined ? undefined : r.reference(e.what, `${path}.what`),
      type: e.type === undefined ? undefined : r.coding(e.type, `${path}.type`),
      role,
      securityLabel: r.codings(e, 'securityLabel', `${path}.securityLabel`),
      query,
    });
  });

  if (r.issues.length > 0 || !type || !recorded || !source) return { ok: false, issues: r.issues };
  return {
    ok: true,
    value: { id, type, subtype, action, recorded, outcome, outcomeDesc, purposeOfEvent, agent: agents, source, entity: entities, dataQuality },
  };
}
