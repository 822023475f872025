/**
 * Query use case: turns the CONTRACT's query parameters into a store query with cursor
 * pagination, and shapes stored records for the API (the event with its receipt), as the caller
 * may see them: patient ids become tokens without `events:identified` (PatientIdentifiers), and a
 * `patient` filter may be given as a token. The access log's own records are never returned here.
 * Integrity: every returned record is re-checked by the store against its derived columns, and
 * while the continuous verification knows a break, searches are refused (IntegrityBrokenError).
 */
import { isIP } from 'node:net';
import { ACCESS_LOG_CHAIN, AccessEvent, canonicalEventId, EVENT_CATEGORIES, EVENT_OUTCOMES, FieldError, matchEnum, parseQueryTime, ProblemError, Problems, QUERY_TIME_FORMS, queryParamReader, Receipt, unknownMemberErrors } from '@app/core';
import { canSeePatientIds, isPatientToken, type PatientIdentifiers, type Principal } from '@app/security';
import { EventPage, EventQuery, EventStore, IntegrityBrokenError, StoredRecord } from '@app/storage';
import { ClockFlag, ClockPolicy, clockSkewOf } from './clock-quality';

export interface EventView {
  event: AccessEvent;
  receivedAt: string;
  receipt: Receipt;
  /** `clock-ahead` / `clock-behind`: occurredAt was that far off the receive time (EVENT_MAX_FUTURE_SECONDS / EVENT_MAX_PAST_SECONDS). */
  flags?: ClockFlag[];
}

export interface EventListView {
  events: EventView[];
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

const FILTER_KEYS = ['patient', 'actor', 'action', 'outcome', 'category', 'ip', 'integration', 'from', 'to', 'limit', 'cursor'] as const;

/**
 * `ip` and `integration` are checked on the decoded records (the caller's IP is sealed at rest in
 * every store, so no index holds it): a search with them reads the store in chunks of this many
 * records, and examines at most RESIDUAL_SCAN_BUDGET per page. A page that hits the budget comes
 * back short (maybe empty) with a nextCursor where the examination stopped.
 */
const RESIDUAL_CHUNK = 1000;
export const RESIDUAL_SCAN_BUDGET = 20_000;

/** Filters applied to decoded events rather than by the store. */
export interface ResidualEventFilter {
  /** The caller's IP (`actor.ip`), normalized. */
  ip?: string;
  /** `source.integration`. */
  integration?: string;
}

export function matchesResidual(event: AccessEvent, f: ResidualEventFilter): boolean {
  if (f.integration !== undefined && event.source.integration !== f.integration) return false;
  if (f.ip !== undefined && (event.actor.ip === undefined || normalizeIp(event.actor.ip) !== f.ip)) return false;
  return true;
}

/** IPv4-mapped IPv6 as plain IPv4, IPv6 lower-case. */
export function normalizeIp(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return v4 ? v4[1] : ip.toLowerCase();
}

export function toEventView(r: StoredRecord): EventView {
  return { event: r.event, receivedAt: r.receivedAt, receipt: { id: r.event.id, chain: r.chain, seq: r.seq, hash: r.hash.toString('hex') } };
}

/** Who is reading (the view depends on the scopes). */
export type Viewer = Pick<Principal, 'scopes'>;

/** The first break the continuous verification knows of (IntegrityMonitor.knownBreak), or null. */
export type KnownBreak = () => { chain: string; seq: number; kind: string; column?: string } | null;

/** Throws IntegrityBrokenError while a break is known: an index-driven answer may then silently miss records. */
export function refuseWhileBroken(knownBreak?: KnownBreak): void {
  const b = knownBreak?.();
  if (b) throw new IntegrityBrokenError(b.chain, b.seq, b.kind, b.column);
}

export class QueryService {
  constructor(
    private readonly store: EventStore,
    private readonly patients: Pick<PatientIdentifiers, 'presentEvent'>,
    /** While it returns a break, searches are refused (a tampered index column hides records from them). */
    private readonly knownBreak?: KnownBreak,
    /** Events whose time was this far off their receive time read back flagged. */
    private readonly clock?: ClockPolicy,
  ) {}

