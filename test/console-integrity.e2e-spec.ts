/**
 * The integrity break in the web console (issue 15), in a real browser: once a tampered derived
 * column is known, the `integrity-break` alert is in the analyst's alert queue and opens with its
 * runbook; a page that would be drawn from the tampered index (an alert whose actor's activity is
 * searched) shows "Audit log integrity is broken" naming chain, seq and column instead of a partial
 * answer, and no record content.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser, newContext, seedConsoleData, signIn, startConsoleApp, ConsoleApp } from './support/console-browser';
import { waitUntil } from './support/webhook-receiver';

describe('console: integrity break', () => {
  let t: ConsoleApp;
  let browser: Browser;

  beforeAll(async () => {
    // No scheduled verification: the break becomes known through a query that re-checks its rows.
    t = await startConsoleApp({ integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, verifyOnStartRecords: 0, verifyIntervalSeconds: 0, verifyFullIntervalHours: 0 } });
    await seedConsoleData(t);
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('lists the integrity-break alert in the queue and refuses pages drawn from the tampered index', async () => {
    const analyst = await t.client('soc_analyst');
    const glass = JSON.parse((await analyst.request('GET', '/v1/alerts?rule=break-glass-access')).body).alerts as { id: string }[];
    expect(glass).toHaveLength(1);
    // An insider with file access moves dr-snoop's read to another actor in the index.
    const db = new Database(path.join(t.dataDir, 'audit.db'));
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name GLOB 'events_p[0-9]*'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${name}`);
    const seq = (db.prepare("SELECT seq FROM events WHERE chain = 'data_access' AND actor_id = 'dr-snoop' AND action = 'read'").get() as { seq: number }).seq;
    db.prepare("UPDATE events SET actor_id = 'dr-jones' WHERE chain = 'data_access' AND seq = ?").run(seq);
    db.close();
    // A search returning the row finds the mismatch: the break is known from now on.
    expect((await (await t.client('compliance_officer')).request('GET', '/v1/events?actor=dr-jones')).status).toBe(500);
    await waitUntil('the integrity-break alert', async () => JSON.parse((await analyst.request('GET', '/v1/alerts?rule=integrity-break')).body).alerts.length === 1, 10_000);

    const otp = await t.addUser('ivy', 'soc_analyst');
    const { page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'ivy', otp, 'correct-horse-battery-staple-9');
    await page.goto(`${t.baseUrl}/console/alerts?rule=integrity-break`);
    const queue = await page.locator('main').innerText();
    expect(queue).toContain('Audit log integrity break');
    const brk = JSON.parse((await analyst.request('GET', '/v1/alerts?rule=integrity-break')).body).alerts[0] as { id: string };
    const detail = await page.goto(`${t.baseUrl}/console/alerts/${brk.id}`);
    expect(detail!.status()).toBe(200);
    expect(await page.locator('main').innerText()).toContain('auditctl verify');

    // dr-snoop's alert searches the actor's activity in the tampered index: refused, loudly.
    const res = await page.goto(`${t.baseUrl}/console/alerts/${glass[0].id}`);
    expect(res!.status()).toBe(500);
    const text = await page.locator('main').innerText();
    expect(text).toContain('Audit log integrity is broken');
    expect(text).toContain(`chain data_access seq ${seq} kind modified column actor_id`);
    expect(text).not.toMatch(/MRN-CONSOLE|dr-snoop|dr-jones/);
  }, 120_000);
});
