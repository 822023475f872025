/**
 * What a compliance report is asked for: its kind (patient access, user activity, break-glass,
 * failed access), format (json, csv, html) and filters, validated from the query string, and the
 * store query that reads exactly its records. The normalized request is also the `query` the
 * report's signature covers, so a saved report says what it answers. Pure.
 */
import { ACCESS_LOG_CHAIN, FieldError, matchEnum, parseQueryTime, Problems, QUERY_TIME_FORMS, queryParamReader, unknownMemberErrors } from '@app/core';
import { isPatientToken } from '@app/security/patient-tokenizer';
import type { EventStreamQuery } from '@app/storage';

export const REPORT_KINDS = ['patient-access', 'user-activity', 'break-glass', 'failed-access'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

export const REPORT_FORMATS = ['json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** A validated report request; also the signed `query` of the report (absent filters left out). */
export interface ReportQuery {
  kind: ReportKind;
  format: ReportFormat;
  patient?: string;
  actor?: string;
  /** Event time, ISO 8601 UTC: from inclusive, to exclusive. */
  from?: string;
  to?: string;
}

export interface ReportKindInfo {
  title: string;
  /** One sentence for the reader: what the report lists. */
  intro: string;
  /** The filter the kind cannot do without. */
  requires?: 'patient' | 'actor';
  /** Whether rows show which patient (not for a single patient's own report). */
  showPatient: boolean;
}

export const REPORT_KIND_INFO: Readonly<Record<ReportKind, ReportKindInfo>> = {
  'patient-access': {
    title: 'Who accessed this patient\u2019s health information',
    intro: 'Every recorded access to the health information of the patient named below: who, when, what kind of record, why, and whether it was allowed.',
    requires: 'patient',
    showPatient: false,
  },
  'user-activity': {
    title: 'Activity of a user',
    intro: 'Everything the user named below did that the audit log recorded, oldest first.',
    requires: 'actor',
    showPatient: true,
  },
  'break-glass': {
    title: 'Emergency (break-glass) access',
    intro: 'Every use of emergency access that overrode normal access controls. Each one must be reviewed.',
    showPatient: true,
  },
  'failed-access': {
    title: 'Failed and refused access attempts',
    intro: 'Every recorded attempt that failed or was refused (sign-ins, reads, changes, connections).',
    showPatient: true,
  },
};

const PARAMS = ['patient', 'actor', 'from', 'to', 'format'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

export function isReportKind(v: unknown): v is ReportKind {
  return typeof v === 'string' && (REPORT_KINDS as readonly string[]).includes(v);
}

/**
 * Validates `?patient=&actor=&from=&to=&format=` for a report kind. `format` defaults to json;
 * `from`/`to` take RFC 3339 or a date (midnight UTC). Errors name parameters, never values.
 */
export function parseReportQuery(kind: ReportKind, params: Record<string, unknown>, nowMs: number = Date.now()): ReportQuery {
  const errors: FieldError[] = [];
  // An unknown parameter's name is client content (possibly a patient id): named by position only.
  errors.push(...unknownMemberErrors(Object.keys(params), PARAMS, '/query', 'parameter'));
  const { str } = queryParamReader(params, errors);
  const instant = (key: string): string | undefined => {
    const v = str(key);
    if (v === undefined) return undefined;
    const ms = RFC3339.test(v) || DATE_ONLY.test(v) ? Date.parse(v) : (parseQueryTime(v, nowMs) ?? NaN);
    if (Number.isNaN(ms)) {
      errors.push({ pointer: `/query/${key}`, message: `must be ${QUERY_TIME_FORMS}` });
      return undefined;
    }
    return new Date(ms).toISOString();
  };
  // Enum parameters are case-insensitive, as every filter of the API (docs/case-work.md).
  const formatText = str('format');
  const format = formatText === undefined ? 'json' : matchEnum(formatText, REPORT_FORMATS);
  if (format === undefined) errors.push({ pointer: '/query/format', message: `must be one of ${REPORT_FORMATS.join(', ')} (any case)` });
  const q: ReportQuery = { kind, format: (format ?? 'json') as ReportFormat };
  const patient = str('patient');
  const actor = str('actor');
  const from = instant('from');
  const to = instant('to');
  if (patient !== undefined) q.patient = patient;
  if (actor !== undefined) q.actor = actor;
  if (from !== undefined) q.from = from;
  if (to !== undefined) q.to = to;
  const requires = REPORT_KIND_INFO[kind].requires;
  if (requires && params[requires] === undefined) errors.push({ pointer: `/query/${requires}`, message: `is required for a ${kind} report` });
  if (q.from && q.to && Date.parse(q.from) >= Date.parse(q.to)) errors.push({ pointer: '/query/to', message: 'must be later than from' });
  if (errors.length > 0) throw Problems.validation(errors, 'The report parameters are invalid.');
  return q;
}

/**
 * The store read behind a report: its records, oldest first. Reads of the audit data itself (the
 * access-log chain) are not part of reports; `GET /v1/access-log` lists them. A patient given as a
 * token (`ptk_...`) is looked up as a token.
 */
export function reportStreamQuery(q: ReportQuery, pageSize?: number): EventStreamQuery {
  const byToken = q.patient !== undefined && isPatientToken(q.patient);
  const s: EventStreamQuery = {
    patient: byToken ? undefined : q.patient,
    patientToken: byToken ? q.patient : undefined,
    excludeChain: ACCESS_LOG_CHAIN,
    actor: q.actor,
    fromMs: q.from === undefined ? undefined : Date.parse(q.from),
    toMs: q.to === undefined ? undefined : Date.parse(q.to),
    pageSize,
  };
  if (q.kind === 'break-glass') s.breakGlass = true;
  if (q.kind === 'failed-access') s.outcomes = ['failure', 'denied'];
  return s;
}
