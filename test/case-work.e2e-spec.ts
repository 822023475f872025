/**
 * Case work and the investigation pivots over HTTP on the real application (docs/case-work.md):
 * compliance officers read alerts; events filter by IP and integration; enum filters in any case;
 * relative times; an alert's evidence events in one call (recorded in the access log); assign,
 * comment, disposition, reopen and the history with who and when; bulk triage with per-item
 * results; a user's alerts grouped into a case that shows the user's prior resolved case; scopes.
 */
import { AccessEvent, loadConfig } from '@app/core';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { AlertJson, allAlerts, waitForDetection } from './support/detection';
import { startEsFakeServer, EsFakeServer } from './support/es-fake-server';
import { accessEvent } from './support/events';
import { startTestApp, TestApp } from './support/test-app';

const PROBLEM = 'application/problem+json';
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const MIN = 60_000;
const DAY = 86_400_000;

interface CaseJson {
  id: string;
  actor: string;
  status: string;
  alertCount: number;
  openAlertCount: number;
  alerts?: AlertJson[];
  priorCases?: CaseJson[];
}
type CaseWorkAlert = AlertJson & { caseId?: string; assignee?: string; disposition?: string; case?: { id: string; status: string; alertCount: number } | null };

describe('case work and investigation pivots over HTTP', () => {
  let app: TestApp;
  let integration: ApiClient;
  let analyst: ApiClient;
  let raj: ApiClient;
  let compliance: ApiClient;
  let alerts: CaseWorkAlert[];
  const glass = (actor: string, patient: string, at: string, ip = '10.9.8.7') =>
    accessEvent({ occurredAt: at, action: 'break_glass', purpose: 'EMERGENCY', actor: { id: actor, type: 'user', role: 'physician', ip }, patient: { id: patient } });
  const first = glass('dr-snoop', 'MRN-CW-1', ago(50 * MIN));
  const second = glass('dr-snoop', 'MRN-CW-2', ago(45 * MIN));
  const other = glass('dr-other', 'MRN-CW-3', ago(40 * MIN), '10.7.7.7');
  const reads: AccessEvent[] = [
    accessEvent({ occurredAt: ago(30 * MIN), actor: { id: 'dr-reader', type: 'user', role: 'nurse', ip: '10.1.2.3' }, patient: { id: 'MRN-CW-4' } }),
    accessEvent({ occurredAt: ago(29 * MIN), actor: { id: 'dr-reader', type: 'user', role: 'nurse', ip: '10.1.2.4' }, patient: { id: 'MRN-CW-4' } }),
  ];
  const old = accessEvent({ occurredAt: ago(40 * DAY), actor: { id: 'dr-reader', type: 'user', role: 'nurse', ip: '10.1.2.3' }, patient: { id: 'MRN-CW-5' } });
  const billing = accessEvent({ occurredAt: ago(28 * MIN), source: { system: 'billing', integration: 'billing-feed' }, actor: { id: 'clerk-1', type: 'user', role: 'clerk', ip: '10.1.2.3' } });

  // Other default rules may fire on these events too (depending on the hour): assertions count break-glass alerts,
  // or every alert of the user where the case is concerned.
  const byActor = (actor: string) => alerts.filter((a) => a.groupKey['actor.id'] === actor && a.ruleId === 'break-glass-access');
  const everyAlertOf = (actor: string) => alerts.filter((a) => a.groupKey['actor.id'] === actor);
  const json = <T>(res: { body: string }) => JSON.parse(res.body) as T;

  beforeAll(async () => {
    app = await startTestApp();
    integration = await app.client('integration', 'sample-ehr');
    const billingFeed = await app.client('integration', 'billing-feed');
    analyst = await app.client('soc_analyst', 'analyst-jane');
    raj = await app.client('soc_analyst', 'analyst-raj');
    compliance = await app.client('compliance_officer', 'privacy-olga');
    expect((await integration.request('POST', '/v1/events', { events: [old, first, second, other, ...reads] })).status).toBe(202);
    expect((await billingFeed.request('POST', '/v1/events', billing)).status).toBe(202);
    await waitForDetection(analyst);
    alerts = (await allAlerts(analyst)) as CaseWorkAlert[];
  }, 60_000);
  afterAll(async () => {
    await app?.close();
  });

  it('raised one break-glass alert per user and patient (the fixture the rest builds on)', () => {
    expect(byActor('dr-snoop')).toHaveLength(2);
    expect(byActor('dr-other')).toHaveLength(1);
  });

  it('lets a compliance officer list and read alerts, filtering by actor and by patient id', async () => {
    const listed = await compliance.request('GET', '/v1/alerts?actor=dr-snoop');
    expect(listed.status).toBe(200);
    const mine = json<{ alerts: AlertJson[] }>(listed).alerts;
    expect(mine.map((a) => a.id).sort()).toEqual(everyAlertOf('dr-snoop').map((a) => a.id).sort());
    // Compliance officers see patient ids, and may search by them.
    const byPatient = json<{ alerts: AlertJson[] }>(await compliance.request('GET', '/v1/alerts?patient=MRN-CW-2&rule=break-glass-access')).alerts;
    expect(byPatient.map((a) => a.groupKey['patient.id'])).toEqual(['MRN-CW-2']);
    expect((await compliance.request('GET', `/v1/alerts/${byPatient[0].id}`)).status).toBe(200);
  });

  it('lets an analyst search alerts by patient token only, refusing a clear id as events do (403)', async () => {
    const token = String(byActor('dr-other')[0].groupKey['patient.id']);
    expect(token).toMatch(/^ptk_/);
    const found = json<{ alerts: AlertJson[] }>(await analyst.request('GET', `/v1/alerts?patient=${token}&rule=break-glass-access`)).alerts;
    expect(found.map((a) => a.id)).toEqual([byActor('dr-other')[0].id]);
    // As on GET /v1/events: a token-only role may not look patients up by clear id (403, nothing echoed).
    const refused = await analyst.request('GET', '/v1/alerts?patient=MRN-CW-3');
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toContain(PROBLEM);
    expect(json<{ type: string; errors: { pointer: string }[] }>(refused)).toMatchObject({ type: expect.stringMatching(/patient-token-required$/) });
    expect(json<{ errors: { pointer: string }[] }>(refused).errors.map((e) => e.pointer)).toEqual(['/query/patient']);
    const sameOnEvents = await analyst.request('GET', '/v1/events?patient=MRN-CW-3');
    expect(sameOnEvents.status).toBe(403);
    expect(refused.body).not.toContain('MRN-CW-3');
  });

  it('matches enum filters in any case (action=READ, severity=HIGH, status=OPEN, category, outcome)', async () => {
    const upper = json<{ events: { event: AccessEvent }[] }>(await analyst.request('GET', '/v1/events?action=READ&actor=dr-reader'));
    expect(upper.events.map((e) => e.event.id).sort()).toEqual([...reads, old].map((e) => e.id).sort());
    const high = await analyst.request('GET', '/v1/alerts?severity=HIGH&status=OPEN&rule=Break-Glass-Access');
    expect(high.status).toBe(200);
    expect(json<{ alerts: AlertJson[] }>(high).alerts).toHaveLength(3);
    const mixed = json<{ events: unknown[] }>(await analyst.request('GET', '/v1/events?category=Data_Access&outcome=SUCCESS&actor=dr-reader'));
    expect(mixed.events).toHaveLength(3);
    // The same rule on the other enum parameters: legal-hold status, report format (with a relative time).
    expect((await compliance.request('GET', '/v1/retention/holds?status=ACTIVE')).status).toBe(200);
    const badHold = await compliance.request('GET', '/v1/retention/holds?status=gone');
    expect(badHold.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(badHold).errors.map((e) => e.pointer)).toEqual(['/query/status']);
    const csv = await compliance.request('GET', '/v1/reports/user-activity?actor=dr-reader&format=CSV&from=now-30d');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body).toContain(reads[0].id);
    expect(csv.body).not.toContain(old.id);
    const bad = await analyst.request('GET', '/v1/events?outcome=maybe');
    expect(bad.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(bad).errors.map((e) => e.pointer)).toEqual(['/query/outcome']);
    expect(bad.body).not.toContain('maybe');
  });

  it('takes relative times in from/to (now-30d leaves out an event 40 days old)', async () => {
    const recent = json<{ events: { event: AccessEvent }[] }>(await analyst.request('GET', '/v1/events?actor=dr-reader&from=now-30d&to=now'));
    expect(recent.events.map((e) => e.event.id).sort()).toEqual(reads.map((e) => e.id).sort());
    const window = json<{ events: { event: AccessEvent }[] }>(await analyst.request('GET', '/v1/events?actor=dr-reader&from=now-45d&to=now-2h'));
    expect(window.events.map((e) => e.event.id)).toEqual([old.id]);
    const lastHour = json<{ alerts: AlertJson[] }>(await analyst.request('GET', '/v1/alerts?rule=break-glass-access&from=now-2h'));
    expect(lastHour.alerts).toHaveLength(3);
    expect(json<{ alerts: AlertJson[] }>(await analyst.request('GET', '/v1/alerts?rule=break-glass-access&from=now-42m&to=now-15m')).alerts.map((a) => a.id)).toEqual(byActor('dr-other').map((a) => a.id));
    const bad = await analyst.request('GET', '/v1/events?from=yesterday');
    expect(bad.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(bad).errors.map((e) => e.pointer)).toEqual(['/query/from']);
  });

  it('filters events by source IP and by integration, and logs an IP search without the address', async () => {
    const byIp = json<{ events: { event: AccessEvent }[] }>(await analyst.request('GET', '/v1/events?ip=10.1.2.3'));
    expect(byIp.events.map((e) => e.event.id).sort()).toEqual([reads[0], old, billing].map((e) => e.id).sort());
    const both = json<{ events: { event: AccessEvent }[] }>(await analyst.request('GET', '/v1/events?ip=10.1.2.3&integration=billing-feed'));
    expect(both.events.map((e) => e.event.id)).toEqual([billing.id]);
    const paged = json<{ events: unknown[]; nextCursor: string | null }>(await analyst.request('GET', '/v1/events?ip=10.1.2.3&limit=2'));
    expect(paged.events).toHaveLength(2);
    const rest = json<{ events: unknown[]; nextCursor: string | null }>(await analyst.request('GET', `/v1/events?ip=10.1.2.3&limit=2&cursor=${paged.nextCursor}`));
    expect(rest.events).toHaveLength(1);
    expect(rest.nextCursor).toBeNull();
    const bad = await analyst.request('GET', '/v1/events?ip=10.1.2.300');
    expect(bad.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(bad).errors.map((e) => e.pointer)).toEqual(['/query/ip']);
    const auditor = await app.client('auditor');
    const log = json<{ entries: { filters: Record<string, unknown> }[] }>(await auditor.request('GET', '/v1/access-log?action=events.query&limit=1000'));
    const ipSearches = log.entries.filter((e) => 'ip' in e.filters);
    expect(ipSearches.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(ipSearches)).not.toContain('10.1.2.3');
  });

  it("returns an alert's evidence events in one call, each as GET /v1/events/{id} shows it, and records the read", async () => {
    const alert = byActor('dr-snoop')[0];
    const res = await analyst.request('GET', `/v1/alerts/${alert.id}/events`);
    expect(res.status).toBe(200);
    const body = json<{ alertId: string; events: unknown[]; missing: string[] }>(res);
    expect(body.alertId).toBe(alert.id);
    expect(body.missing).toEqual([]);
    const single = await Promise.all(alert.evidence.eventIds.map(async (id) => json<unknown>(await analyst.request('GET', `/v1/events/${id}`))));
    expect(body.events).toEqual(single);
    // The analyst sees the patient as a token, exactly as on the single-event read.
    expect(JSON.stringify(body.events)).not.toMatch(/MRN-CW-/);
    const forCompliance = json<{ events: { event: AccessEvent }[] }>(await compliance.request('GET', `/v1/alerts/${alert.id}/events`));
    expect(forCompliance.events[0].event.patient?.id).toMatch(/^MRN-CW-/);
    const auditor = await app.client('auditor');
    const log = json<{ entries: { principal: { sub: string }; resource?: { id?: string }; recordCount: number }[] }>(await auditor.request('GET', '/v1/access-log?action=alerts.events'));
    expect(log.entries.find((e) => e.principal.sub === 'analyst-jane' && e.resource?.id === alert.id)).toMatchObject({ recordCount: alert.evidence.eventIds.length });
    // ... and each event shown, as GET /v1/events/{id} records it, with the alert named.
    const reads = json<{ entries: { principal: { sub: string }; resource?: { id?: string }; filters: Record<string, unknown>; route?: string }[] }>(
      await auditor.request('GET', '/v1/access-log?action=events.read&actor=analyst-jane&limit=1000'),
    ).entries.filter((e) => e.filters.alert === alert.id);
    expect(reads.map((e) => e.resource?.id).sort()).toEqual([...alert.evidence.eventIds].sort());
    expect(reads[0].route).toBe('GET /v1/alerts/:id/events');
    expect((await analyst.request('GET', '/v1/alerts/00000000-0000-4000-8000-000000000000/events')).status).toBe(404);
  });

  it('assigns, comments, resolves with a disposition, reopens, and keeps the history with who and when', async () => {
    const alert = byActor('dr-other')[0];
    const assigned = await analyst.request('POST', `/v1/alerts/${alert.id}/assign`, { assignee: 'analyst-raj' });
    expect(assigned.status).toBe(200);
    expect(json<CaseWorkAlert>(assigned)).toMatchObject({ status: 'open', assignee: 'analyst-raj' });
    expect((await raj.request('POST', `/v1/alerts/${alert.id}/comments`, { note: 'called the ED charge nurse' })).status).toBe(200);
    const badDisposition = await raj.request('POST', `/v1/alerts/${alert.id}/resolve`, { note: 'ok', disposition: 'probably-fine' });
    expect(badDisposition.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(badDisposition).errors.map((e) => e.pointer)).toEqual(['/disposition']);
    expect(badDisposition.body).not.toContain('probably-fine');
    const resolved = await raj.request('POST', `/v1/alerts/${alert.id}/resolve`, { note: 'documented cardiac arrest', disposition: 'EXPLAINED' });
    expect(resolved.status).toBe(200);
    expect(json<CaseWorkAlert>(resolved)).toMatchObject({ status: 'resolved', disposition: 'explained', resolvedBy: 'analyst-raj' });
    expect((await raj.request('POST', `/v1/alerts/${alert.id}/assign`, { assignee: 'x' })).status).toBe(409);
    expect((await analyst.request('POST', `/v1/alerts/${alert.id}/reopen`, {})).status).toBe(400);
    const reopened = await analyst.request('POST', `/v1/alerts/${alert.id}/reopen`, { note: 'no arrest on record that night' });
    expect(reopened.status).toBe(200);
    expect(json<CaseWorkAlert>(reopened).status).toBe('open');
    expect(json<CaseWorkAlert>(reopened).disposition).toBeUndefined();
    expect((await analyst.request('POST', `/v1/alerts/${alert.id}/reopen`, { note: 'again' })).status).toBe(409);

    const history = await compliance.request('GET', `/v1/alerts/${alert.id}/history`);
    expect(history.status).toBe(200);
    const entries = json<{ status: string; history: { action: string; from: string; to: string; by: string; at: string; note?: string; assignee?: string; disposition?: string }[] }>(history);
    expect(entries.status).toBe('open');
    expect(entries.history.map((h) => [h.action, h.from, h.to, h.by])).toEqual([
      ['assign', 'open', 'open', 'analyst-jane'],
      ['comment', 'open', 'open', 'analyst-raj'],
      ['resolve', 'open', 'resolved', 'analyst-raj'],
      ['reopen', 'resolved', 'open', 'analyst-jane'],
    ]);
    expect(entries.history[0].assignee).toBe('analyst-raj');
    expect(entries.history[1].note).toBe('called the ED charge nurse');
    expect(entries.history[2].disposition).toBe('explained');
    for (const h of entries.history) expect(Math.abs(Date.parse(h.at) - Date.now())).toBeLessThan(5 * MIN);
    expect((await analyst.request('GET', '/v1/alerts/00000000-0000-4000-8000-000000000000/history')).status).toBe(404);
  });

  it('triages in bulk with per-item results, and refuses a bad body whole', async () => {
    const ids = byActor('dr-snoop').map((a) => a.id);
    const missing = '00000000-0000-4000-8000-000000000000';
    const res = await analyst.request('POST', '/v1/alerts/bulk', { ids: [...ids, missing], action: 'acknowledge', note: 'triage' });
    expect(res.status).toBe(200);
    const body = json<{ action: string; results: { id: string; status: number; alert?: AlertJson; error?: { type: string } }[] }>(res);
    expect(body.results.map((r) => [r.id, r.status])).toEqual([...ids.map((id) => [id, 200]), [missing, 404]]);
    expect(body.results[0].alert?.status).toBe('acknowledged');
    // A second pass: already acknowledged ones are refused item by item (409), the others still go through.
    const again = json<{ results: { status: number; error?: { type: string } }[] }>(await analyst.request('POST', '/v1/alerts/bulk', { ids, action: 'acknowledge' }));
    expect(again.results.map((r) => r.status)).toEqual([409, 409]);
    expect(again.results[0].error?.type).toMatch(/invalid-alert-transition$/);
    const bad = await analyst.request('POST', '/v1/alerts/bulk', { ids: ['nope', ids[0]], action: 'resolve' });
    expect(bad.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(bad).errors.map((e) => e.pointer).sort()).toEqual(['/ids/0', '/note']);
    const stillAcked = json<AlertJson>(await analyst.request('GET', `/v1/alerts/${ids[0]}`));
    expect(stillAcked.status).toBe('acknowledged');
  });

  it("groups a user's alerts into one case, and a later case shows the resolved one as prior", async () => {
    const snoop = everyAlertOf('dr-snoop');
    expect(snoop.length).toBeGreaterThanOrEqual(2);
    const detail = json<CaseWorkAlert>(await analyst.request('GET', `/v1/alerts/${byActor('dr-snoop')[0].id}`));
    expect(detail.case).toMatchObject({ status: 'open', alertCount: snoop.length });
    const caseId = detail.case!.id;
    expect(new Set(snoop.map((a) => a.caseId))).toEqual(new Set([caseId]));
    const listed = json<{ cases: CaseJson[] }>(await analyst.request('GET', '/v1/cases?actor=dr-snoop'));
    expect(listed.cases.map((c) => [c.id, c.status, c.alertCount])).toEqual([[caseId, 'open', snoop.length]]);
    const resolved = await analyst.request('POST', '/v1/alerts/bulk', { ids: snoop.map((a) => a.id), action: 'resolve', note: 'reviewed with the manager', disposition: 'true_positive' });
    expect(json<{ results: { status: number }[] }>(resolved).results.map((r) => r.status)).toEqual(snoop.map(() => 200));
    expect(json<{ cases: CaseJson[] }>(await analyst.request('GET', '/v1/cases?status=RESOLVED&actor=dr-snoop')).cases.map((c) => c.id)).toEqual([caseId]);

    // The same user again, later: a new case, with the resolved one as prior.
    expect((await integration.request('POST', '/v1/events', glass('dr-snoop', 'MRN-CW-6', ago(20 * MIN)))).status).toBe(202);
    await waitForDetection(analyst);
    const fresh = json<{ alerts: CaseWorkAlert[] }>(await compliance.request('GET', '/v1/alerts?actor=dr-snoop&status=open')).alerts;
    const freshGlass = fresh.find((a) => a.ruleId === 'break-glass-access')!;
    expect(freshGlass.groupKey['patient.id']).toBe('MRN-CW-6');
    expect(freshGlass.caseId).toBeDefined();
    expect(freshGlass.caseId).not.toBe(caseId);
    expect(new Set(fresh.map((a) => a.caseId))).toEqual(new Set([freshGlass.caseId]));
    const newCase = await compliance.request('GET', `/v1/cases/${freshGlass.caseId}`);
    expect(newCase.status).toBe(200);
    const body = json<CaseJson>(newCase);
    expect(body).toMatchObject({ id: freshGlass.caseId, actor: 'dr-snoop', status: 'open', alertCount: fresh.length });
    expect(body.alerts!.map((a) => a.id).sort()).toEqual(fresh.map((a) => a.id).sort());
    expect(body.priorCases!.map((c) => [c.id, c.status, c.alertCount])).toEqual([[caseId, 'resolved', snoop.length]]);
    // Analysts see the case's patients as tokens.
    expect((await analyst.request('GET', `/v1/cases/${freshGlass.caseId}`)).body).not.toContain('MRN-CW-6');

    expect((await analyst.request('GET', '/v1/cases/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await analyst.request('GET', '/v1/cases/not-a-case')).status).toBe(400);
    const badList = await analyst.request('GET', '/v1/cases?status=closed');
    expect(badList.status).toBe(400);
    expect(json<{ errors: { pointer: string }[] }>(badList).errors.map((e) => e.pointer)).toEqual(['/query/status']);
  });

  it('refuses roles without the scope (403) and anonymous callers (401)', async () => {
    const integrationClient = await app.client('integration');
    const auditor = await app.client('auditor');
    const alertId = alerts[0].id;
    expect((await integrationClient.request('GET', '/v1/cases')).status).toBe(403);
    expect((await auditor.request('GET', `/v1/alerts/${alertId}/events`)).status).toBe(403);
    expect((await auditor.request('GET', `/v1/alerts/${alertId}/history`)).status).toBe(403);
    expect((await compliance.request('POST', '/v1/alerts/bulk', { ids: [alertId], action: 'acknowledge' })).status).toBe(403);
    expect((await compliance.request('POST', `/v1/alerts/${alertId}/comments`, { note: 'x' })).status).toBe(403);
    expect((await (await app.client(null)).request('GET', '/v1/cases')).status).toBe(401);
  });

  it('documents the new endpoints in OpenAPI', async () => {
    const doc = json<{ paths: Record<string, unknown> }>(await analyst.request('GET', '/docs-json'));
    for (const p of ['/v1/alerts/{id}/events', '/v1/alerts/{id}/history', '/v1/alerts/{id}/reopen', '/v1/alerts/{id}/assign', '/v1/alerts/{id}/comments', '/v1/alerts/bulk', '/v1/cases', '/v1/cases/{id}']) {
      expect({ p, documented: doc.paths[p] !== undefined }).toEqual({ p, documented: true });
    }
  });
});

describe('case work with STORE=elasticsearch (the Elasticsearch double over HTTP)', () => {
  let es: EsFakeServer;
  let t: TestApp;
  beforeAll(async () => {
    es = await startEsFakeServer();
    t = await startTestApp({ scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut! });
    const anon = await t.client(null);
    for (const until = Date.now() + 20_000; (await anon.request('GET', '/health/ready')).status !== 200; await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > until) throw new Error('the service did not become ready on the Elasticsearch double');
    }
  });
  afterAll(async () => {
    await t?.close();
    await es?.close();
  });

  /** Alerts reach the cluster through the outbox: poll until `n` match. */
  async function alertsWhen(client: ApiClient, query: string, n: number): Promise<CaseWorkAlert[]> {
    let alerts: CaseWorkAlert[] = [];
    for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      const res = await client.request('GET', `/v1/alerts?${query}`);
      expect(res.status).toBe(200);
      alerts = (JSON.parse(res.body) as { alerts: CaseWorkAlert[] }).alerts;
      if (alerts.length >= n) break;
    }
    return alerts;
  }

  it('filters, groups into cases, triages in bulk and shows the prior case, with patients only as tokens in the cluster', async () => {
    const integration = await t.client('integration', 'sample-ehr');
    const analyst = await t.client('soc_analyst', 'analyst-es');
    const compliance = await t.client('compliance_officer');
    const glass = (patient: string, at: string) =>
      accessEvent({ occurredAt: at, action: 'break_glass', purpose: 'EMERGENCY', actor: { id: 'dr-es', type: 'user', role: 'physician', ip: '10.6.6.6' }, patient: { id: patient } });
    const events = [glass('MRN-ESC-1', ago(50 * MIN)), glass('MRN-ESC-2', ago(45 * MIN)), accessEvent({ occurredAt: ago(44 * MIN), action: 'read', actor: { id: 'dr-es', type: 'user', role: 'physician', ip: '10.6.6.7' } })];
    expect((await integration.request('POST', '/v1/events', { events })).status).toBe(202);
    const alerts = (await alertsWhen(analyst, 'rule=BREAK-GLASS-ACCESS&actor=dr-es', 2)).filter((a) => a.ruleId === 'break-glass-access');
    expect(alerts).toHaveLength(2);

    // Events: enum in any case, relative time, IP filter (IPs are sealed in the cluster too).
    const reads = JSON.parse((await analyst.request('GET', '/v1/events?action=READ&actor=dr-es&from=now-1h')).body) as { events: { event: AccessEvent }[] };
    expect(reads.events.map((e) => e.event.id)).toEqual([events[2].id]);
    const byIp = JSON.parse((await analyst.request('GET', '/v1/events?ip=10.6.6.6')).body) as { events: { event: AccessEvent }[] };
    expect(byIp.events.map((e) => e.event.id).sort()).toEqual([events[0].id, events[1].id].sort());
    const byIntegration = JSON.parse((await analyst.request('GET', '/v1/events?integration=sample-ehr&actor=dr-es')).body) as { events: { event: AccessEvent }[] };
    expect(byIntegration.events.map((e) => e.event.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(JSON.parse((await analyst.request('GET', '/v1/events?integration=billing-feed&actor=dr-es')).body).events).toEqual([]);

    // Alerts by patient: a token for the analyst, the id for the compliance officer.
    const token = String(alerts.find((a) => a.evidence.eventIds[0] === events[1].id)!.groupKey['patient.id']);
    expect(JSON.parse((await analyst.request('GET', `/v1/alerts?patient=${token}`)).body).alerts.map((a: AlertJson) => a.evidence.eventIds)).toEqual([[events[1].id]]);
    expect(JSON.parse((await compliance.request('GET', '/v1/alerts?patient=MRN-ESC-2')).body).alerts.map((a: AlertJson) => a.evidence.eventIds)).toEqual([[events[1].id]]);
    const evidence = JSON.parse((await analyst.request('GET', `/v1/alerts/${alerts[0].id}/events`)).body) as { events: { event: AccessEvent }[] };
    expect(evidence.events.map((e) => e.event.id)).toEqual(alerts[0].evidence.eventIds);

    // One case for the user; resolved in bulk; a later alert opens a new case that shows it as prior.
    const caseIds = new Set(alerts.map((a) => a.caseId));
    expect(caseIds.size).toBe(1);
    const [caseId] = [...caseIds];
    const all = await alertsWhen(analyst, 'actor=dr-es', 2);
    const bulk = JSON.parse((await analyst.request('POST', '/v1/alerts/bulk', { ids: all.map((a) => a.id), action: 'resolve', note: 'reviewed', disposition: 'true_positive' })).body) as { results: { status: number }[] };
    expect(bulk.results.map((r) => r.status)).toEqual(all.map(() => 200));
    expect((await analyst.request('POST', `/v1/alerts/${alerts[0].id}/reopen`, { note: 'second look' })).status).toBe(200);
    expect((await analyst.request('POST', `/v1/alerts/${alerts[0].id}/resolve`, { note: 'confirmed', disposition: 'true_positive' })).status).toBe(200);
    const history = JSON.parse((await analyst.request('GET', `/v1/alerts/${alerts[0].id}/history`)).body) as { history: { action: string; by: string }[] };
    expect(history.history.map((h) => `${h.action} by ${h.by}`)).toEqual(['resolve by analyst-es', 'reopen by analyst-es', 'resolve by analyst-es']);

    expect((await integration.request('POST', '/v1/events', glass('MRN-ESC-3', ago(20 * MIN)))).status).toBe(202);
    const open = (await alertsWhen(analyst, 'actor=dr-es&status=open', 1)).filter((a) => a.ruleId === 'break-glass-access');
    expect(open).toHaveLength(1);
    expect(open[0].caseId).not.toBe(caseId);
    const detail = JSON.parse((await analyst.request('GET', `/v1/cases/${open[0].caseId}`)).body) as CaseJson;
    expect(detail).toMatchObject({ actor: 'dr-es', status: 'open' });
    expect(detail.priorCases!.map((c) => [c.id, c.status, c.alertCount])).toEqual([[caseId, 'resolved', all.length]]);

    const stored = JSON.stringify([...es.fake.indices.get('audit-alerts')!.values()].map((d) => d.source));
    expect(stored).toContain('dr-es');
    for (const phi of ['MRN-ESC-1', 'MRN-ESC-2', 'MRN-ESC-3', '10.6.6.6']) expect(stored).not.toContain(phi);
  });
});
