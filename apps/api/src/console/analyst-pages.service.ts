/**
 * The SOC analyst's pages as data: the alert queue (filters, counts, newest first), one alert with
 * its reasons, evidence events on a timeline, the actor's other activity around the window and the
 * runbook rendered, its case (the user's other alerts and prior cases), and case work through the
 * same AlertsService calls as the API (acknowledge, assign, comment, resolve with a disposition,
 * reopen, bulk triage; docs/case-work.md). Reads
 * go through the same services as the API, with the caller's scopes; the events shown are recorded in
 * the access log like API reads.
 */
import { Injectable } from '@nestjs/common';
import { FieldError, Problems } from '@app/core';
import { renderMarkdown } from '@app/console';
import { AlertAction, DISPOSITIONS as ALERT_DISPOSITIONS } from '@app/detection';
import { AlertEvidenceService, AlertsService, CasesService } from '@app/detection/service';
import { AccessAuditService, accessPrincipal, EventView, QueryService } from '@app/pipeline';
import { PatientIdentifiers, Principal } from '@app/security';
import { AlertCounts } from './alert-counts';

const DISPOSITION_LABELS: Record<(typeof ALERT_DISPOSITIONS)[number], string> = {
  true_positive: 'True positive (misuse confirmed)',
  false_positive: 'False positive (the rule misfired)',
  explained: 'Explained (a care or business reason justified it; say which)',
  duplicate: 'Duplicate (another alert covers it; name it)',
  inconclusive: 'Inconclusive',
};
export const DISPOSITIONS = ALERT_DISPOSITIONS.map((value) => ({ value, label: DISPOSITION_LABELS[value] }));
const ALERT_FILTERS = ['status', 'severity', 'rule', 'actor', 'from', 'to', 'cursor'];
const FORM_ACTIONS: readonly AlertAction[] = ['acknowledge', 'resolve', 'reopen', 'assign', 'comment'];
const ACTIVITY_MARGIN_MS = 60 * 60_000;

@Injectable()
export class AnalystPagesService {
  constructor(
    private readonly alerts: AlertsService,
    private readonly evidence: AlertEvidenceService,
    private readonly cases: CasesService,
    private readonly query: QueryService,
    private readonly patients: PatientIdentifiers,
    private readonly audit: AccessAuditService,
    private readonly counts: AlertCounts,
  ) {}

  async queue(params: Record<string, unknown>, p: Principal) {
    const filters: Record<string, string> = {};
    for (const key of ALERT_FILTERS) if (typeof params[key] === 'string' && params[key] !== '') filters[key] = params[key] as string;
    if (params.status === undefined) filters.status = 'open';
    if (filters.status === 'all') delete filters.status;
    const page = await this.alerts.list(
      { ...filters, limit: '50' },
      { present: (id) => this.patients.presentPatientId(p, id), canSeeIds: this.patients.canSeeIdentifiers(p), token: (id) => this.patients.token(id) },
    );
    const next = page.nextCursor ? new URLSearchParams({ ...filters, cursor: page.nextCursor }).toString() : null;
    return {
      alerts: page.alerts.map((a) => ({ ...a, group: groupText(a.groupKey) })),
      counts: await this.counts.counts(filters.status?.toLowerCase()),
      filters: { status: params.status === undefined ? 'open' : (filters.status ?? 'all'), severity: filters.severity ?? '', rule: filters.rule ?? '', actor: filters.actor ?? '' },
      dispositions: DISPOSITIONS,
      canWrite: p.scopes.includes('alerts:write'),
      next,
    };
  }

