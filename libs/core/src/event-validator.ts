/**
 * Validates posted events against the canonical schema (compiled once with ajv) and turns the
 * verdict into field errors that name the path but never echo the submitted value, nor a key the
 * client chose (an unknown field's name, a `details` key): those are named by position instead.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats';
import { ACCESS_EVENT_SCHEMA } from './access-event.schema';
import { AccessEvent, ACTOR_TYPES, EVENT_CATEGORIES, EVENT_OUTCOMES } from './access-event';
import { FieldError, Problems } from './problem';
import { ordinal, unknownMemberErrors, unknownMemberMessage } from './unknown-members';

const EVENT_DETAIL = 'The request does not match the canonical access event.';

const MAX_ERRORS_PER_EVENT = 10;
const MAX_ERRORS_TOTAL = 100;

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

function unescapePointerToken(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * Where an ajv instance path may be shown: the longest prefix made of schema field names and array
 * indices. A token below it is the client's own key (an unknown field, a `details` key), which may
 * be PHI; it is replaced by its 1-based position among its parent's members.
 */
interface Location {
  pointer: string;
  /** Schema node at `pointer` (its `properties` are the names allowed there). */
  node: SchemaNode | undefined;
  /** Value at `pointer` in the submitted event. */
  value: unknown;
  /** Position of the client-named member the path continued into, if it did. */
  memberPosition?: number;
}

function locate(instancePath: string, candidate: unknown): Location {
  let node: SchemaNode | undefined = ACCESS_EVENT_SCHEMA as unknown as SchemaNode;
  let value = candidate;
  let pointer = '';
  const tokens = instancePath === '' ? [] : instancePath.slice(1).split('/').map(unescapePointerToken);
  for (const token of tokens) {
    const container = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
    if (node?.properties && Object.prototype.hasOwnProperty.call(node.properties, token)) node = node.properties[token];
    else if (node?.items && Array.isArray(container) && /^\d+$/.test(token)) node = node.items;
    else {
      const position = container && !Array.isArray(container) ? Object.keys(container).indexOf(token) + 1 : 0;
      return { pointer, node, value, memberPosition: position > 0 ? position : undefined };
    }
    pointer += `/${token}`;
    value = container?.[token];
  }
  return { pointer, node, value };
}

function positionOf(value: unknown, key: string): number {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.keys(value).indexOf(key) + 1 : 0;
}

function describe(error: ErrorObject, candidate: unknown): { pointer: string; message: string } {
  const at = locate(error.instancePath || '', candidate);
  switch (error.keyword) {
    case 'additionalProperties': {
      // The unknown field's name is the client's own key (possibly PHI): point at the parent and say
      // which names are allowed there and where the unknown one sits, never its name.
      const name = String((error.params as { additionalProperty: string }).additionalProperty);
      const allowed = at.memberPosition === undefined ? Object.keys(at.node?.properties ?? {}) : [];
      return { pointer: at.pointer, message: unknownMemberMessage(positionOf(at.value, name), allowed) };
    }
    case 'required': {
      const name = String((error.params as { missingProperty: string }).missingProperty);
      return { pointer: `${at.pointer}/${name}`, message: 'required field is missing' };
    }
    case 'propertyNames':
      return { pointer: at.pointer, message: 'details keys must be short identifiers' };
    default: {
      const message = error.keyword === 'anyOf' && error.schemaPath.includes('/details/') ? 'must be a string (at most 256 characters), a number or a boolean' : (error.message ?? 'invalid');
      return at.memberPosition === undefined ? { pointer: at.pointer, message } : { pointer: at.pointer, message: `the ${ordinal(at.memberPosition)} member of this object ${message}` };
    }
  }
}

export class EventValidator {
  private readonly validateOne: ValidateFunction<AccessEvent>;

  constructor() {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    addFormats(ajv, ['uuid', 'ipv4', 'ipv6']);
    ajv.addFormat('date-time', { ...RFC3339_FORMAT, validate: isRfc3339DateTime });
    this.validateOne = ajv.compile<AccessEvent>(ACCESS_EVENT_SCHEMA);
  }

