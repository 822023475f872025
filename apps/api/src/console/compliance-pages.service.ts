/**
 * The compliance officer's pages as data: a patient's access history (who opened the record, when,
 * why, explained by care or not, with the alerts about it and a timeline chart), a user's activity
 * (each row with the alerts citing it as evidence, as on the patient page),
 * legal holds with how many records each covers, verification status per chain, and retention runs.
 * Reads go through the same services as the API with the caller's scopes; the page view itself is
 * recorded by @AuditAccess, and counting the events behind a hold is recorded like an API read.
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { ACCESS_CONTEXT, AccessContext, AccessEvent, explainAccess, FieldError, Problems } from '@app/core';
import { AlertEvidenceService, AlertsService } from '@app/detection/service';
import { AccessAuditService, accessPrincipal, EventView, IntegrityMonitor, QueryService } from '@app/pipeline';
import { LegalHold, LegalHoldService, RETENTION_RUN_SERVICE, RetentionRunService } from '@app/retention';
import { PatientIdentifiers, Principal } from '@app/security';
import { EVENT_STORE, EventStore } from '@app/storage';
import { accessTimelineChart } from './charts/svg-charts';

/** A history page shows this many accesses (newest first); reports give everything. */
export const HISTORY_LIMIT = 200;
/** Counting a hold's records stops here (the page then says "at least"). */
export const HOLD_COUNT_CAP = 10_000;
const ALERT_LIMIT = 100;
/** The patient page reads the evidence of at most this many alerts to find the searches behind them. */
const SEARCH_ALERT_LIMIT = 20;
/** The reason code of alerts raised because of a search (`name-search-then-record`): only their evidence is read. */
const SEARCH_REASON = 'name-search';

type Viewer = Principal;

@Injectable()
export class CompliancePagesService {
  constructor(
    private readonly query: QueryService,
    private readonly alerts: AlertsService,
    private readonly evidence: AlertEvidenceService,
    private readonly patients: PatientIdentifiers,
    private readonly audit: AccessAuditService,
    private readonly holds: LegalHoldService,
    private readonly monitor: IntegrityMonitor,
    @Inject(RETENTION_RUN_SERVICE) private readonly runs: RetentionRunService,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Optional() @Inject(ACCESS_CONTEXT) private readonly context?: AccessContext | null,
  ) {}

  /** "Who opened patient X's record, when, why, explained or not", newest first. */
  async patientHistory(params: Record<string, unknown>, p: Viewer, ip?: string) {
    const patient = text(params.patient);
    const form = { patient: patient ?? '', from: text(params.from) ?? '', to: text(params.to) ?? '' };
    if (!patient) return { form, searched: false, rows: [], count: 0 };
    const page = await this.query.list(this.filters({ patient, from: form.from, to: form.to }), p);
    const alerts = await this.alertsAbout(p, { patient });
    const flaggedIds = new Set(alerts.flatMap((a) => a.evidence.eventIds));
    const rows = page.events.map((v) => ({ ...this.row(v), citedBy: citing(alerts, v.event.id), flagged: flaggedIds.has(v.event.id) }));
    const chart = accessTimelineChart(
      rows.map((r) => ({ at: r.at, actor: r.actor, what: `${r.action} ${r.resource}`, flagged: r.flagged || r.explained === false })),
      { title: 'Accesses to this record over time' },
    );
    const searches = await this.searchesBehind(alerts, new Set(rows.map((r) => r.id)), p, ip);
    return { form, searched: true, rows, count: rows.length, more: page.nextCursor !== null, alerts: alerts.map(alertLink), alertsShown: p.scopes.includes('alerts:read'), searches, chart, contextLoaded: this.hasContext() };
  }

