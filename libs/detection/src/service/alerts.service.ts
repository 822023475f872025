/**
 * Alert and rule use cases behind the HTTP API (CONTRACT: GET /v1/alerts, GET /v1/alerts/{id},
 * POST /v1/alerts/{id}/acknowledge|resolve, GET /v1/rules): query parameters and bodies checked
 * field by field, the alert returned with its runbook rendered, lifecycle errors mapped to
 * problem+json (404 unknown alert, 409 transition not allowed, 400 bad note). Problem details
 * never echo submitted values.
 */
import * as path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { FieldError, Problems, unknownMemberErrors } from '@app/core';
import { DetectionAlert } from '../alert';
import { ALERT_STATUSES, AlertAction, AlertNotFoundError, AlertRecord, AlertStatus, InvalidAlertTransitionError, MAX_NOTE_LENGTH } from '../alert-lifecycle';
import { ALERT_STORE, AlertFilter, AlertStore } from '../alert-store.port';
import { formatDuration, parseDuration } from '../duration';
import { RuleDefinition, SEVERITIES, Severity } from '../rule.schema';
import { DETECTION_RUNTIME, DetectionRuntime } from './detection-runtime';
import { decodeAlertCursor } from './sqlite-alert-store';
import { PatientIdPresenter, presentAlertPatients } from './alert-presentation';

export const DEFAULT_ALERT_PAGE = 100;
export const MAX_ALERT_PAGE = 1000;
const ALERT_FILTER_KEYS = ['status', 'rule', 'severity', 'from', 'to', 'limit', 'cursor'] as const;
const ALERT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RULE_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const TIME = /^\d{4}-\d{2}-\d{2}/;

export interface AlertListView {
  alerts: AlertRecord[];
  nextCursor: string | null;
}

/** One alert with its runbook: `runbook` is `{ name, markdown }` here (the list carries the name only). */
export interface AlertDetailView extends Omit<AlertRecord, 'runbook'> {
  /** The rule's runbook rendered with this alert (Markdown); markdown null if it cannot be rendered. */
  runbook: { name: string; markdown: string | null };
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

/** Turns GET /v1/alerts query parameters into an AlertFilter, or a 400 naming each bad parameter. */
export function parseAlertQuery(params: Record<string, unknown>): AlertFilter {
  // An unknown parameter is named by position only: the client's key may be PHI.
  const errors: FieldError[] = unknownMemberErrors(Object.keys(params), ALERT_FILTER_KEYS, '/query', 'filter');
  const str = (key: string): string | undefined => {
    const v = params[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
      errors.push({ pointer: `/query/${key}`, message: 'must be a single non-empty value of at most 256 characters' });
      return undefined;
    }
    return v;
  };
  const filter: AlertFilter = { limit: DEFAULT_ALERT_PAGE };
  const status = str('status');
  if (status !== undefined) {
    if ((ALERT_STATUSES as readonly string[]).includes(status)) filter.status = status as AlertStatus;
    else errors.push({ pointer: '/query/status', message: `must be one of ${ALERT_STATUSES.join(', ')}` });
  }
  const severity = str('severity');
  if (severity !== undefined) {
    if ((SEVERITIES as readonly string[]).includes(severity)) filter.severity = severity as Severity;
    else errors.push({ pointer: '/query/severity', message: `must be one of ${SEVERITIES.join(', ')}` });
  }
  const rule = str('rule');
  if (rule !== undefined) {
    if (RULE_ID.test(rule) && rule.length <= 100) filter.rule = rule;
    else errors.push({ pointer: '/query/rule', message: 'must be a rule id (kebab-case)' });
  }
  for (const key of ['from', 'to'] as const) {
    const v = str(key);
    if (v === undefined) continue;
    const ms = Date.parse(v);
    if (Number.isNaN(ms) || !TIME.test(v)) errors.push({ pointer: `/query/${key}`, message: 'must be an RFC 3339 timestamp or a date (YYYY-MM-DD)' });
    else filter[key] = new Date(ms).toISOString();
  }
  const limit = str('limit');
  if (limit !== undefined) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_ALERT_PAGE) errors.push({ pointer: '/query/limit', message: `must be an integer from 1 to ${MAX_ALERT_PAGE}` });
    else filter.limit = n;
  }
  const cursor = str('cursor');
  if (cursor !== undefined) {
    if (decodeAlertCursor(cursor)) filter.cursor = cursor;
    else errors.push({ pointer: '/query/cursor', message: 'is not a cursor this service issued' });
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The query parameters are invalid.');
  return filter;
}

