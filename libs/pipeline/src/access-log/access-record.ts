/**
 * How a read of the audit data becomes an access-log record: a canonical access event (category
 * `administrative`, source `audit-siem`, actor = the principal) appended to its own chain
 * (ACCESS_LOG_CHAIN), so the chain writer, verification and checkpoints treat it like any other.
 * What was asked goes in `details` (`route`, `via`, `filter.<name>`, `reason`); the patient a read
 * was about goes in `patient.id` (sealed at rest, shown as a token), and only its token in details.
 * A refused request (401/403) is recorded with outcome `denied`, its reason code in `reason`, and
 * `denied.<field>` details (kind, status, scope wanted, certificate subject, count of refusals it stands for).
 *
 * Pure: no I/O; the service appends what `buildAccessRecord` returns.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { ACCESS_LOG_SOURCE_SYSTEM, AccessEvent, EventOutcome } from '@app/core';

export interface AccessRecordInput {
  /** What was done, dot-separated and stable: `events.query`, `events.read`, `patient.reidentify`, ... */
  action: string;
  /** Who: a principal, or for a refusal whoever the credential named (role unknown), or an OS user (`via: cli`). */
  principal: { sub: string; role?: string; via?: string } | undefined;
  /** `GET /v1/events/:id`: the route pattern, never the URL with its query string. */
  route?: string;
  /** Query and path parameters (or a feature's target description): flat scalars. */
  filters?: Record<string, unknown>;
  /** The patient the read was about, as an id (kept sealed) ... */
  patientId?: string;
  /** ... and its token (the only form written in clear). */
  patientToken?: string;
  /** What kind of thing was read (`AuditEvent`, `Alert`, `Report`, ...) and which one. */
  resource?: { type: string; id?: string };
  /** Records (events, alerts, entries) returned; 0 on failure; undefined when not known (a report recorded before it streams). */
  recordCount?: number;
  outcome: EventOutcome;
  /** Why (re-identification requires one). */
  reason?: string;
  /** Remote address of the caller. */
  ip?: string;
  /** For a refused request: what was refused and how many refusals this record stands for. */
  denial?: AccessDenialDetails;
  at?: Date;
}

/** What an access-log record says about refused requests (`denied.<field>` in details). */
export interface AccessDenialDetails {
  /** The guard's kind of refusal: unauthenticated, token-rejected, certificate-rejected, forbidden, ... */
  kind: string;
  status: number;
  /** The scope(s) the route wanted, space-separated. */
  scope?: string;
  /** Subject DN of a refused client certificate. */
  clientSubject?: string;
  /** Refusals this record stands for: 1 for the first of a window, the rest of the window in its follow-up. */
  count: number;
  /** For a follow-up: first and last refusal it counts (RFC 3339). */
  since?: string;
  until?: string;
}

const DENIAL_FIELDS = ['kind', 'status', 'scope', 'clientSubject', 'count', 'since', 'until'] as const;

const MAX_FILTERS = 24;
const MAX_TEXT = 256;
const DETAIL_KEY = /[^A-Za-z0-9_.-]/g;

function text(value: string, max = MAX_TEXT): string {
  return value.length > max ? value.slice(0, max) : value;
}

/** A details value: strings bounded, numbers and booleans as they are, anything else as text. */
function scalar(value: unknown): string | number | boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (Array.isArray(value)) return text(value.map((v) => String(v)).join(','));
  if (typeof value === 'object') return text(JSON.stringify(value));
  return text(String(value));
}

function normalizeIp(ip: string | undefined): string | undefined {
  if (!ip) return undefined;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const candidate = v4 ? v4[1] : ip;
  return isIP(candidate) !== 0 && candidate.length <= 64 ? candidate : undefined;
}

/** The canonical event recording one access (valid against the canonical schema by construction). */
export function buildAccessRecord(input: AccessRecordInput): AccessEvent {
  const details: Record<string, string | number | boolean> = {};
  if (input.route) details.route = text(input.route);
  if (input.principal?.via) details.via = text(input.principal.via, 32);
  let n = 0;
  for (const [rawKey, rawValue] of Object.entries(input.filters ?? {})) {
    if (n >= MAX_FILTERS) break;
    const key = `filter.${rawKey.replace(DETAIL_KEY, '_').slice(0, 56)}`;
    // Patient identifiers never go into details: the caller passes them as patientId/patientToken.
    if (rawKey === 'patient') continue;
    // An IP searched for is sealed at rest everywhere else: the log says an IP filter was used, not which.
    const value = rawKey === 'ip' && rawValue !== undefined ? '[ip]' : scalar(rawValue);
    if (value === undefined || key === 'filter.') continue;
    details[key] = value;
    n++;
  }
  if (input.patientToken) details['filter.patient'] = input.patientToken;
  if (input.reason !== undefined) details.reason = text(input.reason);
  if (input.denial) {
    for (const field of DENIAL_FIELDS) {
      const value = input.denial[field];
      if (value !== undefined) details[`denied.${field}`] = typeof value === 'number' ? value : text(value);
    }
  }
  const ip = normalizeIp(input.ip);
  const principal = input.principal;
  const event: AccessEvent = {
    id: randomUUID(),
    occurredAt: (input.at ?? new Date()).toISOString(),
    category: 'administrative',
    action: input.action,
    outcome: input.outcome,
    actor: {
      id: text(principal?.sub || 'anonymous'),
      type: principal?.role === 'integration' ? 'service' : 'user',
      ...(principal?.role ? { role: text(principal.role, 128) } : {}),
      ...(ip ? { ip } : {}),
    },
    source: { system: ACCESS_LOG_SOURCE_SYSTEM },
    ...(input.recordCount !== undefined ? { recordCount: Math.max(0, Math.min(1_000_000_000, Math.floor(input.recordCount) || 0)) } : {}),
    resource: input.resource ? { type: text(input.resource.type, 128), ...(input.resource.id ? { id: text(input.resource.id) } : {}) } : { type: 'AuditData' },
  };
  if (input.patientId) event.patient = { id: text(input.patientId) };
  if (Object.keys(details).length > 0) event.details = details;
  return event;
}

/** Records a response carries: list lengths for list answers, 1 for a single object, 0 for none. */
export function countRecords(result: unknown): number {
  if (result === undefined || result === null) return 0;
  if (Array.isArray(result)) return result.length;
  if (typeof result === 'object') {
    for (const key of ['events', 'alerts', 'entries', 'records', 'items', 'rows', 'checkpoints', 'holds', 'rules']) {
      const v = (result as Record<string, unknown>)[key];
      if (Array.isArray(v)) return v.length;
    }
  }
  return 1;
}