  /** Everything one user did, newest first. */
  async userActivity(params: Record<string, unknown>, p: Viewer, ip?: string) {
    const actor = text(params.actor);
    const form = { actor: actor ?? '', from: text(params.from) ?? '', to: text(params.to) ?? '' };
    if (!actor) return { form, searched: false, rows: [], count: 0 };
    const page = await this.query.list(this.filters({ actor, from: form.from, to: form.to }), p);
    const alerts = await this.alertsAbout(p, { actor });
    const rows = page.events.map((v) => ({ ...this.row(v), citedBy: citing(alerts, v.event.id) }));
    return { form, searched: true, rows, count: page.events.length, more: page.nextCursor !== null, alerts: alerts.map(alertLink), alertsShown: p.scopes.includes('alerts:read'), contextLoaded: this.hasContext() };
  }

  async holdList(p: Viewer, ip?: string) {
    const { holds } = await this.holds.list({}, { identified: p.scopes.includes('events:identified') });
    const rows = [];
    for (const h of holds.slice(0, 50)) rows.push({ ...h, covers: h.status === 'active' ? await this.countCovered(h, p, ip) : null });
    return { holds: rows, total: holds.length };
  }

  async placeHold(form: Record<string, unknown>, p: Viewer): Promise<LegalHold> {
    const body: Record<string, string> = {};
    for (const k of ['patient', 'actor', 'from', 'to', 'reason', 'caseId']) {
      const v = text(form[k]);
      if (v) body[k] = v;
    }
    return this.holds.create(body, { sub: p.sub, role: p.role, via: p.via }, { identified: p.scopes.includes('events:identified') });
  }

  async releaseHold(id: string, form: Record<string, unknown>, p: Viewer): Promise<LegalHold> {
    return this.holds.release(id, { note: text(form.note) ?? '' }, { sub: p.sub, role: p.role, via: p.via }, { identified: p.scopes.includes('events:identified') });
  }

  /** How many stored events a hold covers (counted through the store's indexes, up to HOLD_COUNT_CAP). */
  async countCovered(h: Pick<LegalHold, 'patient' | 'actor' | 'from' | 'to'>, p: Viewer, ip?: string): Promise<{ count: number; atLeast: boolean }> {
    const filters: Record<string, string> = {};
    if (h.patient) filters.patient = h.patient;
    if (h.actor) filters.actor = h.actor;
    if (h.from) filters.from = h.from;
    if (h.to) filters.to = h.to;
    let count = 0;
    let cursor: string | null = null;
    do {
      const page = await this.query.list({ ...filters, limit: '1000', ...(cursor ? { cursor } : {}) }, p);
      count += page.events.length;
      cursor = page.nextCursor;
    } while (cursor && count < HOLD_COUNT_CAP);
    await this.audit.recordAccess({ action: 'events.count', principal: accessPrincipal(p), route: 'GET /console/holds', filters: { ...filters, purpose: 'legal-hold-coverage' }, patientId: h.patient ?? undefined, resource: { type: 'AuditEvent' }, recordCount: 0, outcome: 'success', ip });
    return { count, atLeast: cursor !== null };
  }

  /** Chains with their record counts; with `verify`, a full verification (as GET /v1/integrity/verify). */
  async integrityStatus(verify: boolean) {
    const chains = await this.store.chains();
    const counts = await Promise.all(chains.map(async (c) => ({ chain: c, records: await this.store.countChain(c) })));
    if (!verify) return { chains: counts, verified: null };
    const started = performance.now();
    const result = await this.monitor.verifyOnDemand({}); // a break found here is known at once, as the schedule's
    const byChain = new Map(result.chains.map((c) => [c.chain, c]));
    return {
      chains: counts.map((c) => ({ ...c, report: byChain.get(c.chain), broken: result.break?.chain === c.chain ? result.break : null })),
      verified: { ok: result.ok, records: result.verified, checkpoints: result.checkpointsVerified, break: result.break, ms: Math.round(performance.now() - started), at: new Date().toISOString() },
    };
  }

  async retentionRuns() {
    try {
      return { runs: (await this.runs.list({ limit: '50' })).runs, unavailable: null };
    } catch (err) {
      return { runs: [], unavailable: (err as { body?: { detail?: string } }).body?.detail ?? 'Retention runs are not available here.' };
    }
  }