  async detail(id: string, p: Principal, ip?: string) {
    const present = (patientId: string) => this.patients.presentPatientId(p, patientId);
    const alert = await this.alerts.get(id, present);
    const canReadEvents = p.scopes.includes('events:read');
    const found = canReadEvents ? await this.evidence.events(alert.id, p) : { events: [] as EventView[], missing: [] as string[], total: alert.evidence.total };
    const evidence = [...found.events].sort((a, b) => a.event.occurredAt.localeCompare(b.event.occurredAt));
    const evidenceIds = new Set(evidence.map((e) => e.event.id));
    const actor = alert.actor ?? (typeof alert.groupKey['actor.id'] === 'string' ? (alert.groupKey['actor.id'] as string) : undefined);
    let activity: EventView[] = [];
    let activityWindow: { from: string; to: string } | undefined;
    if (actor && canReadEvents) {
      activityWindow = {
        from: new Date(Date.parse(alert.windowStart) - ACTIVITY_MARGIN_MS).toISOString(),
        to: new Date(Date.parse(alert.windowEnd) + ACTIVITY_MARGIN_MS).toISOString(),
      };
      const filters = { actor, from: activityWindow.from, to: activityWindow.to, limit: '100' };
      activity = (await this.query.list(filters, p)).events;
      await this.audit.recordAccess({ action: 'events.query', principal: accessPrincipal(p), route: 'GET /console/alerts/:id', filters: { ...filters, alert: alert.id }, resource: { type: 'AuditEvent' }, recordCount: activity.length, outcome: 'success', ip });
    }
    const caseView = alert.case ? await this.cases.get(alert.case.id, present).catch(() => null) : null;
    const first = evidence[0] ? Date.parse(evidence[0].event.occurredAt) : 0;
    const last = evidence.length ? Date.parse(evidence[evidence.length - 1]!.event.occurredAt) : 0;
    return {
      alert: { ...alert, group: groupText(alert.groupKey) },
      evidence: evidence.map((e) => ({ ...row(e), offset: last > first ? Math.round(((Date.parse(e.event.occurredAt) - first) / (last - first)) * 100) : 0 })),
      evidenceMissing: found.missing.length,
      evidenceTotal: found.total,
      activity: activity.map((e) => ({ ...row(e), evidence: evidenceIds.has(e.event.id) })),
      activityWindow,
      actor,
      case: caseView ? { id: caseView.id, status: caseView.status, alertCount: caseView.alertCount, openAlertCount: caseView.openAlertCount, priorCases: caseView.priorCases.length } : null,
      runbookHtml: alert.runbook.markdown ? renderMarkdown(alert.runbook.markdown) : null,
      runbookName: alert.runbook.name,
      dispositions: DISPOSITIONS,
      canWrite: p.scopes.includes('alerts:write'),
      me: p.sub,
      recordsShown: 1 + evidence.length,
    };
  }

  /** One case-work action from a form: the same call and checks as `POST /v1/alerts/{id}/<action>`. */
  async act(id: string, action: string, form: Record<string, unknown>, p: Principal) {
    if (!(FORM_ACTIONS as readonly string[]).includes(action)) throw Problems.notFound('There is no such page.');
    await this.alerts.transition(id, action as AlertAction, p.sub, caseWorkBody(action as AlertAction, form));
  }

  /** Bulk triage: the same action on every selected alert; each outcome reported (per item, as the API). */
  async bulk(form: Record<string, unknown>, p: Principal): Promise<{ done: number; failed: number }> {
    const ids = (Array.isArray(form.ids) ? form.ids : form.ids === undefined ? [] : [form.ids]).filter((x): x is string => typeof x === 'string');
    const action = typeof form.action === 'string' ? form.action : '';
    const errors: FieldError[] = [];
    if (ids.length === 0) errors.push({ pointer: '/ids', message: 'select at least one alert' });
    if (!(FORM_ACTIONS as readonly string[]).includes(action)) errors.push({ pointer: '/action', message: `must be one of ${FORM_ACTIONS.join(', ')}` });
    if (errors.length) throw Problems.validation(errors, 'The bulk action is incomplete.');
    const result = await this.alerts.bulk({ ids, action, ...caseWorkBody(action as AlertAction, form) }, p.sub);
    const done = result.results.filter((r) => r.status === 200).length;
    return { done, failed: result.results.length - done };
  }
}

/** The fields a form sends for an action, as the API body (empty fields left out). */
function caseWorkBody(action: AlertAction, form: Record<string, unknown>): Record<string, string | null> {
  const body: Record<string, string | null> = {};
  const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string).trim() : '');
  if (text('note')) body.note = text('note');
  if (action === 'resolve' && text('disposition')) body.disposition = text('disposition');
  if (action === 'assign') body.assignee = text('assignee') || null;
  return body;
}

function groupText(groupKey: Record<string, unknown>): string {
  return Object.entries(groupKey)
    .map(([k, v]) => `${k} = ${v === null ? '(none)' : String(v)}`)
    .join(', ');
}

function row(v: EventView) {
  const e = v.event;
  return {
    id: e.id,
    at: e.occurredAt,
    action: e.action,
    outcome: e.outcome,
    category: e.category,
    actor: e.actor.id,
    ip: e.actor.ip,
    patient: e.patient?.id,
    resource: e.resource ? `${e.resource.type}${e.resource.id ? '/' + e.resource.id : ''}` : '',
    purpose: e.purpose,
    // The search string (FHIR/ATNA query): already as this role may see it (clear, or redacted to names).
    search: e.query?.text ?? '',
    details: e.details ? Object.entries(e.details).map(([k, val]) => `${k}=${String(val)}`).join(' ') : '',
  };
}
