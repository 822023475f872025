/**
 * Maps one HL7 FHIR R4 AuditEvent (as IHE Basic Audit Log Patterns profile it) to the canonical
 * access event, and keeps the SHA-256 of the resource's RFC 8785 canonical JSON in
 * `details.fhirResourceSha256` so anyone holding the original can check what was mapped.
 * Every choice is listed in libs/standards/README.md ("FHIR R4 AuditEvent mapping").
 */
import { isIP } from 'node:net';
import { AccessEvent, ActorType } from '@app/core';
import { canonicalize } from '@app/ledger';
import {
  AUDIT_EVENT_TYPE_SYSTEMS,
  Classification,
  classifyByActionCode,
  classifyDicomEvent,
  classifyRestInteraction,
  DCM,
  DCM_SYSTEMS,
  isExportOperationCode,
  outcomeFromIndicator,
  PurposeDecision,
  purposeFromCode,
  RESTFUL_INTERACTION_SYSTEM,
  sensitivityFromCode,
} from '../shared/audit-vocabulary';
import { canonicalErrors } from '../shared/canonical-check';
import { ID_NAMESPACES, isUuid, nameBasedUuid, sha256Hex } from '../shared/content-identity';
import { dataQualityNote } from '../shared/data-quality';
import { FhirIssue } from './operation-outcome';
import { R4Agent, R4AuditEvent, R4Coding, R4Entity, R4Reference, readR4AuditEvent } from './fhir-r4-reader';

export interface FhirMappingOptions {
  /** The authenticated integration that posted the resource; becomes `source.integration`. */
  integration?: string;
  /**
   * The keyed pseudonym (an actor id) of a display text, for a requestor named only by display when
   * no agent identifies who acted (HAPI FHIR's public test server). Without it such events are refused.
   * The service passes the tokenization key's (libs/security display-pseudonyms.ts).
   */
  pseudonymizeDisplay?: (display: string) => string | undefined;
}

export interface MappedFhirAuditEvent {
  event: AccessEvent;
  /** SHA-256 (hex) of the RFC 8785 canonical JSON of the submitted resource; also in `details`. */
  resourceSha256: string;
}

export type FhirAuditEventMapping = { ok: true; value: MappedFhirAuditEvent } | { ok: false; issues: FhirIssue[] };

