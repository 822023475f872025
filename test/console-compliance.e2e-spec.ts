/**
 * The compliance officer in a real browser: looks up who opened a patient's record (each access with
 * who, when, why, explained or not), a user's activity, downloads a signed report and checks it in
 * the console (a changed byte fails), places a legal hold that says how many records it covers and
 * releases it, verifies every chain, and sees the retention runs. axe-core finds no serious or
 * critical violation; each main page is saved as a screenshot; the views are in the access log with
 * the patient as a token.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newContext, screenshot, seedConsoleData, SEED_PATIENT, seriousA11yViolations, signIn, startConsoleApp, ConsoleApp } from './support/console-browser';

describe('console: compliance officer', () => {
  let t: ConsoleApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    t = await startConsoleApp();
    await seedConsoleData(t);
    browser = await launchBrowser();
    const otp = await t.addUser('cora', 'compliance_officer');
    ({ page } = await newContext(browser));
    await signIn(page, t.baseUrl, 'cora', otp, 'correct-horse-battery-staple-9');
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function checkReport(file: string): Promise<string> {
    await page.setInputFiles('#check-file', file);
    await page.click('#report-check button');
    // A function, not a string: the console's CSP (rightly) refuses eval.
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document;
      return !/^(|Checking…)$/.test(doc.getElementById('report-verdict')?.textContent ?? '');
    });
    return page.locator('#report-verdict').innerText();
  }

  it('looks up who opened a patient record, and a user activity', async () => {
    await page.goto(`${t.baseUrl}/console/`);
    await Promise.all([page.waitForURL(/\/console\/patients$/), page.click('nav a:text("Patient access")')]);
    await page.fill('#q-patient', SEED_PATIENT);
    await Promise.all([page.waitForURL(/patient=/), page.click('form.filters button')]);
    const rows = page.locator('table.grid tbody tr');
    expect(await rows.count()).toBe(4);
    const text = await page.locator('table.grid tbody').innerText();
    for (const who of ['dr-jones', 'nurse-kim', 'dr-snoop']) expect(text).toContain(who);
    expect(text).toMatch(/break_glass\s+success\s+Observation\/obs-1\s+EMERGENCY/);
    expect(await page.locator('figure.chart svg').count()).toBe(1);
    // The alerts naming this patient, linked (compliance officers read alerts).
    const alertLinks = page.locator('section[aria-labelledby=h-alerts] a');
    expect(await alertLinks.count()).toBe(2);
    // The break-glass access is cited by alerts: its Alert column links each of them (all, not only the first).
    const co = await t.client('compliance_officer');
    const events = JSON.parse((await co.request('GET', '/v1/events?actor=dr-snoop')).body) as { events: { event: { id: string; action: string } }[] };
    const breakGlass = events.events.map((v) => v.event).find((e) => e.action === 'break_glass')!;
    const citingLinks = async (filter: string) => {
      const { alerts } = JSON.parse((await co.request('GET', `/v1/alerts?${filter}`)).body) as { alerts: { id: string; evidence: { eventIds: string[] } }[] };
      return alerts.filter((a) => a.evidence.eventIds.includes(breakGlass.id)).map((a) => `/console/alerts/${a.id}`);
    };
    const alertColumn = () => page.locator('table.grid tbody tr', { hasText: 'break_glass' }).locator('td').last().locator('a:text("alert")');
    const citingPatient = await citingLinks(`patient=${SEED_PATIENT}`);
    expect(citingPatient.length).toBeGreaterThan(0);
    expect(await alertColumn().evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual(citingPatient);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'compliance-patient-access');

    await page.goto(`${t.baseUrl}/console/users`);
    await page.fill('#q-actor', 'dr-snoop');
    await Promise.all([page.waitForURL(/actor=/), page.click('form.filters button')]);
    expect(await page.locator('table.grid tbody tr').count()).toBe(2);
    // A row of the user's activity whose event is evidence of an alert shows that alert, linked.
    const citingUser = await citingLinks('actor=dr-snoop');
    expect(citingUser.length).toBeGreaterThan(0);
    expect(await alertColumn().evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual(citingUser);
    expect(await seriousA11yViolations(page)).toEqual([]);

    // Recorded like API reads: the patient as a token, never in clear.
    const auditor = await t.client('auditor');
    const log = JSON.parse((await auditor.request('GET', '/v1/access-log?actor=cora&action=console.patient-access')).body) as { entries: { filters: Record<string, unknown>; patient?: string; recordCount: number }[] };
    // The empty search page, then the search.
    expect(log.entries.map((e) => e.recordCount)).toEqual([4, 0]);
    expect(log.entries[0]!.patient).toMatch(/^ptk_/);
    expect(JSON.stringify(log.entries)).not.toContain(SEED_PATIENT);
  });

  it('downloads a signed report, checks it, and a changed byte fails the check', async () => {
    await page.goto(`${t.baseUrl}/console/reports?patient=${SEED_PATIENT}`);
    await page.selectOption('#r-format', 'csv');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('form[action="/console/reports/download"] button')]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-report-'));
    const file = path.join(dir, download.suggestedFilename());
    await download.saveAs(file);
    const csv = fs.readFileSync(file, 'utf8');
    expect(csv).toContain('dr-snoop');
    expect(csv).toContain('# report-signature: ');

    expect(await checkReport(file)).toMatch(/^Signature valid: patient-access report \(csv\)/);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'compliance-report-check');

    const tampered = path.join(dir, 'tampered.csv');
    fs.writeFileSync(tampered, csv.replace('dr-snoop', 'dr-snoqp'));
    expect(await checkReport(tampered)).toMatch(/^NOT valid: /);
  });

  it('places a legal hold showing how many records it covers, then releases it', async () => {
    await page.goto(`${t.baseUrl}/console/holds`);
    await page.fill('#h-patient', SEED_PATIENT);
    await page.fill('#h-case', 'CASE-2026-014');
    await page.fill('#h-reason', 'Litigation hold requested by counsel');
    await Promise.all([page.waitForURL(/placed=/), page.click('form[action="/console/holds"] button')]);
    const row = page.locator('table.grid tbody tr', { hasText: 'CASE-2026-014' });
    await expect(row.locator('.covers').innerText()).resolves.toBe('4');
    await expect(row.innerText()).resolves.toContain('active');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'compliance-legal-holds');

    // The API sees the same hold.
    const co = await t.client('compliance_officer');
    const holds = JSON.parse((await co.request('GET', '/v1/retention/holds?status=active')).body) as { holds: { caseId: string; createdBy: string }[] };
    expect(holds.holds).toEqual([expect.objectContaining({ caseId: 'CASE-2026-014', createdBy: 'cora' })]);

    await row.locator('input[name=note]').fill('Matter settled');
    await Promise.all([page.waitForLoadState('load'), row.locator('button').click()]);
    await expect(page.locator('table.grid tbody tr', { hasText: 'CASE-2026-014' }).innerText()).resolves.toMatch(/released[\s\S]*cora: Matter settled/);
  });

  it('verifies every chain and lists retention runs', async () => {
    await page.goto(`${t.baseUrl}/console/integrity`);
    await Promise.all([page.waitForURL(/verify=all/), page.click('a:text("Verify every chain now")')]);
    await expect(page.locator('p[role=status]').innerText()).resolves.toMatch(/^Intact: \d+ records/);
    await expect(page.locator('table.grid tbody').innerText()).resolves.toContain('data_access');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'compliance-integrity');

    await page.goto(`${t.baseUrl}/console/retention`);
    await expect(page.locator('main h1').innerText()).resolves.toBe('Retention runs');
    expect(await seriousA11yViolations(page)).toEqual([]);
  });
});
