/**
 * Who an alert is about, and how alerts about the same user are grouped into cases (docs/case-work.md
 * "Cases"). Pure: the stores call these when they save an alert and summarize what they read.
 *
 * The case rule: an alert about a user joins that user's open case (the newest one, if several are
 * open after a reopen); when the user has no open case, the alert opens a new one. A case is open
 * while any of its alerts is not resolved, and resolved once all are; a later alert about the same
 * user then opens a new case, and the resolved ones are that user's prior cases (repeat offenders).
 * Alerts about no single user (e.g. grouped by source IP, with evidence from several accounts) belong to no case.
 */
import { createHash } from 'node:crypto';
import { DetectionAlert } from './alert';
import { AlertRecord, AlertStatus } from './alert-lifecycle';
import { SEVERITIES, Severity } from './rule.schema';

/** The user (actor id) the alert is about, or undefined when it is not about one user. */
export function alertActor(alert: DetectionAlert): string | undefined {
  const own = (alert as { actor?: unknown }).actor;
  if (typeof own === 'string' && own.length > 0) return own;
  if (own && typeof own === 'object' && typeof (own as { id?: unknown }).id === 'string') return (own as { id: string }).id;
  const grouped = alert.groupKey?.['actor.id'];
  if (typeof grouped === 'string' && grouped.length > 0) return grouped;
  const actors = alert.summary?.actors;
  return actors?.length === 1 && alert.summary.distinctActors === 1 ? actors[0] : undefined;
}

/**
 * The patient ids an alert names (as stored: real ids): its own `patient`, a `patient.id` group
 * value, and the evidence summary's most-touched patients (at most 10).
 */
export function alertPatientIds(alert: DetectionAlert): string[] {
  const out = new Set<string>();
  const own = (alert as { patient?: unknown }).patient;
  if (typeof own === 'string' && own.length > 0) out.add(own);
  else if (own && typeof own === 'object' && typeof (own as { id?: unknown }).id === 'string') out.add((own as { id: string }).id);
  const grouped = alert.groupKey?.['patient.id'];
  if (typeof grouped === 'string' && grouped.length > 0) out.add(grouped);
  for (const p of alert.summary?.topPatients ?? []) if (p.patientId) out.add(p.patientId);
  return [...out];
}

/** The id of the case an alert opens: UUID-shaped (version 8) digest of that first alert's id. */
export function caseIdFor(firstAlertId: string): string {
  const hex = createHash('sha256').update(`case\u0000${firstAlertId}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export const CASE_STATUSES = ['open', 'resolved'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/** One case as lists show it (no patient identifiers: alerts carry those, shown per caller). */
export interface CaseSummary {
  id: string;
  /** The user the case is about (actor id). */
  actor: string;
  status: CaseStatus;
  /** When its first alert was stored (wall clock). */
  openedAt: string;
  /** The last change to any of its alerts. */
  updatedAt: string;
  /** Event time that completed its newest alert. */
  lastAlertAt: string;
  alertCount: number;
  /** Alerts not yet resolved. */
  openAlertCount: number;
  /** Highest severity among its alerts. */
  severity: Severity;
  /** Rule ids of its alerts, sorted. */
  rules: string[];
  /** People its alerts are assigned to, sorted. */
  assignees: string[];
}

/** Summaries of the cases these records belong to (records without a case are skipped), newest activity first. */
export function summarizeCases(records: readonly AlertRecord[]): CaseSummary[] {
  const byCase = new Map<string, AlertRecord[]>();
  for (const r of records) {
    if (!r.caseId) continue;
    const list = byCase.get(r.caseId) ?? [];
    list.push(r);
    byCase.set(r.caseId, list);
  }
  return [...byCase.entries()].map(([id, alerts]) => summarizeCase(id, alerts)).sort(newestActivityFirst);
}

export function summarizeCase(id: string, alerts: readonly AlertRecord[]): CaseSummary {
  if (alerts.length === 0) throw new Error('a case has at least one alert');
  const open = alerts.filter((a) => a.status !== 'resolved').length;
  const severity = alerts.reduce<Severity>((max, a) => (SEVERITIES.indexOf(a.severity) > SEVERITIES.indexOf(max) ? a.severity : max), alerts[0].severity);
  return {
    id,
    actor: alertActor(alerts[0]) ?? '',
    status: open > 0 ? 'open' : 'resolved',
    openedAt: minBy(alerts.map((a) => a.createdAt)),
    updatedAt: maxBy(alerts.map((a) => a.updatedAt)),
    lastAlertAt: maxBy(alerts.map((a) => a.windowEnd), (t) => Date.parse(t)),
    alertCount: alerts.length,
    openAlertCount: open,
    severity,
    rules: [...new Set(alerts.map((a) => a.ruleId))].sort(),
    assignees: [...new Set(alerts.map((a) => a.assignee).filter((x): x is string => !!x))].sort(),
  };
}

/** Newest activity first (lastAlertAt descending, then id descending): the order of GET /v1/cases. */
export function newestActivityFirst(a: CaseSummary, b: CaseSummary): number {
  return Date.parse(b.lastAlertAt) - Date.parse(a.lastAlertAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Whether a status of an alert keeps its case open. */
export function keepsCaseOpen(status: AlertStatus): boolean {
  return status !== 'resolved';
}

function minBy(values: string[], key: (v: string) => number = (v) => Date.parse(v)): string {
  return values.reduce((m, v) => (key(v) < key(m) ? v : m));
}

function maxBy(values: string[], key: (v: string) => number = (v) => Date.parse(v)): string {
  return values.reduce((m, v) => (key(v) > key(m) ? v : m));
}
