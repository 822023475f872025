/**
 * Reading a recorded search string (`AccessEvent.query.text`: a FHIR search such as
 * `Patient?name=smith`, a full URL, `GET [base]/Patient/_search?...`, a DICOMweb QIDO-RS search
 * (`[base]/rs/studies?PatientName=...`), or a non-URL query such as an HL7 v2 PIX query or a
 * binary C-FIND dataset in an ATNA message) without ever keeping its values anywhere but the sealed
 * record: what was searched (the resource type and the parameter names, which are not PHI), the
 * searched name values (for detection to turn into matching tokens, never to store), and the
 * redacted form shown to roles that do not see identified data.
 */

export interface SearchQueryParameter {
  /** The parameter name as sent, modifiers and chains included (`name:exact`, `subject:Patient.name`). */
  name: string;
  /** Its values: one per occurrence, each split at the commas that mean OR in FHIR search. */
  values: string[];
}

export interface ParsedSearchQuery {
  /** The resource type searched (`Patient`), read from the last resource-type path segment. */
  resourceType?: string;
  parameters: SearchQueryParameter[];
  /** False for text that is not a FHIR search URL (then only the resource type, if any, is known). */
  urlShaped: boolean;
}

/** Shown instead of any value (and of text that is not URL-shaped) to roles without identified access. */
export const REDACTED = '*';
const REDACTED_TEXT = '[redacted search]';
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
/** Path segments that say how a search was made, never whom it was about (FHIR, DICOMweb QIDO-RS levels). */
const SEARCH_PATH_WORDS = /^(_search|_history|\$[a-z][A-Za-z-]{0,63}|patients|studies|series|instances|workitems|mwlitems)$/;
/** A QIDO-RS level with its query string glued on without `?` (dcm4chee-arc's Query audit message does that). */
const QIDO_GLUED = /^(.*\/(?:patients|studies|series|instances|workitems|mwlitems))([A-Za-z0-9_.]+=.*)$/;
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;
/**
 * Search parameters that search by a person's name: FHIR (any part, the family or the given name)
 * and DICOM QIDO-RS (PatientName by keyword or tag).
 */
const NAME_PARAMETERS = new Set(['name', 'family', 'given', 'phonetic', 'PatientName', '00100010']);
const MAX_PARAMETERS = 64;
const MAX_NAME_VALUES = 16;

function decode(component: string): string {
  try {
    return decodeURIComponent(component.replace(/\+/g, ' '));
  } catch {
    return component;
  }
}

/** The path and query string of a search (request line, absolute URL and fragment removed). */
function splitSearch(text: string): { path: string; query: string | undefined } {
  // A request line (`GET <url> HTTP/1.1`) or the URL alone; plain-text searches may hold raw spaces.
  const first = text.trim().split(/[\r\n]/, 1)[0] ?? '';
  const line = first.replace(/^[A-Z]{3,7}\s+/, '').replace(/\s+HTTP\/\d(\.\d)?$/, '');
  const noFragment = line.split('#', 1)[0];
  const q = noFragment.indexOf('?');
  const path = (q < 0 ? noFragment : noFragment.slice(0, q)).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  if (q < 0) {
    const glued = QIDO_GLUED.exec(path);
    if (glued) return { path: glued[1], query: glued[2] };
  }
  return { path, query: q < 0 ? undefined : noFragment.slice(q + 1) };
}

/** What a recorded search string searched. Never throws; bounded work for any input. */
export function parseSearchQuery(text: string): ParsedSearchQuery {
  const { path, query } = splitSearch(text.slice(0, 8192));
  const segments = path.split('/').filter((s) => s.length > 0);
  let resourceType: string | undefined;
  for (let i = segments.length - 1; i >= 0; i--) {
    if (RESOURCE_TYPE.test(segments[i])) {
      resourceType = segments[i];
      break;
    }
  }
  const qido = segments.some((s) => /^(patients|studies|series|instances|workitems|mwlitems)$/.test(s));
  const urlShaped = (resourceType !== undefined || qido) && segments.every((s) => RESOURCE_TYPE.test(s) || SEARCH_PATH_WORDS.test(s) || /^[A-Za-z0-9.-]{1,64}$/.test(s));
  const parameters: SearchQueryParameter[] = [];
  if (urlShaped && query !== undefined && query.length > 0) {
    for (const pair of query.split('&').slice(0, MAX_PARAMETERS)) {
      if (pair.length === 0) continue;
      const eq = pair.indexOf('=');
      const name = decode(eq < 0 ? pair : pair.slice(0, eq));
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      // Commas separate OR-ed values; an escaped comma (\,) stays inside its value.
      const values = value
        .split(/(?<!\\),/)
        .map((v) => decode(v).replace(/\\,/g, ','))
        .filter((v) => v.length > 0);
      parameters.push({ name, values });
    }
  }
  if (!urlShaped) parameters.push(...hl7v2QueryParameters(text.slice(0, 8192)));
  return { ...(resourceType ? { resourceType } : {}), parameters, urlShaped };
}