  /**
   * The searches in the evidence of alerts naming this patient that fired because of a search (reason
   * `name-search`: a name search made before the chart was opened, `name-search-then-record`): a search names no patient, so it is not among the
   * record's accesses. Read as GET /v1/alerts/{id}/events reads them (each event read recorded in
   * the access log; the search clear or redacted as the role may see it), newest first.
   */
  private async searchesBehind(alerts: { id: string; reasons?: string[]; evidence: { eventIds: string[] } }[], shown: Set<string>, p: Viewer, ip?: string) {
    const out = new Map<string, ReturnType<CompliancePagesService['row']> & { alert: string }>();
    const bySearch = alerts.filter((x) => x.reasons?.includes(SEARCH_REASON) && x.evidence.eventIds.some((id) => !shown.has(id)));
    for (const a of bySearch.slice(0, SEARCH_ALERT_LIMIT)) {
      for (const v of (await this.evidence.events(a.id, p, ip)).events) {
        if (v.event.query && !shown.has(v.event.id) && !out.has(v.event.id)) out.set(v.event.id, { ...this.row(v), alert: a.id });
      }
    }
    return [...out.values()].sort((x, y) => y.at.localeCompare(x.at));
  }

  private filters(f: { patient?: string; actor?: string; from?: string; to?: string }): Record<string, string> {
    const out: Record<string, string> = { limit: String(HISTORY_LIMIT) };
    for (const [k, v] of Object.entries(f)) if (v) out[k] = v;
    return out;
  }

  private hasContext(): boolean {
    return Boolean(this.context);
  }

  private row(v: EventView) {
    const e: AccessEvent = v.event;
    const explanation = this.context && e.patient ? explainAccess(e, this.context) : null;
    return {
      id: e.id,
      at: e.occurredAt,
      actor: e.actor.id,
      actorRole: e.actor.role ?? '',
      action: e.action,
      outcome: e.outcome,
      patient: e.patient?.id,
      resource: e.resource ? `${e.resource.type}${e.resource.id ? '/' + e.resource.id : ''}` : '',
      purpose: e.purpose ?? '',
      // The search string (FHIR/ATNA query): already as this role may see it (clear, or redacted to names).
      search: e.query?.text ?? '',
      source: e.source.system,
      explained: explanation ? explanation.explained : null,
      explanation: explanation?.kind ?? null,
    };
  }

  /** Alerts naming this patient or user (the API's `patient` / `actor` filters), when the role may read alerts. */
  private async alertsAbout(p: Viewer, about: { patient?: string; actor?: string }) {
    if (!p.scopes.includes('alerts:read')) return [];
    const filter = about.patient ? { patient: about.patient } : { actor: about.actor! };
    const page = await this.alerts.list(
      { ...filter, limit: String(ALERT_LIMIT) },
      { present: (id) => this.patients.presentPatientId(p, id), canSeeIds: this.patients.canSeeIdentifiers(p), token: (id) => this.patients.token(id) },
    );
    return page.alerts;
  }
}

/** The alerts (of those read for the page) whose evidence cites this event: the row's Alert column. */
function citing(alerts: { id: string; title: string; evidence: { eventIds: string[] } }[], eventId: string): { id: string; title: string }[] {
  return alerts.filter((a) => a.evidence.eventIds.includes(eventId)).map((a) => ({ id: a.id, title: a.title }));
}

function alertLink(a: { id: string; title: string; severity: string; status: string; windowEnd: string }) {
  return { id: a.id, title: a.title, severity: a.severity, status: a.status, at: a.windowEnd };
}

function text(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t.length > 0 ? t : undefined;
}

/** A 400 for a search form without its required field (named, never echoed). */
export function requireField(name: string): never {
  const errors: FieldError[] = [{ pointer: `/query/${name}`, message: 'is required' }];
  throw Problems.validation(errors, 'The search is incomplete.');
}
