/**
 * Test-send from the console's admin page, in a real browser (Debian's chromium through
 * playwright-core) against real HTTPS webhook receivers on loopback: the admin presses "Send test" on
 * a destination's row and the receiver gets a signed message of kind `test` (rule `delivery-test`,
 * no identifiers) while the page says it was delivered; a destination whose receiver answers 500
 * shows the short reason and no secret or URL. Each test is in the access log. The button is a
 * CSRF-protected POST for admins only: an analyst sees no button and is refused the POST, and a POST
 * without the CSRF token is refused. Screenshot: docs/screenshots/admin-feeds-test-send.png.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { ConsoleApp, httpSignIn, launchBrowser, newContext, screenshot, seriousA11yViolations, signIn, startConsoleApp } from './support/console-browser';
import { tempDataDir } from './support/test-app';
import { startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

const SECRET = 'whsec-console-test-0123456789';
const BROKEN_SECRET = 'whsec-broken-secret-9876543210';

let t: ConsoleApp;
let browser: Browser;
let good: WebhookReceiver;
let broken: WebhookReceiver;

beforeAll(async () => {
  const work = tempDataDir('alert-console-');
  good = await startWebhookReceiver(path.join(work, 'good'), SECRET);
  broken = await startWebhookReceiver(path.join(work, 'broken'), BROKEN_SECRET);
  broken.mode = '500';
  const file = path.join(work, 'destinations.yaml');
  fs.writeFileSync(
    file,
    [
      'consoleUrl: https://audit.example.test',
      'destinations:',
      '  - name: soc-hook',
      '    type: webhook',
      `    url: ${good.url}`,
      `    secret: ${SECRET}`,
      `    caFile: ${good.caFile}`,
      '  - name: pager-broken',
      '    type: webhook',
      `    url: ${broken.url}`,
      `    secret: ${BROKEN_SECRET}`,
      `    caFile: ${broken.caFile}`,
      '    timeoutMs: 2000',
    ].join('\n'),
  );
  t = await startConsoleApp({ alertDestinationsFile: file });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await good?.close();
  await broken?.close();
});

/** The access log entries of one person, read as an auditor reads them. */
async function accessLogOf(sub: string): Promise<{ action: string; filters: Record<string, string> }[]> {
  const res = await (await t.client('auditor')).request('GET', `/v1/access-log?actor=${sub}&limit=100`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { entries: { action: string; filters: Record<string, string> }[] }).entries;
}

describe('console: test-send to an alert destination', () => {
  it('sends a signed test message from the admin page and shows it delivered; a failing destination shows its reason', async () => {
    const otp = await t.addUser('ada', 'admin');
    const { context, page, consoleErrors } = await newContext(browser);
    await signIn(page, t.baseUrl, 'ada', otp, 'admin-passphrase-long-enough-7');
    await page.goto(`${t.baseUrl}/console/admin/feeds`);
    await expect(page.locator('table[aria-labelledby=dest-h] tbody tr').count()).resolves.toBe(2);

    await Promise.all([page.waitForLoadState('load'), page.click('button[aria-label="Send test to soc-hook"]')]);
    const ok = (await page.locator('#test-result').innerText()).trim();
    expect(ok).toMatch(/^Delivered: test message [0-9a-f-]{36} to soc-hook \(webhook\) in \d+ ms\.$/);
    expect(good.received).toHaveLength(1);
    const got = good.received[0]!;
    expect(got).toMatchObject({ event: 'test', signatureValid: true, accepted: true });
    expect(got.deliveryId).toBe(/[0-9a-f-]{36}/.exec(ok)![0]);
    expect(got.body).toMatchObject({ kind: 'test', destination: 'soc-hook', count: 1, alerts: [{ ruleId: 'delivery-test', reasons: ['delivery-test'], link: 'https://audit.example.test/console/alerts' }] });
    expect(got.body.alerts[0].actor).toBeUndefined();
    expect(got.body.alerts[0].patient).toBeUndefined();
    // The test message is not an alert: nothing enters the outbox, the status counts stay at zero.
    const admin = await t.client('admin');
    const status = JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body) as { destinations: { name: string; delivered: number; queueDepth: number }[] };
    expect(status.destinations.find((d) => d.name === 'soc-hook')).toMatchObject({ delivered: 0, queueDepth: 0 });
    expect(await seriousA11yViolations(page)).toEqual([]);
    await screenshot(page, 'admin-feeds-test-send');

    await Promise.all([page.waitForLoadState('load'), page.click('button[aria-label="Send test to pager-broken"]')]);
    const failed = (await page.locator('#test-result').innerText()).trim();
    expect(failed).toBe('Test message to pager-broken (webhook) failed: HTTP 500.');
    await expect(page.locator('#test-result').getAttribute('role')).resolves.toBe('alert');
    expect(broken.received.length).toBeGreaterThanOrEqual(1);
    expect(broken.received[0]).toMatchObject({ event: 'test', signatureValid: true, accepted: false });
    const html = await page.content();
    for (const secret of [SECRET, BROKEN_SECRET, broken.url, good.url]) expect(html).not.toContain(secret);
    expect(consoleErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]); // the browser's own favicon request
    await context.close();

    // Both tests in the access log, with the outcome and the short reason, without secret or URL.
    const entries = (await accessLogOf('ada')).filter((e) => e.action === 'console.admin.delivery.test');
    expect(entries.map((e) => e.filters).sort((a, b) => a.destination.localeCompare(b.destination))).toEqual([
      { destination: 'pager-broken', deliveryId: expect.stringMatching(/^[0-9a-f-]{36}$/), outcome: 'failed', error: 'HTTP 500' },
      { destination: 'soc-hook', deliveryId: got.deliveryId, outcome: 'delivered' },
    ]);
    expect(JSON.stringify(entries)).not.toContain(SECRET);
    // One PHI-free log fact per test, with its outcome.
    const facts = t.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((f) => f.msg === 'alert delivery test');
    expect(facts.map((f) => [f.destination, f.outcome])).toEqual(expect.arrayContaining([['soc-hook', 'delivered'], ['pager-broken', 'failed']]));
  });

  it('is for admins only, and refuses a POST without the CSRF token or naming no configured destination', async () => {
    const analystOtp = await t.addUser('andy', 'soc_analyst');
    const analyst = await httpSignIn(t.baseUrl, 'andy', analystOtp, 'analyst-passphrase-long-enough-7');
    const feeds = await analyst.get('/console/admin/feeds');
    expect(feeds.status).toBe(200);
    const page = await feeds.text();
    expect(page).toContain('soc-hook');
    expect(page).not.toContain('Send test');
    const before = good.received.length;
    const refused = await analyst.post('/console/admin/feeds/test-delivery', { _csrf: analyst.csrf, destination: 'soc-hook' });
    expect(refused.status).toBe(403);

    const adminOtp = await t.addUser('ari', 'admin');
    const admin = await httpSignIn(t.baseUrl, 'ari', adminOtp, 'admin-passphrase-long-enough-8');
    const noCsrf = await admin.post('/console/admin/feeds/test-delivery', { destination: 'soc-hook' });
    expect(noCsrf.status).toBe(403);
    expect(good.received.length).toBe(before);

    const unknown = await admin.post('/console/admin/feeds/test-delivery', { _csrf: admin.csrf, destination: 'no-such-<b>hook</b>' });
    expect(unknown.status).toBe(400);
    const body = await unknown.text();
    expect(body).toContain('must name a configured alert destination');
    expect(body).not.toContain('no-such-');
    expect(good.received.length).toBe(before);
  });
});
