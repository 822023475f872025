/**
 * Validates posted events against the canonical schema (compiled once with ajv) and turns the
 * verdict into field errors that name the path but never echo the submitted value, nor a key the
 * client chose (an unknown field's name, a `details` key): those are named by position instead.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ACCESS_EVENT_SCHEMA } from './access-event.schema';
import { AccessEvent } from './access-event';
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
    addFormats(ajv, ['date-time', 'uuid', 'ipv4', 'ipv6']);
    this.validateOne = ajv.compile<AccessEvent>(ACCESS_EVENT_SCHEMA);
  }

  /** Errors for one event, or an empty list when it is valid. */
  errorsFor(candidate: unknown, index?: number): FieldError[] {
    if (this.validateOne(candidate)) {
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

/** The format check accepts RFC 3339 shapes; this also refuses impossible dates and far futures. */
function checkTimestamp(value: string): string | null {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return 'must be a valid RFC 3339 timestamp';
  const year = new Date(ms).getUTCFullYear();
  if (year < 1970 || year > 9999) return 'must be a timestamp between 1970 and 9999';
  return null;
}
