/**
 * Canonical identifiers: the one spelling of an event id, a patient id and a Patient resource that
 * idempotency, tokenization, sealing and every filter compare. Without it, `ABC…` and `urn:uuid:abc…`
 * were two events with one id, and `MRN-1`, `ＭＲＮ-1`, `MRN-\u200b1` or `МRN-1` (Cyrillic М) were
 * four patients, four tokens, and three of them missing from the patient's report (docs/security.md).
 */
import type { AccessEvent } from './access-event';

/** An event id as stored and compared: lower case, without a `urn:uuid:` prefix. */
export function canonicalEventId(id: string): string {
  const lower = id.trim().toLowerCase();
  return lower.startsWith('urn:uuid:') ? lower.slice('urn:uuid:'.length) : lower;
}

/** Format characters (zero-width space and joiners, BOM, bidi controls), other invisibles and controls. */
const INVISIBLE = /[\p{Cf}\p{Cc}\u115F\u1160\u3164\uFFA0\u034F\u180B-\u180D\uFE00-\uFE0F]/gu;

/**
 * Letters of other scripts that render like Latin ones (Unicode confusables, the ones seen in ids):
 * Cyrillic and Greek capitals and small letters that a record id could be spoofed with.
 */
const CONFUSABLES: Readonly<Record<string, string>> = {
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', Х: 'X', У: 'Y', І: 'I', Ј: 'J', Ѕ: 'S', Ԁ: 'D', Ԛ: 'Q', Ԝ: 'W',
  а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', х: 'x', у: 'y', і: 'i', ј: 'j', ѕ: 's', ԁ: 'd', ԛ: 'q', ԝ: 'w', һ: 'h',
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
  ο: 'o', ν: 'v', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ι: 'i', κ: 'k',
};
const CONFUSABLE_CHARS = new RegExp(`[${Object.keys(CONFUSABLES).join('')}]`, 'gu');

/**
 * Printable ASCII without spaces: already its own NFKC form, with no invisible character, no
 * look-alike letter and nothing to trim. Almost every posted id is such a string; it skips the
 * Unicode passes, which ran for every ingested event (twice: at ingest and in the patient token).
 */
const PLAIN_ASCII = /^[\x21-\x7e]*$/;

/** NFKC with invisible characters removed and surrounding white space trimmed. */
function visible(text: string): string {
  return PLAIN_ASCII.test(text) ? text : text.normalize('NFKC').replace(INVISIBLE, '').trim();
}

/**
 * A patient id as tokenized and stored: NFKC (fullwidth and compatibility forms to their plain
 * letters), invisible characters removed, look-alike Cyrillic and Greek letters folded to Latin,
 * surrounding white space trimmed, and a FHIR reference (`Patient/MRN-1`, `fhir:Patient/MRN-1`)
 * reduced to the id. Case is kept: record numbers may be case-sensitive at their source.
 */
export function canonicalPatientId(id: string): string {
  const folded = PLAIN_ASCII.test(id) ? id : id.normalize('NFKC').replace(INVISIBLE, '').replace(CONFUSABLE_CHARS, (c) => CONFUSABLES[c] ?? c).trim();
  const ref = /^(?:fhir:)?patient\/(.+)$/i.exec(folded);
  return ref ? ref[1].trim() : folded;
}

/** True when a resource type names the FHIR Patient resource, however it was spelled (`Patient `, `fhir:Patient`, `patient`). */
export function isPatientResourceType(type: string | undefined): boolean {
  if (type === undefined) return false;
  return /^(?:fhir:|hl7:|http:\/\/hl7\.org\/fhir\/)?patient$/i.test(visible(type));
}

/** True when the resource holds a patient identifier: a Patient resource, or any id written as a `Patient/…` reference. */
export function isPatientResource(resource: { type: string; id?: string } | undefined): boolean {
  if (!resource || resource.id === undefined) return false;
  return isPatientResourceType(resource.type) || /^(?:fhir:)?patient\//i.test(visible(resource.id));
}

/**
 * The event with its identifiers in canonical form (a copy when anything changed): the id; the
 * patient id; a Patient resource written as `Patient ` / `fhir:Patient` or with a `Patient/…` id
 * becomes `{ type: "Patient", id: <canonical patient id> }`, so it is sealed and tokenized like
 * `patient.id`. Applied once, at ingest, before the record is hashed.
 */
export function canonicalizeEventIdentifiers(event: AccessEvent): AccessEvent {
  let out = event;
  const id = canonicalEventId(event.id);
  if (id !== event.id) out = { ...out, id };
  if (event.patient) {
    const pid = canonicalPatientId(event.patient.id);
    if (pid !== event.patient.id) out = { ...out, patient: { ...event.patient, id: pid } };
  }
  if (event.resource && isPatientResource(event.resource)) {
    const pid = canonicalPatientId(event.resource.id!);
    if (event.resource.type !== 'Patient' || pid !== event.resource.id) out = { ...out, resource: { ...event.resource, type: 'Patient', id: pid } };
  }
  return out;
}