/** HL7 v2 PID fields of a PDQ query that hold a person's name, as the FHIR parameter of the same meaning. */
const HL7_NAME_FIELDS: Record<string, string> = { 'PID.5': 'family', 'PID.5.1': 'family', 'PID.5.1.1': 'family', 'PID.5.2': 'given' };

/**
 * The query parameters of an HL7 v2 query message (IHE PDQ ITI-21/22 QBP^Q22, as ATNA emitters put
 * it in ParticipantObjectQuery): QPD-3 holds `@<field>^<value>` pairs separated by `~`
 * (`@PID.5.1.1^SMITH~@PID.7^19640212`). Name fields are named as the FHIR parameters (`family`,
 * `given`) so the same rules read them; others keep their field name.
 */
function hl7v2QueryParameters(text: string): SearchQueryParameter[] {
  const qpd = text.split(/[\r\n]+/).find((segment) => segment.startsWith('QPD|'));
  if (!qpd) return [];
  const out: SearchQueryParameter[] = [];
  for (const pair of (qpd.split('|')[3] ?? '').split('~').slice(0, MAX_PARAMETERS)) {
    const m = /^@([A-Z0-9]{2,3}(?:\.\d{1,3}){1,4})\^(.+)$/.exec(pair);
    if (!m) continue;
    out.push({ name: HL7_NAME_FIELDS[m[1]] ?? m[1].replace(/\./g, '-'), values: [m[2].replace(/\^/g, ' ').trim()].filter((v) => v.length > 0) });
  }
  return out;
}

/** A parameter's base name: chain and modifier dropped (`subject:Patient.name:exact` -> `name`). */
function baseName(name: string): string {
  const chained = name.split('.');
  return chained[chained.length - 1].split(':', 1)[0];
}

/**
 * The person names a search looked for (`name`, `family`, `given`, `phonetic`, also chained as in
 * `subject:Patient.name`): each value, and each word of a value of several words (a name search
 * matches any part of a name). Clear text: callers turn them into matching tokens at once.
 */
export function searchedNames(parsed: ParsedSearchQuery): string[] {
  const out = new Set<string>();
  for (const p of parsed.parameters) {
    if (!NAME_PARAMETERS.has(baseName(p.name))) continue;
    for (const v of p.values) {
      if (out.size >= MAX_NAME_VALUES) break;
      const whole = v.replace(/[*?]+$/, '');
      if (whole.length > 0) out.add(whole);
      // DICOM person names separate components with ^ and may carry wildcards (NGUYEN^VAN*).
      const words = v.split(/[\s,^*?=]+/).filter((w) => w.length > 0);
      if (words.length > 1) for (const w of words) out.add(w);
    }
  }
  return [...out].slice(0, MAX_NAME_VALUES);
}

/** The parameter names of a search, without modifiers or chains (`name`, `birthdate`): not PHI. */
export function searchedParameterNames(parsed: ParsedSearchQuery): string[] {
  return [...new Set(parsed.parameters.map((p) => baseName(p.name)).filter((n) => PARAMETER_NAME.test(n)))];
}

/**
 * The search as a role without identified access sees it: the resource type path and parameter
 * names kept, every value (and every id in the path) replaced by `*`; text that is not a FHIR
 * search URL is replaced whole. `Patient?name=smith&birthdate=1961` -> `Patient?name=*&birthdate=*`.
 */
export function redactSearchQuery(text: string): string {
  const parsed = parseSearchQuery(text);
  if (!parsed.urlShaped) return REDACTED_TEXT;
  const { path } = splitSearch(text.slice(0, 8192));
  const segments = path
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => (RESOURCE_TYPE.test(s) || SEARCH_PATH_WORDS.test(s) ? s : REDACTED));
  // A name without a value may be a value sent bare (`Patient?smith`): redacted too.
  const names = parsed.parameters.map((p) => `${PARAMETER_NAME.test(p.name) && p.values.length > 0 ? p.name : REDACTED}=${REDACTED}`);
  return segments.join('/') + (names.length > 0 ? `?${names.join('&')}` : '');
}
