/**
 * Alert and rule use cases behind the HTTP API (CONTRACT: GET /v1/alerts, GET /v1/alerts/{id},
 * POST /v1/alerts/{id}/acknowledge|resolve, GET /v1/rules): query parameters and bodies checked
 * field by field, the alert returned with its runbook rendered, lifecycle errors mapped to
 * problem+json (404 unknown alert, 409 transition not allowed, 400 bad note). Problem details
 * never echo submitted values.
 */
import * as path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { clearIdLookupRefused } from '@app/pipeline';
import { FieldError, matchEnum, ProblemError, parseQueryTime, Problems, QUERY_TIME_FORMS, queryParamReader, unknownMemberErrors } from '@app/core';
import { DetectionAlert } from '../alert';
import { CaseSummary, summarizeCase } from '../alert-cases';
import {
  ALERT_ACTIONS,
  ALERT_STATUSES,
  AlertAction,
  AlertNotFoundError,
  AlertRecord,
  AlertStatus,
  Disposition,
  DISPOSITIONS,
  InvalidAlertTransitionError,
  MAX_ASSIGNEE_LENGTH,
  MAX_NOTE_LENGTH,
} from '../alert-lifecycle';
import { ALERT_STORE, AlertFilter, AlertStore, decodeAlertCursor } from '../alert-store.port';
import { formatDuration, parseDuration } from '../duration';
import { RuleDefinition, SEVERITIES, Severity } from '../rule.schema';
import { DETECTION_RUNTIME, DetectionRuntime } from './detection-runtime';
import { PatientIdPresenter, presentAlertPatients } from './alert-presentation';

export const DEFAULT_ALERT_PAGE = 100;
export const MAX_ALERT_PAGE = 1000;
const ALERT_FILTER_KEYS = ['status', 'rule', 'severity', 'actor', 'patient', 'from', 'to', 'limit', 'cursor'] as const;
const ALERT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RULE_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const PATIENT_TOKEN = /^ptk_/;
/** Most alerts one bulk triage call acts on. */
export const MAX_BULK_ALERTS = 500;
/** Alerts a bulk call changes at the same time. */
const BULK_CONCURRENCY = 8;
/** Most alerts of one case returned with it. */
export const MAX_CASE_ALERTS = 1000;

/**
 * How the caller may name and see patients: `present` shows an id as the caller may see it
 * (PatientIdentifiers.presentPatientId); `canSeeIds` says whether a clear id may be given as the
 * `patient` filter (otherwise only its token, `ptk_…`); `token` turns an id into its token.
 */
export interface PatientAccess {
  present: PatientIdPresenter;
  canSeeIds: boolean;
  token(patientId: string): string;
}

/** Which case an alert belongs to, in the alert's detail. */
export interface AlertCaseRef {
  id: string;
  status: CaseSummary['status'];
  alertCount: number;
}

export interface AlertListView {
  alerts: AlertRecord[];
  nextCursor: string | null;
}

/** One alert with its runbook: `runbook` is `{ name, markdown }` here (the list carries the name only). */
export interface AlertDetailView extends Omit<AlertRecord, 'runbook'> {
  /** The rule's runbook rendered with this alert (Markdown); markdown null if it cannot be rendered. */
  runbook: { name: string; markdown: string | null };
  /** The case it belongs to (null: the alert is not about one user). */
  case: AlertCaseRef | null;
}

/** GET /v1/alerts/{id}/history. */
export interface AlertHistoryView {
  alertId: string;
  status: AlertStatus;
  history: AlertRecord['history'];
}

/** Body of a case-work action (acknowledge, resolve, reopen, assign, comment). */
export interface CaseWorkBody {
  note?: string;
  assignee?: string | null;
  disposition?: Disposition;
}

/** One item of a bulk triage answer. */
export interface BulkItemResult {
  id: string;
  /** The HTTP status the single-alert call would have answered (200, 404, 409, 400). */
  status: number;
  alert?: AlertRecord;
  /** Problem type and title when refused (never a submitted value). */
  error?: { type: string; title: string };
}

