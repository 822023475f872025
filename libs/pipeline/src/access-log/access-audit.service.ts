/**
 * The access log: records every read of the audit data (queries, event views, proofs, exports,
 * reports, alert views, re-identifications) in its own hash chain, durably, before the caller may
 * answer; and reads it back for auditors and admins (`GET /v1/access-log`).
 *
 * Controllers opt in with `@AuditAccess('…')` (the interceptor calls `recordAccess`), or call
 * `recordAccess` themselves where they stream their answer. Features built on the core
 * `AccessAuditSink` hook (legal holds, reports) reach the same chain through `record`.
 */
import { ACCESS_LOG_CHAIN, AccessAuditEntry, AccessAuditSink, AccessEvent, EventValidator, Problems, Receipt, unknownMemberErrors } from '@app/core';
import { canonicalize } from '@app/ledger';
import type { PatientIdentifiers, Principal } from '@app/security';
import { EventStore, StoredRecord } from '@app/storage';
import { ChainWriter } from '../chain-writer';
import { encodeCursor, parseEventQuery, patientTokenFilter, Viewer } from '../query.service';
import { AccessRecordInput, buildAccessRecord } from './access-record';

/** One access-log entry as auditors see it. */
export interface AccessLogEntryView {
  id: string;
  at: string;
  receivedAt: string;
  action: string;
  outcome: string;
  principal: { sub: string; role?: string; via?: string };
  /** Remote address of the caller (sealed at rest like every actor.ip; absent for the command line). */
  ip?: string;
  route?: string;
  filters: Record<string, string | number | boolean>;
  /** The patient the read was about: its token unless the reader holds events:identified. */
  patient?: string;
  resource?: { type: string; id?: string };
  /** Null when not known when recorded (a report is recorded before it streams). */
  recordCount: number | null;
  reason?: string;
  /** Refused requests (outcome `denied`, action `access.denied`): kind, status, scope wanted, how many refusals. */
  denial?: Record<string, string | number | boolean>;
  receipt: Receipt;
}

export interface AccessLogListView {
  entries: AccessLogEntryView[];
  nextCursor: string | null;
}

const ACCESS_LOG_FILTERS = ['actor', 'action', 'outcome', 'patient', 'from', 'to', 'limit', 'cursor'];

export class AccessAuditService implements AccessAuditSink {
  private readonly validator = new EventValidator();

  constructor(
    private readonly writer: Pick<ChainWriter, 'submit'>,
    private readonly store: EventStore,
    private readonly patients: Pick<PatientIdentifiers, 'token' | 'isToken' | 'presentPatientId'>,
  ) {}

  /**
   * Appends one access record and resolves once it is durable. Rejects with a 503 problem when it
   * cannot be recorded: the caller must then not answer with the data.
   */
  async recordAccess(input: AccessRecordInput): Promise<Receipt> {
    return (await this.recordAccesses([input]))[0];
  }

  /** recordAccess for several reads in one durable write (e.g. each event an alert's evidence call shows). */
  async recordAccesses(inputs: readonly AccessRecordInput[]): Promise<Receipt[]> {
    if (inputs.length === 0) return [];
    const events = inputs.map((input) => {
      const withToken = { ...input };
      if (input.patientId !== undefined && input.patientToken === undefined) {
        if (this.patients.isToken(input.patientId)) {
          withToken.patientToken = input.patientId;
          delete withToken.patientId;
        } else withToken.patientToken = this.patients.token(input.patientId);
      }
      const event = buildAccessRecord(withToken);
      if (this.validator.errorsFor(event).length > 0) throw Problems.unavailable('The access could not be recorded in the access log.', 1);
      return event;
    });
    try {
      return await this.writer.submit(events.map((event) => ({ event, json: canonicalize(event), chain: ACCESS_LOG_CHAIN })));
    } catch {
      throw Problems.unavailable('The access could not be recorded in the access log; nothing was shown. Retry shortly.', 1);
    }
  }

  /** AccessAuditSink: an action on the audit data reported by a feature (legal holds, reports). */
  async record(entry: AccessAuditEntry): Promise<void> {
    const { patient, ...target } = entry.target ?? {};
    await this.recordAccess({
      action: entry.action,
      principal: entry.actor,
      filters: target,
      patientId: typeof patient === 'string' && patient.length > 0 ? patient : undefined,
      recordCount: typeof target.recordCount === 'number' ? target.recordCount : entry.outcome === 'success' ? undefined : 0,
      outcome: entry.outcome,
      at: Number.isNaN(Date.parse(entry.at)) ? undefined : new Date(entry.at),
    });
  }

  /** `GET /v1/access-log`: newest first; filters actor, action, outcome (`denied`: refused requests), patient (id or token), from, to, limit, cursor. */
  async list(params: Record<string, unknown>, viewer: Viewer): Promise<AccessLogListView> {
    // An unknown filter's name is client content (possibly a patient id): named by position only.
    const unknown = unknownMemberErrors(Object.keys(params), ACCESS_LOG_FILTERS, '/query', 'filter');
    if (unknown.length > 0) throw Problems.validation(unknown, 'The query parameters are invalid.');
    const q = patientTokenFilter(parseEventQuery(params), this.store, viewer);
    q.chain = ACCESS_LOG_CHAIN;
    const page = await this.store.query(q);
    return { entries: page.records.map((r) => this.view(r, viewer)), nextCursor: page.next ? encodeCursor(page.next) : null };
  }

  private view(r: StoredRecord, viewer: Viewer): AccessLogEntryView {
    const e: AccessEvent = r.event;
    const filters: Record<string, string | number | boolean> = {};
    let route: string | undefined;
    let reason: string | undefined;
    let via: string | undefined;
    let denial: Record<string, string | number | boolean> | undefined;
    for (const [k, v] of Object.entries(e.details ?? {})) {
      if (k === 'route') route = String(v);
      else if (k === 'reason') reason = String(v);
      else if (k === 'via') via = String(v);
      else if (k.startsWith('filter.')) filters[k.slice('filter.'.length)] = v;
      else if (k.startsWith('denied.')) (denial ??= {})[k.slice('denied.'.length)] = v;
    }
    const patient = e.patient ? this.patients.presentPatientId(viewer, e.patient.id) : typeof filters.patient === 'string' ? filters.patient : undefined;
    if (e.patient && typeof filters.patient === 'string') filters.patient = patient!;
    return {
      id: e.id,
      at: e.occurredAt,
      receivedAt: r.receivedAt,
      action: e.action,
      outcome: e.outcome,
      principal: { sub: e.actor.id, ...(e.actor.role ? { role: e.actor.role } : {}), ...(via ? { via } : {}) },
      ...(e.actor.ip ? { ip: e.actor.ip } : {}),
      ...(route ? { route } : {}),
      filters,
      ...(patient ? { patient } : {}),
      ...(e.resource ? { resource: e.resource } : {}),
      recordCount: e.recordCount ?? null,
      ...(reason !== undefined ? { reason } : {}),
      ...(denial ? { denial } : {}),
      receipt: { id: e.id, chain: r.chain, seq: r.seq, hash: r.hash.toString('hex') },
    };
  }
}

/** The principal as the access log names it. */
export function accessPrincipal(p: Principal | undefined): AccessRecordInput['principal'] {
  return p ? { sub: p.sub, role: p.role, via: p.via } : undefined;
}
