/**
 * The SOC analyst in a real browser: signs in with a one-time password (and must set their own),
 * works the alert queue (counts by severity and rule, filters), opens an alert (reasons, evidence
 * timeline, the actor's other activity, the runbook), resolves it with a disposition and sees it in
 * the history; bulk-acknowledges the rest. Pages pass axe-core (no serious or critical violation),
 * planted XSS stays inert, and every page view lands in the access log.
 */
import type { Browser } from 'playwright-core';
import { launchBrowser, newContext, screenshot, seedConsoleData, seriousA11yViolations, signIn, startConsoleApp, ConsoleApp } from './support/console-browser';

describe('console: SOC analyst', () => {
  let t: ConsoleApp;
  let browser: Browser;

  beforeAll(async () => {
    t = await startConsoleApp();
    await seedConsoleData(t);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('signs in, triages the queue and resolves an alert with a disposition', async () => {
    const otp = await t.addUser('ana', 'soc_analyst');
    const { context, page, consoleErrors } = await newContext(browser);
    await signIn(page, t.baseUrl, 'ana', otp, 'correct-horse-battery-staple-9');
    await page.goto(`${t.baseUrl}/console/alerts`);
    expect(await page.title()).toContain('Alert queue');
    const rows = page.locator('table.grid tbody tr');
    expect(await rows.count()).toBe(2);
    // Counts by severity and by rule.
    await expect(page.locator('.counts').innerText()).resolves.toMatch(/high\s*2/);
    await expect(page.locator('.counts').innerText()).resolves.toContain('break-glass-access');
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'analyst-alert-queue');

    // Filter by rule.
    await page.fill('#f-rule', 'break-glass-access');
    await Promise.all([page.waitForURL(/rule=break-glass-access/), page.click('form.filters button')]);
    expect(await rows.count()).toBe(1);

    // The alert: evidence, actor's activity, runbook.
    await Promise.all([page.waitForURL(/\/console\/alerts\/[0-9a-f-]{36}$/), page.click('table.grid tbody a')]);
    const main = page.locator('main');
    await expect(main.locator('#h-evidence').innerText()).resolves.toContain('1 event');
    await expect(main.locator('section[aria-labelledby=h-activity] tbody tr').count()).resolves.toBe(2);
    await expect(main.locator('.runbook h3').count()).resolves.toBeGreaterThan(0);
    expect(await main.locator('.runbook table').count()).toBeGreaterThan(0);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'analyst-alert-detail');

    // Case: the user's case with both alerts.
    await expect(main.innerText()).resolves.toMatch(/Case \S+ about dr-snoop: 2 alert\(s\), 2 not resolved/);
    // Assign to me, comment, resolve with a disposition and reason, reopen.
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/assign"] button')]);
    await expect(main.innerText()).resolves.toContain('Assigned to ana.');
    await page.fill('#comment-note', 'Asked the ED charge nurse.');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/comment"] button')]);
    await page.check('input[name=disposition][value=true_positive]');
    await page.fill('#resolve-note', 'No emergency documented; referred to privacy office.');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/resolve"] button')]);
    await expect(main.innerText()).resolves.toContain('status resolved');
    await expect(main.innerText()).resolves.toContain('Disposition: true_positive.');
    await page.fill('#reopen-note', 'New information from the ED.');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/reopen"] button')]);
    await expect(main.innerText()).resolves.toContain('status open');
    const history = await main.locator('section[aria-labelledby=h-history] tbody').innerText();
    expect(history).toMatch(/ana\s+assign\s+open → open\s+assignee ana\./);
    expect(history).toMatch(/ana\s+comment\s+open → open\s+Asked the ED charge nurse\./);
    expect(history).toMatch(/ana\s+resolve\s+open → resolved\s+disposition true_positive\. No emergency documented/);
    expect(history).toMatch(/ana\s+reopen\s+resolved → open\s+New information from the ED\./);
    await page.check('input[name=disposition][value=explained]');
    await page.fill('#resolve-note', 'ED physician confirmed the emergency.');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/resolve"] button')]);
    // The API sees what the console did.
    const api = await t.client('soc_analyst');
    const id = new URL(page.url()).pathname.split('/').pop()!;
    expect(JSON.parse((await api.request('GET', `/v1/alerts/${id}`)).body)).toMatchObject({ status: 'resolved', disposition: 'explained', assignee: 'ana', resolvedBy: 'ana' });

    // Bulk triage: acknowledge what is left open.
    await page.goto(`${t.baseUrl}/console/alerts`);
    expect(await rows.count()).toBe(1);
    await page.check('table.grid tbody input[type=checkbox]');
    await page.selectOption('#bulk-action', 'acknowledge');
    await Promise.all([page.waitForURL(/done=1/), page.click('#bulk button')]);
    await expect(page.locator('table.grid tbody').innerText()).resolves.toContain('No alerts match');

    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(consoleErrors.filter((e) => !/Content Security Policy|Failed to load resource/.test(e))).toEqual([]);
    await context.close();

    // Every page view is in the access log, like an API read.
    const auditor = await t.client('auditor');
    const log = JSON.parse((await auditor.request('GET', '/v1/access-log?actor=ana&limit=100')).body) as { entries: { action: string; route?: string; principal: { via?: string } }[] };
    const actions = log.entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['console.sign-in', 'console.alerts.query', 'console.alerts.view', 'events.query']));
    expect(log.entries.find((e) => e.action === 'console.alerts.view')).toMatchObject({ route: 'GET /console/alerts/:id', principal: { via: 'session' } });
  });

  it('renders the XSS payloads in a rule title and in event details as text', async () => {
    const otp = await t.addUser('ana2', 'soc_analyst');
    const { context, page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'ana2', otp, 'correct-horse-battery-staple-9');
    await page.goto(`${t.baseUrl}/console/alerts?status=all&rule=break-glass-xss-title`);
    await expect(page.locator('table.grid tbody').innerText()).resolves.toContain('<script>window.__xss=2</script>');
    await Promise.all([page.waitForURL(/\/console\/alerts\/[0-9a-f-]{36}$/), page.click('table.grid tbody a')]);
    await expect(page.locator('main > h1').innerText()).resolves.toContain('<img src=x onerror=');
    await expect(page.locator('#h-evidence + ol + table').innerText()).resolves.toContain('onerror="window.__xss=1"');
    expect(await page.locator('main img, main script').count()).toBe(0);
    await page.waitForTimeout(200);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await context.close();
  });
});