export interface RuleView {
  id: string;
  title: string;
  description?: string;
  severity: Severity;
  kind: string;
  enabled: boolean;
  where?: Record<string, unknown>;
  groupBy: string[];
  distinct?: string;
  sum?: string;
  gte?: number;
  window?: string;
  suppress?: string;
  idle?: string;
  learn?: string;
  steps?: { name?: string; where: Record<string, unknown>; gte: number }[];
  timeZone?: string;
  runbook: string;
  tags: string[];
  references?: string[];
  /** Rule file name (no directory). */
  file?: string;
  examples: { fires: number; quiet: number };
}

export interface RulesView {
  rules: RuleView[];
  timeZone: string;
  allowedLateness: string;
}

export function toRuleView(rule: RuleDefinition): RuleView {
  const { examples, source, enabled, ...rest } = rule;
  return {
    ...rest,
    enabled: enabled !== false,
    ...(source ? { file: path.basename(source) } : {}),
    examples: { fires: examples.fires.length, quiet: examples.quiet.length },
  } as RuleView;
}

/** What parseAlertQuery makes of `patient`: a token, or a clear id (allowed only to callers who may see ids). */
export interface AlertQuery extends AlertFilter {
  patient?: { token: string } | { id: string };
}

/**
 * Turns GET /v1/alerts query parameters into an AlertFilter, or a 400 naming each bad parameter.
 * Enum values (status, severity) and rule ids are matched case-insensitively; from/to take relative
 * times too (docs/case-work.md "Filters").
 */
