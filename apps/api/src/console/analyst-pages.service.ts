/**
 * The SOC analyst's pages as data: the alert queue (filters, counts, newest first), one alert with
 * its reasons, evidence events on a timeline, the actor's other activity around the window and the
 * runbook rendered, and case actions (acknowledge, resolve with a disposition, bulk triage). Reads
 * go through the same services as the API, with the caller's scopes; the events shown are recorded in
 * the access log like API reads.
 */
import { Injectable } from '@nestjs/common';
import { FieldError, Problems } from '@app/core';
import { renderMarkdown } from '@app/console';
import { AlertsService } from '@app/detection/service';
import { AccessAuditService, accessPrincipal, EventView, QueryService } from '@app/pipeline';
import { PatientIdentifiers, Principal } from '@app/security';
import { AlertCounts } from './alert-counts';

export const DISPOSITIONS = [
  { value: 'true_positive', label: 'True positive (inappropriate access)' },
  { value: 'false_positive', label: 'False positive (rule misfired)' },
  { value: 'explained', label: 'Explained (legitimate, documented reason)' },
] as const;
const ALERT_FILTERS = ['status', 'severity', 'rule', 'from', 'to', 'cursor'];
const ACTIVITY_MARGIN_MS = 60 * 60_000;

@Injectable()
export class AnalystPagesService {
  constructor(
    private readonly alerts: AlertsService,
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
    const page = await this.alerts.list({ ...filters, limit: '50' }, (id) => this.patients.presentPatientId(p, id));
    const next = page.nextCursor ? new URLSearchParams({ ...filters, cursor: page.nextCursor }).toString() : null;
    return {
      alerts: page.alerts.map((a) => ({ ...a, reasons: (a as { reasons?: string[] }).reasons ?? [], group: groupText(a.groupKey) })),
      counts: this.counts.counts(filters.status),
      filters: { status: params.status === undefined ? 'open' : (filters.status ?? 'all'), severity: filters.severity ?? '', rule: filters.rule ?? '' },
      next,
    };
  }

  async detail(id: string, p: Principal, ip?: string) {
    const present = (patientId: string) => this.patients.presentPatientId(p, patientId);
    const alert = await this.alerts.get(id, present);
    const evidenceIds = alert.evidence.eventIds.slice(0, 100);
    const evidence: EventView[] = [];
    for (const eventId of evidenceIds) {
      try {
        evidence.push(await this.query.get(eventId, p));
      } catch {
        /* removed by retention since the alert: the timeline shows what remains */
      }
    }
    evidence.sort((a, b) => a.event.occurredAt.localeCompare(b.event.occurredAt));
    const actor = typeof alert.groupKey['actor.id'] === 'string' ? (alert.groupKey['actor.id'] as string) : undefined;
    let activity: EventView[] = [];
    let activityWindow: { from: string; to: string } | undefined;
    if (actor && p.scopes.includes('events:read')) {
      activityWindow = {
        from: new Date(Date.parse(alert.windowStart) - ACTIVITY_MARGIN_MS).toISOString(),
        to: new Date(Date.parse(alert.windowEnd) + ACTIVITY_MARGIN_MS).toISOString(),
      };
      const filters = { actor, from: activityWindow.from, to: activityWindow.to, limit: '100' };
      activity = (await this.query.list(filters, p)).events;
      await this.audit.recordAccess({ action: 'events.query', principal: accessPrincipal(p), route: 'GET /console/alerts/:id', filters: { ...filters, alert: alert.id }, resource: { type: 'AuditEvent' }, recordCount: activity.length, outcome: 'success', ip });
    }
    const evidenceSet = new Set(evidenceIds);
    const first = evidence[0] ? Date.parse(evidence[0].event.occurredAt) : 0;
    const last = evidence.length ? Date.parse(evidence[evidence.length - 1]!.event.occurredAt) : 0;
    return {
      alert: { ...alert, reasons: (alert as { reasons?: string[] }).reasons ?? [], group: groupText(alert.groupKey) },
      evidence: evidence.map((e) => ({ ...row(e), offset: last > first ? Math.round(((Date.parse(e.event.occurredAt) - first) / (last - first)) * 100) : 0 })),
      evidenceMissing: evidenceIds.length - evidence.length,
      activity: activity.map((e) => ({ ...row(e), evidence: evidenceSet.has(e.event.id) })),
      activityWindow,
      actor,
      runbookHtml: alert.runbook.markdown ? renderMarkdown(alert.runbook.markdown) : null,
      runbookName: alert.runbook.name,
      dispositions: DISPOSITIONS,
      canWrite: p.scopes.includes('alerts:write'),
      recordsShown: 1 + evidence.length,
    };
  }

  /** Acknowledge or resolve one alert from a form (`disposition` and `note` for resolve). */
  async act(id: string, action: 'acknowledge' | 'resolve', form: Record<string, unknown>, p: Principal) {
    const note = resolutionNote(action, form);
    await this.alerts.transition(id, action, p.sub, note === undefined ? {} : { note });
  }

  /** Bulk triage: the same action on every selected alert; each outcome reported. */
  async bulk(form: Record<string, unknown>, p: Principal): Promise<{ done: number; failed: { id: string; why: string }[] }> {
    const ids = (Array.isArray(form.ids) ? form.ids : form.ids === undefined ? [] : [form.ids]).filter((x): x is string => typeof x === 'string');
    const action = form.action;
    const errors: FieldError[] = [];
    if (ids.length === 0) errors.push({ pointer: '/ids', message: 'select at least one alert' });
    if (ids.length > 100) errors.push({ pointer: '/ids', message: 'select at most 100 alerts' });
    if (action !== 'acknowledge' && action !== 'resolve') errors.push({ pointer: '/action', message: 'must be acknowledge or resolve' });
    if (errors.length) throw Problems.validation(errors, 'The bulk action is incomplete.');
    const note = resolutionNote(action as 'acknowledge' | 'resolve', form);
    const failed: { id: string; why: string }[] = [];
    let done = 0;
    for (const id of ids) {
      try {
        await this.alerts.transition(id, action as 'acknowledge' | 'resolve', p.sub, note === undefined ? {} : { note });
        done++;
      } catch (err) {
        failed.push({ id, why: (err as { body?: { detail?: string } }).body?.detail ?? 'refused' });
      }
    }
    return { done, failed };
  }
}

/** Resolve needs a disposition and a reason; they are kept in the alert's history note. */
function resolutionNote(action: 'acknowledge' | 'resolve', form: Record<string, unknown>): string | undefined {
  const reason = typeof form.note === 'string' ? form.note.trim() : '';
  if (action === 'acknowledge') return reason || undefined;
  const disposition = typeof form.disposition === 'string' ? form.disposition : '';
  const errors: FieldError[] = [];
  if (!DISPOSITIONS.some((d) => d.value === disposition)) errors.push({ pointer: '/disposition', message: 'choose a disposition' });
  if (reason.length < 5) errors.push({ pointer: '/note', message: 'say why, in at least 5 characters' });
  if (reason.length > 3900) errors.push({ pointer: '/note', message: 'at most 3900 characters' });
  if (errors.length) throw Problems.validation(errors, 'The resolution is incomplete.');
  return `disposition: ${disposition}. ${reason}`;
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
    details: e.details ? Object.entries(e.details).map(([k, val]) => `${k}=${String(val)}`).join(' ') : '',
  };
}
