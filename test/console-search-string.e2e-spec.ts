/**
 * The recorded search string in the web console (issues 14 and 21), in real Chromium: a clerk's
 * Medplum-shaped name search whose `name=` value carries `<script>` and `<img onerror>` text, then
 * the searched patient's chart (the `name-search-then-record` scenario of
 * name-search-snooping.e2e-spec.ts, posted over HTTP). The compliance officer (identified data) sees
 * the search as sent on the user's activity page and on the alert; the SOC analyst sees only its
 * redacted form (`Patient?name=*`) on the alert's evidence and the actor's activity, and never the
 * name. The attacker-controlled text is shown as text: no script runs, no element is injected,
 * axe-core finds no serious issue, and each view is in the access log like the other page views.
 */
import type { Browser } from 'playwright-core';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { allAlerts, waitForDetection } from './support/detection';
import { registerPhiMarkers } from './support/log-capture';
import { launchBrowser, newContext, screenshot, seriousA11yViolations, signIn, startConsoleApp, ConsoleApp } from './support/console-browser';

const CLERK = 'Practitioner/clerk-console-5511';
const SNOOPED = { id: 'MRN-CONSOLE-SEARCH-8801', family: 'Przybylska' };
const OTHER = { id: 'MRN-CONSOLE-SEARCH-8802', family: 'Oyelaran' };
/** Attacker-controlled search text: it would set window.__xss if the console ever rendered it as HTML. */
const PAYLOAD = '<script>window.__xss=4</script><img src=x onerror="window.__xss=5">';
const SEARCH = `Patient?name=${SNOOPED.family.toLowerCase()} ${PAYLOAD}`;
const REDACTED = 'Patient?name=*';

/** A Medplum AuditEvent (packages/server/src/util/auditevent.ts shape): a search or a read by `who`. */
function medplumEvent(who: string, recorded: Date, entity: object, subtype: 'search' | 'read'): object {
  return {
    resourceType: 'AuditEvent',
    meta: { project: 'c0ffee00-1111-4222-8333-444455556666' },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: subtype, display: subtype }],
    action: subtype === 'search' ? 'E' : 'R',
    recorded: recorded.toISOString(),
    outcome: '0',
    source: { observer: { identifier: { value: 'https://api.medplum.example/' } } },
    agent: [{ who: { reference: who }, requestor: true, network: { address: '198.51.100.23', type: '2' } }],
    entity: [entity],
  };
}

async function postScenario(integration: ApiClient, now: number): Promise<void> {
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
  const since = new Date(now - 30 * 24 * 3_600_000).toISOString();
  const context = async (kind: string, records: unknown[]) => {
    const res = await integration.request('POST', `/v1/context/${kind}`, { records });
    expect(JSON.parse(res.body)).toEqual({ accepted: records.length, rejected: [] });
  };
  await context('users', [{ id: CLERK, family: 'Halvorsen', department: 'registration', status: 'active', effectiveAt: since }]);
  await context('patients', [SNOOPED, OTHER].map((p) => ({ ...p, effectiveAt: since })));
  const post = async (resource: object) => {
    const res = await integration.request('POST', '/fhir/AuditEvent', resource, 'application/fhir+json');
    expect(res.status).toBe(201);
  };
  await post(medplumEvent(CLERK, at(20), { query: SEARCH }, 'search'));
  await post(medplumEvent(CLERK, at(18), { what: { reference: `Patient/${OTHER.id}` } }, 'read'));
  await post(medplumEvent(CLERK, at(15), { what: { reference: `Patient/${SNOOPED.id}` } }, 'read'));
}

type LogEntry = { action: string; route?: string; recordCount: number; filters?: Record<string, unknown>; principal: { via?: string } };