  async list(params: Record<string, unknown>, viewer: Viewer): Promise<EventListView> {
    const { residual, ...parsed } = parseEventQuery(params);
    refuseWhileBroken(this.knownBreak);
    const q = patientTokenFilter(parsed as EventQuery, this.store, viewer);
    // Stores that index it narrow by integration themselves; the residual check stays exact.
    if (residual?.integration !== undefined) q.integration = residual.integration;
    q.excludeChain = ACCESS_LOG_CHAIN;
    const page = residual ? await residualPage(this.store, q, residual) : await this.store.query(q);
    return {
      events: page.records.map((r) => this.view(r, viewer)),
      nextCursor: page.next ? encodeCursor(page.next) : null,
    };
  }

  async get(id: string, viewer: Viewer): Promise<EventView> {
    const record = await this.store.getById(canonicalEventId(id));
    if (!record || record.chain === ACCESS_LOG_CHAIN) throw Problems.notFound('No event with this id.');
    return this.view(record, viewer);
  }

  private view(r: StoredRecord, viewer: Viewer): EventView {
    const v = toEventView(r);
    v.event = this.patients.presentEvent(viewer, v.event);
    // Derived from the hashed occurredAt and receivedAt: the flag needs nothing stored outside the hash.
    const skew = this.clock ? clockSkewOf(r.event.occurredAt, Date.parse(r.receivedAt), this.clock) : null;
    if (skew) v.flags = [skew === 'ahead' ? 'clock-ahead' : 'clock-behind'];
    return v;
  }
}

/**
 * A `patient` filter given as a token (`ptk_…`) is looked up as a token, where the store can.
 * A viewer who may only see tokens (no `events:identified`) may only filter by token: a lookup by
 * clear id would let them map tokens to ids by guessing (1,000 guessed MRNs in seconds), so it is
 * refused with 403 before the store is asked (docs/security.md, "Token enumeration").
 */
export function patientTokenFilter<Q extends { patient?: string; patientToken?: string }>(q: Q, store: Pick<EventStore, 'patientTokenLookups'>, viewer?: Viewer): Q {
  if (q.patient === undefined) return q;
  if (!isPatientToken(q.patient)) {
    if (viewer && !canSeePatientIds(viewer)) throw clearIdLookupRefused();
    return q;
  }
  if (!store.patientTokenLookups) throw Problems.badRequest('This store cannot search by patient token; ask a compliance officer to re-identify it.', [{ pointer: '/query/patient', message: 'patient tokens are not searchable here' }]);
  q.patientToken = q.patient;
  delete q.patient;
  return q;
}

/** 403 for a clear patient id used as a filter by a role that only sees tokens (the value is not echoed). */
export function clearIdLookupRefused(): ProblemError {
  return new ProblemError(403, 'patient-token-required', 'Forbidden', {
    detail: 'Your role sees patient tokens only, so it may filter by patient token (ptk_…), not by patient id. Ask a compliance officer to look up a patient id.',
    errors: [{ pointer: '/query/patient', message: 'must be a patient token (ptk_…) for this role' }],
  });
}

/**
 * A page of `q` whose records also meet `residual`, read from the store in chunks (see
 * RESIDUAL_SCAN_BUDGET). `next` continues after the last record returned, or after the last one
 * examined when the budget ran out first.
 */
export async function residualPage(store: Pick<EventStore, 'query'>, q: EventQuery, residual: ResidualEventFilter, budget = RESIDUAL_SCAN_BUDGET): Promise<EventPage> {
  const found: StoredRecord[] = [];
  let after = q.after;
  let examined = 0;
  for (;;) {
    const chunk = await store.query({ ...q, limit: RESIDUAL_CHUNK, after });
    for (const r of chunk.records) {
      examined++;
      if (!matchesResidual(r.event, residual)) continue;
      found.push(r);
      if (found.length > q.limit) {
        const last = found[q.limit - 1];
        return { records: found.slice(0, q.limit), next: { occurredMs: Date.parse(last.event.occurredAt), position: last.position } };
      }
    }
    if (!chunk.next) return { records: found, next: null };
    after = chunk.next;
    if (examined >= budget) {
      // Out of budget: hand back what was found, and where to go on from.
      return { records: found, next: after };
    }
  }
}

export function parseEventQuery(params: Record<string, unknown>, nowMs: number = Date.now()): EventQuery & { residual?: ResidualEventFilter } {
  const errors: FieldError[] = [];
  const { str } = queryParamReader(params, errors);
  // An unknown filter's name is client content (possibly a patient id): named by position only.
  errors.push(...unknownMemberErrors(Object.keys(params), FILTER_KEYS, '/query', 'filter'));
  const time = (key: string): number | undefined => {
    const v = str(key);
    if (v === undefined) return undefined;
    const ms = parseQueryTime(v, nowMs);
    if (ms === null) {
      errors.push({ pointer: `/query/${key}`, message: `must be ${QUERY_TIME_FORMS}` });
      return undefined;
    }
    return ms;
  };
  const q: EventQuery = {
    patient: str('patient'),
    actor: str('actor'),
    action: str('action'),
    outcome: str('outcome'),
    category: str('category'),
    fromMs: time('from'),
    toMs: time('to'),
    limit: DEFAULT_PAGE_SIZE,
  };
  // Enum filters are case-insensitive (docs/case-work.md): the vocabulary's own spelling is searched.
  if (q.outcome !== undefined) {
    q.outcome = matchEnum(q.outcome, EVENT_OUTCOMES);
    if (q.outcome === undefined) errors.push({ pointer: '/query/outcome', message: `must be one of ${EVENT_OUTCOMES.join(', ')} (any case)` });
  }
  if (q.category !== undefined) {
    q.category = matchEnum(q.category, EVENT_CATEGORIES);
    if (q.category === undefined) errors.push({ pointer: '/query/category', message: `must be one of ${EVENT_CATEGORIES.join(', ')} (any case)` });
  }
  // Actions are an open vocabulary: stores compare them case-insensitively.
  const residual: ResidualEventFilter = {};
  const ip = str('ip');
  if (ip !== undefined) {
    if (isIP(ip) === 0) errors.push({ pointer: '/query/ip', message: 'must be an IPv4 or IPv6 address' });
    else residual.ip = normalizeIp(ip);
  }
  const integration = str('integration');
  if (integration !== undefined) {
    if (integration.length > 128) errors.push({ pointer: '/query/integration', message: 'must be an integration name (at most 128 characters)' });
    else residual.integration = integration;
  }
  const limit = str('limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) errors.push({ pointer: '/query/limit', message: `must be an integer from 1 to ${MAX_PAGE_SIZE}` });
    else q.limit = n;
  }
  const cursor = str('cursor');
  if (cursor !== undefined) {
    const after = decodeCursor(cursor);
    if (!after) errors.push({ pointer: '/query/cursor', message: 'is not a cursor this service issued' });
    else q.after = after;
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The query parameters are invalid.');
  return residual.ip !== undefined || residual.integration !== undefined ? { ...q, residual } : q;
}

export function encodeCursor(c: { occurredMs: number; position: number }): string {
  return Buffer.from(`v1:${c.occurredMs}:${c.position}`).toString('base64url');
}

export function decodeCursor(s: string): { occurredMs: number; position: number } | null {
  const m = /^v1:(-?\d{1,16}):(\d{1,16})$/.exec(Buffer.from(s, 'base64url').toString('utf8'));
  if (!m) return null;
  return { occurredMs: Number(m[1]), position: Number(m[2]) };
}