  /** Errors for one event, or an empty list when it is valid. */
  errorsFor(candidate: unknown, index?: number): FieldError[] {
    // The usual valid event is recognized by `isPlainValidEvent`; anything it does not vouch for
    // (every invalid event among them) is judged, and its errors written, by ajv as before.
    if (isPlainValidEvent(candidate) || this.validateOne(candidate)) {
      const dateError = checkTimestamp((candidate as AccessEvent).occurredAt);
      return dateError ? [{ ...(index === undefined ? {} : { index }), pointer: '/occurredAt', message: dateError }] : [];
    }
    const seen = new Set<string>();
    const out: FieldError[] = [];
    for (const error of this.validateOne.errors ?? []) {
      // anyOf produces one error per branch plus a summary; keep the summary only.
      if (error.schemaPath.includes('/anyOf/')) continue;
      const { pointer, message } = describe(error, candidate);
      const key = `${pointer}|${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(index === undefined ? { pointer, message } : { index, pointer, message });
      if (out.length >= MAX_ERRORS_PER_EVENT) break;
    }
    return out;
  }

  /**
   * Validates a request body that is one event or `{ events: [...] }`. Returns the events when all
   * are valid; throws a 400 problem naming every bad index and field otherwise (all-or-nothing).
   */
  parseBody(body: unknown, maxEvents: number): AccessEvent[] {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw Problems.validation([{ pointer: '', message: 'body must be a JSON object: one event, or { "events": [...] }' }], EVENT_DETAIL);
    }
    const record = body as Record<string, unknown>;
    if ('events' in record) {
      const extra = unknownMemberErrors(Object.keys(record), ['events'], '');
      if (extra.length > 0) throw Problems.validation(extra, `${EVENT_DETAIL} A batch holds only "events".`);
      const events = record.events;
      if (!Array.isArray(events)) throw Problems.validation([{ pointer: '/events', message: 'must be an array of events' }], EVENT_DETAIL);
      if (events.length === 0) throw Problems.validation([{ pointer: '/events', message: 'must hold at least one event' }], EVENT_DETAIL);
      if (events.length > maxEvents) {
        throw Problems.tooLarge(`A batch holds at most ${maxEvents} events; split it into several requests.`);
      }
      const errors: FieldError[] = [];
      for (let i = 0; i < events.length && errors.length < MAX_ERRORS_TOTAL; i++) {
        for (const e of this.errorsFor(events[i], i)) errors.push({ ...e, pointer: `/events/${i}${e.pointer}` });
      }
      if (errors.length > 0) {
        throw Problems.validation(errors.slice(0, MAX_ERRORS_TOTAL), 'The batch was rejected as a whole; nothing was stored. Fix the events named in errors and resend.');
      }
      return events as AccessEvent[];
    }
    const errors = this.errorsFor(body);
    if (errors.length > 0) throw Problems.validation(errors, 'The event was rejected; nothing was stored.');
    return [body as AccessEvent];
  }
}

/** 10000-01-01T00:00:00Z: the first instant whose UTC year is past 9999. */
const YEAR_10000_MS = Date.UTC(10000, 0, 1);

/** The format check accepts RFC 3339 shapes; this also refuses impossible dates and far futures. */
function checkTimestamp(value: string): string | null {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return 'must be a valid RFC 3339 timestamp';
  // The UTC year is 1970..9999 exactly when 0 <= ms < 10000-01-01 (no Date made for it).
  if (ms < 0 || ms >= YEAR_10000_MS) return 'must be a timestamp between 1970 and 9999';
  return null;
}

/** ajv-formats' `date-time` (full mode: RFC 3339 with a time zone; leap seconds; day of month by year). */
const RFC3339_FORMAT = fullFormats['date-time'] as { validate: (value: string) => boolean; compare?: (a: string, b: string) => number | undefined };
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digitsAt(s: string, at: number): number {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The `date-time` format check of every posted event. ajv-formats splits the text and runs two
 * regular expressions (about 2 % of the event loop under `npm run bench`); this answers the form
 * integrations send, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with a valid date and a time before 23:59:60,
 * with character tests, and hands every other text (offsets, lower-case or space separators, leap
 * seconds, anything malformed) to ajv-formats' own check. It says true only where that check says
 * true, so what is accepted and refused, and every error, stays the same (event-validator.spec).
 */
export function isRfc3339DateTime(s: string): boolean {
  const n = s.length;
  if (n >= 20 && n <= 64) {
    const last = s.charCodeAt(n - 1);
    const sep = s.charCodeAt(10);
    if (
      (last === 90 || last === 122) && // Z z
      (sep === 84 || sep === 116) && // T t
      s.charCodeAt(4) === 45 &&
      s.charCodeAt(7) === 45 &&
      s.charCodeAt(13) === 58 &&
      s.charCodeAt(16) === 58
    ) {
      const hi = digitsAt(s, 0);
      const lo = digitsAt(s, 2);
      const month = digitsAt(s, 5);
      const day = digitsAt(s, 8);
      const hour = digitsAt(s, 11);
      const minute = digitsAt(s, 14);
      const second = digitsAt(s, 17);
      let fraction = n === 20;
      if (!fraction && s.charCodeAt(19) === 46 && n > 21) {
        fraction = true;
        for (let i = 20; i < n - 1; i++) {
          const c = s.charCodeAt(i);
          if (c < 48 || c > 57) {
            fraction = false;
            break;
          }
        }
      }
      if (fraction && hi >= 0 && lo >= 0 && month >= 1 && month <= 12 && day >= 1 && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59) {
        const year = hi * 100 + lo;
        const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
        if (day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month])) return true;
      }
    }
  }
  return RFC3339_FORMAT.validate(s);
}

/*
 * A fast path for the usual valid event. ajv's generated code is most of validation's cost on the
 * event loop (~1 µs an event under `npm run bench`: a length in code points for every bounded
 * string, the format expressions, error bookkeeping). `isPlainValidEvent` checks the schema
 * (access-event.schema.ts) by hand and says true only when ajv would: every field's type, enum,
 * pattern and format as ajv checks them (the same expressions from ajv-formats, `isRfc3339DateTime`),
 * lengths bounded by UTF-16 length (a string within its bound in code units is within it in code
 * points, and one code unit is at least one code point; a longer string is left to ajv), members
 * by a `for ... in` over the object as ajv's additionalProperties does. When it says false, ajv
 * decides (and writes the errors), so a gap here costs time, never a different answer.
 * event-validator.spec compares it with ajv on valid and broken events.
 * Keep it in step with ACCESS_EVENT_SCHEMA: a field added there and not here is simply never on
 * the fast path (an unknown member makes it say false).
 */
const UUID_FORMAT = fullFormats.uuid as RegExp;
const IPV4_FORMAT = fullFormats.ipv4 as RegExp;
const IPV6_FORMAT = fullFormats.ipv6 as RegExp;
/** `token` of the schema (ajv compiles patterns with the `u` flag). */
const TOKEN_PATTERN = new RegExp('^[A-Za-z0-9][A-Za-z0-9_.:/-]*$', 'u');
const DETAILS_KEY_PATTERN = new RegExp('^[A-Za-z][A-Za-z0-9_.-]*$', 'u');

function text(v: unknown, min: number, max: number): boolean {
  return typeof v === 'string' && v.length >= min && v.length <= max;
}

function token(v: unknown): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= 64 && TOKEN_PATTERN.test(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function actorOk(a: unknown): boolean {
  if (!isObject(a)) return false;
  for (const key in a) {
    const v = a[key];
    switch (key) {
      case 'id':
        if (!text(v, 1, 256)) return false;
        break;
      case 'type':
        if (v !== ACTOR_TYPES[0] && v !== ACTOR_TYPES[1]) return false;
        break;
      case 'role':
        if (!text(v, 1, 128)) return false;
        break;
      case 'ip':
        if (!text(v, 0, 64) || !(IPV4_FORMAT.test(v as string) || IPV6_FORMAT.test(v as string))) return false;
        break;
      case 'userAgent':
        if (!text(v, 1, 512)) return false;
        break;
      default:
        return false;
    }
  }
  return a.id !== undefined && a.type !== undefined;
}

function sensitivityOk(v: unknown): boolean {
  if (!Array.isArray(v) || v.length > 16) return false;
  for (let i = 0; i < v.length; i++) {
    if (!token(v[i])) return false;
    for (let j = 0; j < i; j++) if (v[j] === v[i]) return false;
  }
  return true;
}

function detailsOk(d: unknown): boolean {
  if (!isObject(d)) return false;
  let n = 0;
  for (const key in d) {
    if (++n > 32) return false;
    if (key.length < 1 || key.length > 64 || !DETAILS_KEY_PATTERN.test(key)) return false;
    const v = d[key];
    if (typeof v === 'string') {
      if (v.length > 256) return false;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return false;
    } else if (typeof v !== 'boolean') return false;
  }
  return true;
}

/** True only for an event ajv accepts (see above); false: ask ajv. */
export function isPlainValidEvent(candidate: unknown): boolean {
  if (!isObject(candidate)) return false;
  const e = candidate;
  for (const key in e) {
    const v = e[key];
    switch (key) {
      case 'id':
        if (typeof v !== 'string' || !UUID_FORMAT.test(v)) return false;
        break;
      case 'occurredAt':
        if (!text(v, 0, 64) || !isRfc3339DateTime(v as string)) return false;
        break;
      case 'category':
        if (typeof v !== 'string' || !(EVENT_CATEGORIES as readonly string[]).includes(v)) return false;
        break;
      case 'action':
      case 'purpose':
        if (!token(v)) return false;
        break;
      case 'outcome':
        if (typeof v !== 'string' || !(EVENT_OUTCOMES as readonly string[]).includes(v)) return false;
        break;
      case 'actor':
        if (!actorOk(v)) return false;
        break;
      case 'patient': {
        if (!isObject(v)) return false;
        for (const k in v) if (k !== 'id') return false;
        if (!text(v.id, 1, 256)) return false;
        break;
      }
      case 'resource': {
        if (!isObject(v)) return false;
        for (const k in v) if (k !== 'type' && k !== 'id') return false;
        if (!text(v.type, 1, 128)) return false;
        if (v.id !== undefined && !text(v.id, 1, 256)) return false;
        break;
      }
      case 'query': {
        if (!isObject(v)) return false;
        for (const k in v) if (k !== 'text') return false;
        if (!text(v.text, 1, 4096)) return false;
        break;
      }
      case 'source': {
        if (!isObject(v)) return false;
        for (const k in v) if (k !== 'system' && k !== 'integration') return false;
        if (!text(v.system, 1, 128)) return false;
        if (v.integration !== undefined && !text(v.integration, 1, 128)) return false;
        break;
      }
      case 'recordCount':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 1_000_000_000) return false;
        break;
      case 'tls': {
        if (!isObject(v)) return false;
        for (const k in v) if (k !== 'clientSubject' && k !== 'result' && k !== 'reason') return false;
        if (v.result !== 'success' && v.result !== 'failure') return false;
        if (v.clientSubject !== undefined && !text(v.clientSubject, 1, 512)) return false;
        if (v.reason !== undefined && !text(v.reason, 1, 256)) return false;
        break;
      }
      case 'sensitivity':
        if (!sensitivityOk(v)) return false;
        break;
      case 'details':
        if (!detailsOk(v)) return false;
        break;
      default:
        return false;
    }
  }
  return e.id !== undefined && e.occurredAt !== undefined && e.category !== undefined && e.action !== undefined && e.outcome !== undefined && e.actor !== undefined && e.source !== undefined;
}