const OBJECT_ROLE_SYSTEMS = new Set(['http://terminology.hl7.org/CodeSystem/object-role', 'http://hl7.org/fhir/object-role']);
const OBJECT_ROLE = { patient: '1', query: '24' } as const;
const BALP_ENTITY_TYPE_TRANSACTION = 'XrequestId';
const PURPOSE_SYSTEMS = new Set([
  'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  'http://terminology.hl7.org/CodeSystem/v3-PurposeOfUse',
  'urn:oid:2.16.840.1.113883.5.8',
]);
/** Agent types that denote a person (FHIR extra-security-role-type, BALP user agents, v3 participation). */
const PERSON_AGENT_TYPES = new Set(['humanuser', 'UserSamlAgent', 'UserOauthAgent', 'IRCP', 'AUT', 'INF', 'CST', 'PROV', 'PAT', 'AGNT']);
const SERVICE_AGENT_TYPES = new Set(['dataprocessor', 'datacollector', 'AuthzOauthService', ...DCM.applicationRoles]);
const PERSON_RESOURCES = new Set(['Practitioner', 'PractitionerRole', 'Patient', 'RelatedPerson']);
const SERVICE_RESOURCES = new Set(['Device', 'Organization']);
const REFERENCE = /(?:^|\/)([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[A-Za-z0-9.-]{1,64})?$/;
const MAX_DETAIL_TEXT = 256;
const MAX_QUERY_BYTES = 8192;
/** What the canonical `query.text` holds (ACCESS_EVENT_SCHEMA); longer searches are cut and noted. */
const MAX_QUERY_TEXT = 4096;

/**
 * Maps one resource. `prefix` is its FHIRPath inside the request (`AuditEvent` alone, or
 * `Bundle.entry[i].resource`), used in every issue's expression.
 */
export function mapFhirAuditEvent(resource: unknown, options: FhirMappingOptions = {}, prefix = 'AuditEvent'): FhirAuditEventMapping {
  const read = readR4AuditEvent(resource, prefix);
  if (!read.ok) return read;
  const ev = read.value;
  const issues: FhirIssue[] = [];
  const at = (path: string) => (path ? `${prefix}.${path}` : prefix);

  let canonicalJson: string;
  try {
    canonicalJson = canonicalize(resource);
  } catch {
    return { ok: false, issues: [{ code: 'invalid', expression: prefix, message: 'cannot be serialized as canonical JSON' }] };
  }
  const resourceSha256 = sha256Hex(canonicalJson);

  /** Canonical field (JSON pointer) to the FHIR element it came from, to name elements in errors. */
  const provenance: Record<string, string> = { '/occurredAt': 'recorded', '/outcome': 'outcome', '/id': 'id' };

  // Who: the requesting agent (IHE BALP: the user), else the client machine (DICOM Source Role ID).
  const requestors = ev.agent.filter((a) => a.requestor);
  let actorAgent: R4Agent | undefined = requestors.find((a) => agentIdentity(a)) ?? requestors[0];
  let actorIsRequestor = true;
  if (!actorAgent) {
    actorIsRequestor = false;
    actorAgent = ev.agent.find((a) => hasCode(a.type?.coding, DCM.sourceRoleId) && agentIdentity(a));
  }
  const dataQuality = [...ev.dataQuality];
  const unnamed = actorAgent && actorIsRequestor && !agentIdentity(actorAgent) ? unnamedWho(actorAgent) : undefined;
  if (actorAgent && unnamed) {
    // Lenient in: HAPI FHIR's BALP interceptor always adds the user agent (IRCP, requestor) with
    // whatever the deployment's context services return: an empty Reference serializes to no `who`
    // at all, and HAPI's public test server returns only a display ("[masked IP] user"). When the
    // client (Source Role ID) is identified, it acted on the user's behalf and is the actor. The
    // display is not kept (a name, or part of an address: nothing a plain column may hold).
    // Without an identified client, who acted cannot be told: refused below at agent[i].who.
    const client = ev.agent.find((a) => hasCode(a.type?.coding, DCM.sourceRoleId) && agentIdentity(a));
    if (client) {
      dataQuality.push(`agent[${actorAgent.index}].who:${unnamed}`);
      actorAgent = client;
      actorIsRequestor = false;
    }
  }
  let identity: AgentIdentity | undefined = actorAgent && agentIdentity(actorAgent);
  if (actorAgent && actorIsRequestor && !identity && unnamed === 'display-only' && options.pseudonymizeDisplay) {
    // Lenient in: HAPI FHIR's public test server names the user ("[masked IP] X-USERNAME") and the
    // client (its User-Agent) by display only. The user acted; the actor is a keyed pseudonym of the
    // display (the same display, the same actor), never the display itself.
    const pseudonym = options.pseudonymizeDisplay(actorAgent.who!.display!);
    if (pseudonym) {
      identity = { id: pseudonym, path: `agent[${actorAgent.index}].who.display` };
      dataQuality.push(`agent[${actorAgent.index}].who:display-only`, 'actor:pseudonym-from-display');
    }
  }
  const observer = observerIdentity(ev.source.observer);
  if (!observer) issues.push({ code: 'required', expression: at('source.observer'), message: 'must identify the observing system by identifier.value, reference or display' });
  if (!actorAgent && observer && !ev.agent.some((a) => agentIdentity(a))) {
    // Lenient in: a server auditing its own work (Medplum bots and subscriptions) names no agent at
    // all; the observing system acted on its own behalf. Agents that are named, none of them the
    // requestor, stay refused: who acted cannot be told.
    identity = { id: observer.value, path: observer.path };
    dataQuality.push('actor:source.observer');
  } else if (!actorAgent) {
    issues.push({ code: 'required', expression: at('agent'), message: 'no agent has requestor=true, and no Source Role ID (DCM 110153) agent identifies the client: cannot tell who acted' });
  } else if (!identity) {
    issues.push({ code: 'required', expression: at(`agent[${actorAgent.index}].who`), message: 'the requesting agent must identify the user by who.identifier.value, who.reference, altId or policy (token id)' });
  }
  if (issues.length > 0 || !identity || !observer) return { ok: false, issues };

  const actor: AccessEvent['actor'] = { id: identity.id, type: actorAgent && identity.path.startsWith('agent[') ? actorType(actorAgent, actorIsRequestor) : 'service' };
  provenance['/actor'] = actorAgent && identity.path.startsWith('agent[') ? `agent[${actorAgent.index}]` : 'source.observer';
  provenance['/actor/id'] = identity.path;
  const role = actorAgent && agentRole(actorAgent);
  if (role) {
    actor.role = role.value;
    provenance['/actor/role'] = role.path;
  }
  const ip = (actorAgent && agentIp(actorAgent)) ?? ev.agent.filter((a) => hasCode(a.type?.coding, DCM.sourceRoleId)).map(agentIp).find(Boolean);
  if (ip) actor.ip = ip;

  // Whom: the patient entity (object-role 1), else any entity that references a Patient.
  const patientEntities = ev.entity.filter(isPatientEntity);
  const patientEntity = patientEntities[0] ?? ev.entity.find((e) => referencedType(e.what) === 'Patient');
  const patientId = patientEntity ? patientIdOf(patientEntity) : undefined;
  if (patientEntity && !patientId) {
    return { ok: false, issues: [{ code: 'required', expression: at(`entity[${patientEntity.index}].what`), message: 'the patient entity must identify the patient by identifier.value or a Patient reference' }] };
  }

  const classified = classify(ev, patientId !== undefined);
  let { classification } = classified;
  let classificationPath = classified.path;
  if (classification.action === 'unspecified' && ev.type.system === undefined && ev.type.code && /^[a-z][a-z_-]{1,31}$/.test(ev.type.code)) {
    // Lenient in: no action code, no subtype, a bare type code (Medplum: "execute" for a bot run, "transmit" for a subscription).
    classification = { category: classification.category, action: ev.type.code };
    classificationPath = 'type.code';
    dataQuality.push('action:type.code');
  }
  provenance['/action'] = classificationPath;
  provenance['/category'] = classificationPath;

  const event: AccessEvent = {
    // Without a UUID of its own, the id is derived from the content, scoped by the posting integration
    // (issue 22): another integration's identical resource is another event, so a 409 reveals nothing
    // and nobody can post first to occupy an integration's id.
    id: isUuid(ev.id) ? ev.id.toLowerCase() : nameBasedUuid(ID_NAMESPACES.fhirAuditEvent, options.integration === undefined ? canonicalJson : `${options.integration}\u0000${canonicalJson}`),
    occurredAt: ev.recorded,
    category: classification.category,
    action: classification.action,
    outcome: ev.outcome === undefined ? 'success' : outcomeFromIndicator(ev.outcome, ev.outcomeDesc),
    actor,
    source: { system: observer.value },
  };
  provenance['/source/system'] = observer.path;
  if (options.integration !== undefined) event.source.integration = options.integration;

  if (patientEntity && patientId) {
    event.patient = { id: patientId.value };
    provenance['/patient/id'] = patientId.path;
  }

  const resourceRef = resourceOf(ev, patientEntity);
  if (resourceRef) {
    event.resource = resourceRef.value;
    provenance['/resource'] = resourceRef.path;
  }

  const search = searchOf(ev);
  if (search) {
    event.query = { text: search.text };
    provenance['/query'] = search.path;
    if (search.truncated) dataQuality.push(`${search.path}:truncated`);
  }

  const purpose = purposeOf(ev, actorAgent);
  if (purpose) {
    event.purpose = purpose.decision.purpose;
    provenance['/purpose'] = purpose.path;
  }

  const sensitivity = [...new Set(ev.entity.flatMap((e) => e.securityLabel.map((c) => (c.code ? sensitivityFromCode(c.code) : null))))].filter(
    (s): s is string => s !== null,
  );
  if (sensitivity.length > 0) {
    event.sensitivity = sensitivity.slice(0, 16);
    provenance['/sensitivity'] = 'entity';
  }

  const details: Record<string, string | number | boolean> = { fhirResourceSha256: resourceSha256 };
  const put = (key: string, value: string | undefined) => {
    if (value !== undefined && value.length <= MAX_DETAIL_TEXT) details[key] = value;
  };
  if (ev.id !== undefined && !isUuid(ev.id)) put('fhirResourceId', ev.id);
  put('fhirType', ev.type.code);
  put('fhirSubtype', ev.subtype.find((s) => s.code)?.code);
  put('fhirAction', ev.action);
  if (ev.outcome !== undefined) details.fhirOutcome = ev.outcome;
  else details.outcomeAssumed = true;
  put('sourceSite', ev.source.site);
  if (identity.fromPolicy) details.actorIdSource = 'policy';
  if (dataQuality.length > 0) details.dataQuality = dataQualityNote(dataQuality, MAX_DETAIL_TEXT);
  if (purpose?.decision.breakGlass) details.breakGlass = true;
  const distinctPatients = new Set(patientEntities.map((e) => patientIdOf(e)?.value).filter(Boolean));
  if (distinctPatients.size > 1) details.patientEntities = distinctPatients.size;
  event.details = details;

  const errors = canonicalErrors(event);
  if (errors.length > 0) {
    return {
      ok: false,
      issues: errors.map((e) => ({ code: 'value', expression: at(sourceElement(provenance, e.pointer)), message: `maps to canonical field ${e.pointer || '/'}, which ${e.message}` })),
    };
  }
  return { ok: true, value: { event, resourceSha256 } };
}

function hasCode(codings: readonly R4Coding[] | undefined, code: string): boolean {
  return codings?.some((c) => c.code === code) ?? false;
}

function parseReference(reference: string | undefined): { type: string; id: string } | undefined {
  if (!reference) return undefined;
  const m = REFERENCE.exec(reference);
  return m ? { type: m[1], id: m[2] } : undefined;
}

function referencedType(ref: R4Reference | undefined): string | undefined {
  return parseReference(ref?.reference)?.type ?? ref?.type;
}

type AgentIdentity = { id: string; path: string; fromPolicy?: boolean };

function agentIdentity(agent: R4Agent): AgentIdentity | undefined {
  const base = `agent[${agent.index}]`;
  if (agent.who?.identifier?.value) return { id: agent.who.identifier.value, path: `${base}.who.identifier.value` };
  if (agent.who?.reference) {
    const parsed = parseReference(agent.who.reference);
    return { id: parsed ? `${parsed.type}/${parsed.id}` : agent.who.reference, path: `${base}.who.reference` };
  }
  if (agent.altId) return { id: agent.altId, path: `${base}.altId` };
  if (agent.policy.length > 0) return { id: agent.policy[0], path: `${base}.policy[0]`, fromPolicy: true };
  return undefined;
}

/**
 * Why a requestor without an identity names nobody: no `who` at all (`missing`), or a `who` holding
 * only a display text (`display-only`). Anything else (an empty `who`, an identifier without a
 * value) is not a known deviation.
 */
function unnamedWho(agent: R4Agent): 'missing' | 'display-only' | undefined {
  const who = agent.who;
  if (who === undefined) return 'missing';
  if (who.display?.trim() && !who.reference && !who.identifier?.value) return 'display-only';
  return undefined;
}

function actorType(agent: R4Agent, isRequestor: boolean): ActorType {
  const refType = referencedType(agent.who);
  if (refType && SERVICE_RESOURCES.has(refType)) return 'service';
  if (refType && PERSON_RESOURCES.has(refType)) return 'user';
  const typeCodes = (agent.type?.coding ?? []).map((c) => c.code).filter((c): c is string => c !== undefined);
  if (typeCodes.some((c) => PERSON_AGENT_TYPES.has(c))) return 'user';
  if (typeCodes.some((c) => SERVICE_AGENT_TYPES.has(c)) || agent.media) return 'service';
  return isRequestor ? 'user' : 'service';
}

function agentRole(agent: R4Agent): { value: string; path: string } | undefined {
  for (let i = 0; i < agent.role.length; i++) {
    const coding = agent.role[i].coding.findIndex((c) => c.code);
    if (coding >= 0) return { value: agent.role[i].coding[coding].code as string, path: `agent[${agent.index}].role[${i}].coding[${coding}].code` };
    if (agent.role[i].text) return { value: agent.role[i].text as string, path: `agent[${agent.index}].role[${i}].text` };
  }
  return undefined;
}

function agentIp(agent: R4Agent): string | undefined {
  const address = agent.network?.address;
  return address && isIP(address) !== 0 ? address : undefined;
}

function observerIdentity(observer: R4Reference): { value: string; path: string } | undefined {
  if (observer.identifier?.value) return { value: observer.identifier.value, path: 'source.observer.identifier.value' };
  if (observer.reference) return { value: observer.reference, path: 'source.observer.reference' };
  if (observer.display) return { value: observer.display, path: 'source.observer.display' };
  return undefined;
}

function isPatientEntity(e: R4Entity): boolean {
  return e.role?.code === OBJECT_ROLE.patient && (e.role.system === undefined || OBJECT_ROLE_SYSTEMS.has(e.role.system));
}

/** A query entity: object-role 24, or (Medplum) an entity holding only a query, with no role and no `what`. */
function isQueryEntity(e: R4Entity): boolean {
  if (e.role === undefined) return e.query !== undefined && e.what === undefined;
  return e.role.code === OBJECT_ROLE.query && (e.role.system === undefined || OBJECT_ROLE_SYSTEMS.has(e.role.system));
}

function patientIdOf(e: R4Entity): { value: string; path: string } | undefined {
  const base = `entity[${e.index}].what`;
  if (e.what?.identifier?.value) return { value: e.what.identifier.value, path: `${base}.identifier.value` };
  const parsed = parseReference(e.what?.reference);
  if (parsed?.type === 'Patient') return { value: parsed.id, path: `${base}.reference` };
  return undefined;
}

/** The data the event is about: the first domain-resource entity, else the searched type, else the patient record. */
function resourceOf(ev: R4AuditEvent, patientEntity: R4Entity | undefined): { value: NonNullable<AccessEvent['resource']>; path: string } | undefined {
  for (const e of ev.entity) {
    if (isPatientEntity(e) || isQueryEntity(e) || e.type?.code === BALP_ENTITY_TYPE_TRANSACTION) continue;
    const parsed = parseReference(e.what?.reference);
    if (parsed) return { value: { type: parsed.type, id: parsed.id }, path: `entity[${e.index}].what` };
    if (e.what?.type) return { value: { type: e.what.type }, path: `entity[${e.index}].what.type` };
  }
  for (const e of ev.entity) {
    if (!isQueryEntity(e) || !e.query) continue;
    const type = searchedResourceType(e.query);
    if (type) return { value: { type }, path: `entity[${e.index}].query` };
  }
  const patientRef = parseReference(patientEntity?.what?.reference);
  if (patientEntity && patientRef?.type === 'Patient') return { value: { type: 'Patient', id: patientRef.id }, path: `entity[${patientEntity.index}].what` };
  return undefined;
}

/**
 * The search string of the first query entity, decoded to text (the reader has made it base64 of
 * text), cut to what the canonical field holds. PHI: the stores seal it at rest (sealed-fields.ts).
 */
function searchOf(ev: R4AuditEvent): { text: string; path: string; truncated: boolean } | undefined {
  for (const e of ev.entity) {
    if (!isQueryEntity(e) || !e.query) continue;
    const text = Buffer.from(e.query.slice(0, Math.ceil((MAX_QUERY_BYTES * 4) / 3)), 'base64').toString('utf8').trim();
    if (text.length === 0) continue;
    const cut = cutText(text, MAX_QUERY_TEXT);
    return { text: cut, path: `entity[${e.index}].query`, truncated: cut.length < text.length || e.query.length > Math.ceil((MAX_QUERY_BYTES * 4) / 3) };
  }
  return undefined;
}

/** At most `max` UTF-16 units, never splitting a surrogate pair. */
function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]) ? max - 1 : max;
  return text.slice(0, end);
}