export function parseAlertQuery(params: Record<string, unknown>, nowMs: number = Date.now()): AlertQuery {
  // An unknown parameter is named by position only: the client's key may be PHI.
  const errors: FieldError[] = unknownMemberErrors(Object.keys(params), ALERT_FILTER_KEYS, '/query', 'filter');
  const { str, limit } = queryParamReader(params, errors);
  const filter: AlertQuery = { limit: limit(DEFAULT_ALERT_PAGE, MAX_ALERT_PAGE) };
  const status = str('status');
  if (status !== undefined) {
    filter.status = matchEnum(status, ALERT_STATUSES);
    if (filter.status === undefined) errors.push({ pointer: '/query/status', message: `must be one of ${ALERT_STATUSES.join(', ')} (any case)` });
  }
  const severity = str('severity');
  if (severity !== undefined) {
    filter.severity = matchEnum(severity, SEVERITIES);
    if (filter.severity === undefined) errors.push({ pointer: '/query/severity', message: `must be one of ${SEVERITIES.join(', ')} (any case)` });
  }
  const rule = str('rule')?.toLowerCase();
  if (rule !== undefined) {
    if (RULE_ID.test(rule) && rule.length <= 100) filter.rule = rule;
    else errors.push({ pointer: '/query/rule', message: 'must be a rule id (kebab-case)' });
  }
  const actor = str('actor');
  if (actor !== undefined) filter.actor = actor;
  const patient = str('patient');
  if (patient !== undefined) filter.patient = PATIENT_TOKEN.test(patient) ? { token: patient } : { id: patient };
  for (const key of ['from', 'to'] as const) {
    const v = str(key);
    if (v === undefined) continue;
    const ms = parseQueryTime(v, nowMs);
    if (ms === null) errors.push({ pointer: `/query/${key}`, message: `must be ${QUERY_TIME_FORMS}` });
    else filter[key] = new Date(ms).toISOString();
  }
  const cursor = str('cursor');
  if (cursor !== undefined) {
    if (decodeAlertCursor(cursor)) filter.cursor = cursor;
    else errors.push({ pointer: '/query/cursor', message: 'is not a cursor this service issued' });
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The query parameters are invalid.');
  return filter;
}

/** The store filter for a parsed query, as this caller may search (clear patient ids only with events:identified, else 403 as for events). */
export function alertStoreFilter(q: AlertQuery, patients: Pick<PatientAccess, 'canSeeIds' | 'token'> | undefined): AlertFilter {
  const { patient, ...filter } = q;
  if (patient === undefined) return filter;
  if ('token' in patient) return { ...filter, patientToken: patient.token };
  // As for events: a token-only role looking up clear ids could map tokens to ids by guessing.
  if (!patients?.canSeeIds) throw clearIdLookupRefused();
  return { ...filter, patientToken: patients.token(patient.id) };
}

/** The body of acknowledge / resolve: `{ note?: string }`, nothing else. */
export function parseTransitionBody(body: unknown): { note?: string } {
  return parseCaseWorkBody(body, ['note']);
}

/** Fields each case-work action takes (acknowledge and resolve keep CONTRACT's `{ note }`; resolve also takes a disposition). */
export const CASE_WORK_FIELDS: Readonly<Record<AlertAction, readonly (keyof CaseWorkBody)[]>> = {
  acknowledge: ['note'],
  resolve: ['note', 'disposition'],
  reopen: ['note'],
  assign: ['assignee', 'note'],
  comment: ['note'],
};

/** A case-work body with only `allowed` fields, each checked; a 400 names each bad field (never its value). */
export function parseCaseWorkBody(body: unknown, allowed: readonly (keyof CaseWorkBody)[], prefix = ''): CaseWorkBody {
  if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw Problems.validation([{ pointer: prefix, message: 'must be a JSON object' }], 'The request body is invalid.');
  const errors: FieldError[] = unknownMemberErrors(Object.keys(body), allowed, prefix, 'field');
  const out: CaseWorkBody = {};
  const b = body as Record<string, unknown>;
  if (allowed.includes('note') && b.note !== undefined) {
    if (typeof b.note !== 'string') errors.push({ pointer: `${prefix}/note`, message: 'must be a string' });
    else if (b.note.length > MAX_NOTE_LENGTH) errors.push({ pointer: `${prefix}/note`, message: `must be at most ${MAX_NOTE_LENGTH} characters` });
    else out.note = b.note;
  }
  if (allowed.includes('assignee') && b.assignee !== undefined) {
    if (b.assignee === null) out.assignee = null;
    else if (typeof b.assignee !== 'string' || b.assignee.trim() === '' || b.assignee.length > MAX_ASSIGNEE_LENGTH) {
      errors.push({ pointer: `${prefix}/assignee`, message: `must be a person's id (1 to ${MAX_ASSIGNEE_LENGTH} characters) or null to unassign` });
    } else out.assignee = b.assignee.trim();
  }
  if (allowed.includes('disposition') && b.disposition !== undefined) {
    const d = typeof b.disposition === 'string' ? matchEnum(b.disposition, DISPOSITIONS) : undefined;
    if (d === undefined) errors.push({ pointer: `${prefix}/disposition`, message: `must be one of ${DISPOSITIONS.join(', ')} (any case)` });
    else out.disposition = d;
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The request body is invalid.');
  return out;
}

/** Body of POST /v1/alerts/bulk: `{ ids: [...], action, note?, assignee?, disposition? }`. */
export function parseBulkBody(body: unknown): { ids: string[]; action: AlertAction; fields: CaseWorkBody } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw Problems.validation([{ pointer: '', message: 'must be a JSON object { "ids": [...], "action": "…" }' }], 'The request body is invalid.');
  }
  const b = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  const action = typeof b.action === 'string' ? matchEnum(b.action, ALERT_ACTIONS) : undefined;
  if (action === undefined) errors.push({ pointer: '/action', message: `must be one of ${ALERT_ACTIONS.join(', ')}` });
  const ids: string[] = [];
  if (!Array.isArray(b.ids) || b.ids.length === 0 || b.ids.length > MAX_BULK_ALERTS) {
    errors.push({ pointer: '/ids', message: `must be an array of 1 to ${MAX_BULK_ALERTS} alert ids` });
  } else {
    b.ids.forEach((id, i) => {
      if (typeof id !== 'string' || !ALERT_ID.test(id)) errors.push({ pointer: `/ids/${i}`, message: 'must be an alert id (UUID)' });
      else ids.push(id.toLowerCase());
    });
    if (new Set(ids).size !== ids.length) errors.push({ pointer: '/ids', message: 'must not repeat an id' });
  }
  const { ids: _ids, action: _action, ...rest } = b;
  let fields: CaseWorkBody = {};
  try {
    fields = parseCaseWorkBody(rest, action ? CASE_WORK_FIELDS[action] : ['note', 'assignee', 'disposition']);
  } catch (e) {
    const problem = e as { body?: { errors?: FieldError[] } };
    errors.push(...(problem.body?.errors ?? []));
  }
  // Checked once for the whole call rather than refused on every item.
  if (action && ['resolve', 'reopen', 'comment'].includes(action) && !fields.note?.trim() && !errors.some((e) => e.pointer === '/note')) {
    errors.push({ pointer: '/note', message: `is required to ${action}` });
  }
  if (action === 'assign' && fields.assignee === undefined && !errors.some((e) => e.pointer === '/assignee')) {
    errors.push({ pointer: '/assignee', message: "is required to assign (a person's id, or null to unassign)" });
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The request body is invalid.');
  return { ids, action: action!, fields };
}

@Injectable()
export class AlertsService {
  constructor(
    @Inject(ALERT_STORE) private readonly store: AlertStore,
    @Inject(DETECTION_RUNTIME) private readonly runtime: DetectionRuntime,
  ) {}

  /**
   * `patients`: how the caller may name and see patients (PatientAccess); without it ids are shown
   * as stored and a clear `patient` filter is refused (only tokens).
   */
  async list(params: Record<string, unknown>, patients?: PatientIdPresenter | PatientAccess): Promise<AlertListView> {
    const access = typeof patients === 'function' ? { present: patients, canSeeIds: false, token: () => '' } : patients;
    const page = await this.store.list(alertStoreFilter(parseAlertQuery(params), access));
    return { alerts: page.alerts.map((a) => this.view(a, access?.present)), nextCursor: page.nextCursor };
  }

  async get(id: string, present?: PatientIdPresenter): Promise<AlertDetailView> {
    const stored = await this.record(id);
    // Presented before rendering: the runbook shows patients the way the caller may see them.
    const record = this.view(stored, present);
    return { ...record, runbook: this.renderRunbook(record), case: await this.caseOf(stored) };
  }

  /** The stored alert, or a 404 (400 for a malformed id). */
  async record(id: string): Promise<AlertRecord> {
    const stored = await this.store.get(checkAlertId(id));
    if (!stored) throw Problems.notFound('No alert with this id.');
    return stored;
  }

  async history(id: string): Promise<AlertHistoryView> {
    const record = await this.record(id);
    return { alertId: record.id, status: record.status, history: record.history };
  }

  /** acknowledge / resolve (CONTRACT bodies `{ note }`, resolve also `disposition`). */
  async transition(id: string, action: AlertAction, by: string, body: unknown, present?: PatientIdPresenter): Promise<AlertRecord> {
    checkAlertId(id);
    const fields = parseCaseWorkBody(body, CASE_WORK_FIELDS[action]);
    return this.view(await this.apply(id, action, by, fields), present);
  }

  /**
   * One action on many alerts. Per item, not all-or-nothing: each alert is changed on its own (as the
   * single-alert call would), and the answer says for each id what happened (200, 404, 409 or 400),
   * so a colleague resolving one of them first does not block the rest. A bad body is refused whole.
   */
  async bulk(body: unknown, by: string, present?: PatientIdPresenter): Promise<{ action: AlertAction; results: BulkItemResult[] }> {
    const { ids, action, fields } = parseBulkBody(body);
    const results: BulkItemResult[] = new Array(ids.length);
    const one = async (i: number): Promise<void> => {
      const id = ids[i];
      try {
        results[i] = { id, status: 200, alert: this.view(await this.apply(id, action, by, fields), present) };
      } catch (error) {
        if (!(error instanceof ProblemError) || error.status >= 500) throw error;
        results[i] = { id, status: error.status, error: { type: String(error.body.type), title: error.body.title } };
      }
    };
    // A few at a time: each change is its own fenced write (Elasticsearch waits for a refresh per write).
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < ids.length) await one(next++);
    };
    await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, ids.length) }, lane));
    return { action, results };
  }

  private async apply(id: string, action: AlertAction, by: string, fields: CaseWorkBody): Promise<AlertRecord> {
    try {
      return await this.store.transition(id, { action, by, at: new Date().toISOString(), ...fields });
    } catch (error) {
      if (error instanceof AlertNotFoundError) throw Problems.notFound('No alert with this id.');
      if (error instanceof InvalidAlertTransitionError) {
        if (error.reason === 'not-allowed') throw Problems.conflict('invalid-alert-transition', `${error.message} (status: ${error.from}).`);
        if (error.reason === 'note-required' || error.reason === 'note-too-long') {
          throw Problems.validation([{ pointer: '/note', message: error.message }], 'The request body is invalid.');
        }
        if (error.reason === 'bad-assignee') throw Problems.validation([{ pointer: '/assignee', message: error.message }], 'The request body is invalid.');
        if (error.reason === 'bad-disposition') throw Problems.validation([{ pointer: '/disposition', message: error.message }], 'The request body is invalid.');
        throw Problems.forbidden('The caller cannot be identified for the alert history.');
      }
      throw error;
    }
  }

  private async caseOf(record: AlertRecord): Promise<AlertCaseRef | null> {
    if (!record.caseId) return null;
    const page = await this.store.list({ caseId: record.caseId, limit: MAX_CASE_ALERTS });
    if (page.alerts.length === 0) return null;
    const summary = summarizeCase(record.caseId, page.alerts);
    return { id: summary.id, status: summary.status, alertCount: summary.alertCount };
  }

  rules(): RulesView {
    return {
      rules: this.runtime.rules.map(toRuleView),
      timeZone: this.runtime.settings.timeZone,
      allowedLateness: formatDuration(parseDuration(this.runtime.settings.allowedLateness)),
    };
  }

  /** An alert as the API shows it: completed (reasons, actor, patient) and its patients as the caller may see them. */
  view(record: AlertRecord, present?: PatientIdPresenter): AlertRecord {
    return presentAlertPatients(this.complete(record), present);
  }

  /**
   * Alerts stored before reasons, actor and patient existed get them from their rule and group, so
   * every alert in the API carries at least one reason (CONTRACT "Alert reasons").
   */
  private complete(record: AlertRecord): AlertRecord {
    if (record.reasons?.length && record.actor !== undefined) return record;
    const out: AlertRecord = { ...record };
    if (!out.reasons?.length) out.reasons = [...(this.runtime.rulesById.get(record.ruleId)?.reasons ?? [record.ruleId])];
    const actor = record.groupKey?.['actor.id'];
    if (out.actor === undefined && typeof actor === 'string') out.actor = actor;
    const patient = record.groupKey?.['patient.id'];
    if (out.patient === undefined && typeof patient === 'string') out.patient = patient;
    return out;
  }

  private renderRunbook(alert: DetectionAlert): { name: string; markdown: string | null } {
    try {
      return { name: alert.runbook, markdown: this.runtime.runbooks.render(alert.runbook, alert, this.runtime.rulesById.get(alert.ruleId)) };
    } catch {
      // The runbook was renamed or removed since the alert was raised; the alert itself stays readable.
      return { name: alert.runbook, markdown: null };
    }
  }
}

function checkAlertId(id: string): string {
  if (!ALERT_ID.test(id)) throw Problems.validation([{ pointer: '/path/id', message: 'must be an alert id (UUID)' }]);
  return id.toLowerCase();
}