describe('console: the search string on activity and alert pages', () => {
  let t: ConsoleApp;
  let browser: Browser;
  let alertId: string;

  beforeAll(async () => {
    registerPhiMarkers('name', [SNOOPED.family, OTHER.family]);
    registerPhiMarkers('patient-id', [SNOOPED.id, OTHER.id]);
    t = await startConsoleApp();
    const analyst = await t.client('soc_analyst');
    await postScenario(await t.client('integration'), Date.now());
    await waitForDetection(analyst);
    const alerts = await allAlerts(analyst, 'rule=name-search-then-record');
    expect(alerts).toHaveLength(1);
    alertId = alerts[0]!.id;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function accessLog(actor: string): Promise<LogEntry[]> {
    const res = await (await t.client('auditor')).request('GET', `/v1/access-log?actor=${actor}&limit=100`);
    const entries = (JSON.parse(res.body) as { entries: LogEntry[] }).entries;
    // The access log never holds the searched name either.
    expect(res.body.toLowerCase()).not.toContain(SNOOPED.family.toLowerCase());
    return entries;
  }

  it('a compliance officer sees the search as sent, as text, on the user page and the alert', async () => {
    const otp = await t.addUser('cora', 'compliance_officer');
    const { context, page, consoleErrors } = await newContext(browser);
    await signIn(page, t.baseUrl, 'cora', otp, 'correct-horse-battery-staple-9');

    await page.goto(`${t.baseUrl}/console/users`);
    await page.fill('#q-actor', CLERK);
    await Promise.all([page.waitForURL(/actor=/), page.click('form.filters button')]);
    await expect(page.locator('table.grid tbody tr').count()).resolves.toBe(3);
    // Only the search event has a search, shown exactly as sent (the markup as characters).
    const searches = page.locator('table.grid tbody code.query');
    await expect(searches.allInnerTexts()).resolves.toEqual([SEARCH]);
    await expect(page.locator('table.grid tbody tr', { hasText: 'searched' }).innerText()).resolves.toMatch(/query\s+success/);
    const html = await page.content();
    expect(html).toContain('&lt;script&gt;window.__xss=4&lt;/script&gt;');
    expect(html).not.toContain('<script>window.__xss');
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'compliance-user-search');

    // The patient's page: the search names no patient, so it is not an access to the record, but the
    // alert naming the patient brings it: who searched for the name before opening the chart.
    await page.goto(`${t.baseUrl}/console/patients`);
    await page.fill('#q-patient', SNOOPED.id);
    await Promise.all([page.waitForURL(/patient=/), page.click('form.filters button')]);
    await expect(page.locator('table.grid[aria-label^="Accesses"] tbody tr').count()).resolves.toBe(1);
    const behind = page.locator('section[aria-labelledby=h-searches] tbody tr');
    await expect(behind.count()).resolves.toBe(1);
    await expect(behind.locator('code.query').innerText()).resolves.toBe(SEARCH);
    await expect(behind.innerText()).resolves.toContain(CLERK);
    await expect(behind.locator('a').getAttribute('href')).resolves.toBe(`/console/alerts/${alertId}`);
    expect(await page.content()).not.toContain('<script>window.__xss');
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'compliance-patient-search');

    // The alert: the search in the evidence table, its timeline tick and the actor's activity.
    await page.goto(`${t.baseUrl}/console/alerts/${alertId}`);
    await expect(page.locator('section[aria-labelledby=h-evidence] table code.query').allInnerTexts()).resolves.toEqual([SEARCH]);
    await expect(page.locator('.timeline .tick .sr').first().innerText()).resolves.toContain(`search ${SEARCH}`);
    await expect(page.locator('section[aria-labelledby=h-activity] code.query').allInnerTexts()).resolves.toEqual([SEARCH]);
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);

    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(consoleErrors.filter((e) => !/Content Security Policy|Failed to load resource/.test(e))).toEqual([]);
    await context.close();

    const log = await accessLog('cora');
    // The empty form, then the user's three events; the alert with its evidence (2) and, separately, the activity read.
    expect(log.filter((e) => e.action === 'console.user-activity').map((e) => e.recordCount)).toEqual([3, 0]);
    // The patient page: the empty form, then the one access; the alert's evidence read for its search, each event recorded.
    expect(log.filter((e) => e.action === 'console.patient-access').map((e) => e.recordCount)).toEqual([1, 0]);
    expect(log.filter((e) => e.action === 'events.read' && e.filters?.alert === alertId).length).toBeGreaterThanOrEqual(2);
    expect(log.find((e) => e.action === 'console.alerts.view')).toMatchObject({ route: 'GET /console/alerts/:id', recordCount: 3, principal: { via: 'session' } });
    expect(log.find((e) => e.action === 'events.query' && e.route === 'GET /console/alerts/:id')).toMatchObject({ recordCount: 3 });
  });

  it('a SOC analyst sees only the redacted search on the alert evidence, never the name', async () => {
    const otp = await t.addUser('ana', 'soc_analyst');
    const { context, page, consoleErrors } = await newContext(browser);
    await signIn(page, t.baseUrl, 'ana', otp, 'correct-horse-battery-staple-9');
    await page.goto(`${t.baseUrl}/console/alerts?rule=name-search-then-record`);
    await Promise.all([page.waitForURL(/\/console\/alerts\/[0-9a-f-]{36}$/), page.click('table.grid tbody a')]);
    expect(new URL(page.url()).pathname).toBe(`/console/alerts/${alertId}`);

    await expect(page.locator('section[aria-labelledby=h-evidence] table code.query').allInnerTexts()).resolves.toEqual([REDACTED]);
    await expect(page.locator('.timeline .tick .sr').first().innerText()).resolves.toContain(`search ${REDACTED}`);
    await expect(page.locator('section[aria-labelledby=h-activity] code.query').allInnerTexts()).resolves.toEqual([REDACTED]);
    const html = (await page.content()).toLowerCase();
    for (const secret of [SNOOPED.family.toLowerCase(), SNOOPED.id.toLowerCase(), 'xss=4', 'xss=5']) expect(html).not.toContain(secret);
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'analyst-alert-search-redacted');
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(consoleErrors.filter((e) => !/Content Security Policy|Failed to load resource/.test(e))).toEqual([]);
    await context.close();

    const log = await accessLog('ana');
    expect(log.find((e) => e.action === 'console.alerts.view')).toMatchObject({ route: 'GET /console/alerts/:id', recordCount: 3, principal: { via: 'session' } });
  });

  it('never logs the searched name', () => {
    const log = t.logLines.join('\n').toLowerCase();
    for (const p of [SNOOPED, OTHER]) expect(log).not.toContain(p.family.toLowerCase());
  });
});