/**
 * The resource type a FHIR search was made on, read from the query entity's request line or URL
 * (`GET [base]/Observation?...`, `[base]/Observation/_search`): what `resource.type` says of a search.
 */
export function searchedResourceType(queryBase64: string): string | undefined {
  const text = Buffer.from(queryBase64.slice(0, Math.ceil((MAX_QUERY_BYTES * 4) / 3)), 'base64').toString('utf8');
  const path = text.replace(/^\s*[A-Z]+\s+/, '').split(/[?\s#]/, 1)[0];
  const segments = path.split('/').filter((s) => s.length > 0);
  for (let i = segments.length - 1; i >= 0; i--) {
    if (/^[A-Z][A-Za-z]{1,63}$/.test(segments[i])) return segments[i];
  }
  return undefined;
}

function isDcm(coding: R4Coding): boolean {
  return coding.system !== undefined ? DCM_SYSTEMS.has(coding.system) : /^1101\d\d$/.test(coding.code ?? '');
}

function classify(ev: R4AuditEvent, involvesPatient: boolean): { classification: Classification; path: string } {
  const exportIndex = ev.subtype.findIndex((s) => s.code !== undefined && isExportOperationCode(s.code));
  if (exportIndex >= 0) return { classification: { category: 'data_access', action: 'export' }, path: `subtype[${exportIndex}]` };
  const typeCode = ev.type.code as string;
  if (isDcm(ev.type)) {
    const subtypeCodes = ev.subtype.filter((s) => s.code !== undefined && isDcm(s)).map((s) => s.code as string);
    const dicom = classifyDicomEvent(typeCode, subtypeCodes, ev.action);
    if (dicom) return { classification: dicom, path: 'type' };
  }
  const isRest = typeCode === 'rest' && (ev.type.system === undefined || AUDIT_EVENT_TYPE_SYSTEMS.has(ev.type.system));
  if (isRest) {
    for (let i = 0; i < ev.subtype.length; i++) {
      const s = ev.subtype[i];
      if (s.code === undefined || (s.system !== undefined && s.system !== RESTFUL_INTERACTION_SYSTEM)) continue;
      const rest = classifyRestInteraction(s.code);
      if (rest) return { classification: rest, path: `subtype[${i}]` };
    }
  }
  return { classification: classifyByActionCode(ev.action, involvesPatient), path: ev.action ? 'action' : 'type' };
}

function purposeOf(ev: R4AuditEvent, actorAgent: R4Agent | undefined): { decision: PurposeDecision; path: string } | undefined {
  const sources = [
    ...ev.purposeOfEvent.map((c, i) => ({ concept: c, path: `purposeOfEvent[${i}]` })),
    ...(actorAgent?.purposeOfUse ?? []).map((c, i) => ({ concept: c, path: `agent[${actorAgent?.index}].purposeOfUse[${i}]` })),
  ];
  for (const preferKnownSystem of [true, false]) {
    for (const { concept, path } of sources) {
      for (let j = 0; j < concept.coding.length; j++) {
        const coding = concept.coding[j];
        if (!coding.code || (preferKnownSystem && !(coding.system && PURPOSE_SYSTEMS.has(coding.system)))) continue;
        const decision = purposeFromCode(coding.code);
        if (decision) return { decision, path: `${path}.coding[${j}].code` };
      }
    }
  }
  return undefined;
}

function sourceElement(provenance: Record<string, string>, pointer: string): string {
  let best = '';
  for (const key of Object.keys(provenance)) {
    if ((pointer === key || pointer.startsWith(`${key}/`)) && key.length > best.length) best = key;
  }
  return best ? provenance[best] : '';
}
