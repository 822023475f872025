/**
 * Validates posted events against the canonical schema (compiled once with ajv) and turns the
 * verdict into field errors that name the path but never echo the submitted value.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ACCESS_EVENT_SCHEMA } from './access-event.schema';
import { AccessEvent } from './access-event';
import { FieldError, Problems } from './problem';

const MAX_ERRORS_PER_EVENT = 10;
const MAX_ERRORS_TOTAL = 100;

function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function describe(error: ErrorObject): { pointer: string; message: string } {
  let pointer = error.instancePath || '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String((error.params as { additionalProperty: string }).additionalProperty);
      // The unknown field's name is the client's own key, not a value, but keep it bounded.
      return { pointer: `${pointer}/${escapePointerToken(name.slice(0, 64))}`, message: 'unknown field (not part of the canonical event)' };
    }
    case 'required': {
      const name = String((error.params as { missingProperty: string }).missingProperty);
      return { pointer: `${pointer}/${name}`, message: 'required field is missing' };
    }
    case 'propertyNames':
      return { pointer, message: 'details keys must be short identifiers' };
    default:
      if (pointer === '') pointer = '';
      return { pointer, message: error.message ?? 'invalid' };
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
      const { pointer, message } = describe(error);
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
      throw Problems.validation([{ pointer: '', message: 'body must be a JSON object: one event, or { "events": [...] }' }]);
    }
    const record = body as Record<string, unknown>;
    if ('events' in record) {
      const extra = Object.keys(record).filter((k) => k !== 'events');
      if (extra.length > 0) {
        throw Problems.validation(extra.slice(0, 10).map((k) => ({ pointer: `/${escapePointerToken(k.slice(0, 64))}`, message: 'unknown field (a batch holds only "events")' })));
      }
      const events = record.events;
      if (!Array.isArray(events)) throw Problems.validation([{ pointer: '/events', message: 'must be an array of events' }]);
      if (events.length === 0) throw Problems.validation([{ pointer: '/events', message: 'must hold at least one event' }]);
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