/** The body of acknowledge / resolve: `{ note?: string }`, nothing else. */
export function parseTransitionBody(body: unknown): { note?: string } {
  if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw Problems.validation([{ pointer: '', message: 'must be a JSON object { "note": "…" }' }], 'The request body is invalid.');
  const errors: FieldError[] = unknownMemberErrors(Object.keys(body), ['note'], '', 'field');
  const note = (body as { note?: unknown }).note;
  if (note !== undefined && typeof note !== 'string') errors.push({ pointer: '/note', message: 'must be a string' });
  else if (typeof note === 'string' && note.length > MAX_NOTE_LENGTH) errors.push({ pointer: '/note', message: `must be at most ${MAX_NOTE_LENGTH} characters` });
  if (errors.length > 0) throw Problems.validation(errors, 'The request body is invalid.');
  return typeof note === 'string' ? { note } : {};
}

@Injectable()
export class AlertsService {
  constructor(
    @Inject(ALERT_STORE) private readonly store: AlertStore,
    @Inject(DETECTION_RUNTIME) private readonly runtime: DetectionRuntime,
  ) {}

  /** `present`: how patient ids are shown to the caller (PatientIdentifiers.presentPatientId); ids as stored without it. */
  async list(params: Record<string, unknown>, present?: PatientIdPresenter): Promise<AlertListView> {
    const page = await this.store.list(parseAlertQuery(params));
    return { alerts: page.alerts.map((a) => presentAlertPatients(this.complete(a), present)), nextCursor: page.nextCursor };
  }

  async get(id: string, present?: PatientIdPresenter): Promise<AlertDetailView> {
    const stored = await this.store.get(checkAlertId(id));
    if (!stored) throw Problems.notFound('No alert with this id.');
    // Presented before rendering: the runbook shows patients the way the caller may see them.
    const record = presentAlertPatients(this.complete(stored), present);
    return { ...record, runbook: this.renderRunbook(record) };
  }

  /** The record after the change, its patient ids shown through `present` like list and get. */
  async transition(id: string, action: AlertAction, by: string, body: unknown, present?: PatientIdPresenter): Promise<AlertRecord> {
    checkAlertId(id);
    const { note } = parseTransitionBody(body);
    try {
      return presentAlertPatients(this.complete(await this.store.transition(id, { action, by, note, at: new Date().toISOString() })), present);
    } catch (error) {
      if (error instanceof AlertNotFoundError) throw Problems.notFound('No alert with this id.');
      if (error instanceof InvalidAlertTransitionError) {
        if (error.reason === 'not-allowed') throw Problems.conflict('invalid-alert-transition', `${error.message} (status: ${error.from}).`);
        if (error.reason === 'note-required' || error.reason === 'note-too-long') {
          throw Problems.validation([{ pointer: '/note', message: error.message }], 'The request body is invalid.');
        }
        throw Problems.forbidden('The caller cannot be identified for the alert history.');
      }
      throw error;
    }
  }

  rules(): RulesView {
    return {
      rules: this.runtime.rules.map(toRuleView),
      timeZone: this.runtime.settings.timeZone,
      allowedLateness: formatDuration(parseDuration(this.runtime.settings.allowedLateness)),
    };
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
