/**
 * Web console security over real HTTP and a real browser: no session sends the browser to sign-in
 * (and back after); a role without the page's scopes gets the 403 page (and the refusal is in the
 * access log); a state change without the CSRF token, or from another origin, is refused and changes
 * nothing; a session cookie planted before sign-in is never promoted; sign-out ends the session; the
 * console's CSP forbids inline script while the API keeps `default-src 'none'`; local accounts made by
 * the real `auditctl users add` (one-time password on the last line, scrypt hash at rest); and no
 * patient identifier reaches any service log line.
 */
import type { Browser } from 'playwright-core';
import { SQLITE_DB, SqliteDb } from '@app/storage';
import { runCli } from './support/cli';
import { cookieFrom, csrfOf, httpSignIn, launchBrowser, newContext, seedConsoleData, SEED_PATIENT, signIn, startConsoleApp, ConsoleApp } from './support/console-browser';

const PASSWORD = 'correct-horse-battery-staple-9';

describe('console security', () => {
  let t: ConsoleApp;
  let browser: Browser;
  let alertId: string;

  beforeAll(async () => {
    t = await startConsoleApp();
    await seedConsoleData(t);
    browser = await launchBrowser();
    const analyst = await t.client('soc_analyst');
    const alerts = JSON.parse((await analyst.request('GET', '/v1/alerts?rule=break-glass-access')).body) as { alerts: { id: string }[] };
    alertId = alerts.alerts[0]!.id;
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('without a session, every page sends the browser to sign-in, and back to the page after it', async () => {
    const res = await fetch(`${t.baseUrl}/console/alerts?status=open`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/sign-in?next=%2Fconsole%2Falerts%3Fstatus%3Dopen');
    // A bearer token is not a console credential.
    const withToken = await fetch(`${t.baseUrl}/console/alerts`, { redirect: 'manual', headers: { authorization: `Bearer ${await t.token('soc_analyst')}` } });
    expect(withToken.status).toBe(303);

    const otp = await t.addUser('sam', 'soc_analyst');
    await httpSignIn(t.baseUrl, 'sam', otp, PASSWORD);
    const { page, context } = await newContext(browser);
    await page.goto(`${t.baseUrl}/console/alerts?status=all`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.fill('#name', 'sam');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/console\/alerts\?status=all$/), page.click('button[type=submit]')]);
    await context.close();
  });

  it('shows a 403 page to a role without the page\u2019s scopes and records the refusal', async () => {
    const otp = await t.addUser('audrey', 'auditor');
    const s = await httpSignIn(t.baseUrl, 'audrey', otp, PASSWORD);
    for (const path of ['/console/patients', '/console/alerts', `/console/alerts/${alertId}`, '/console/holds']) {
      const res = await s.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 403 });
      const html = await res.text();
      expect(html).toContain('<h1>Not allowed</h1>');
      expect(html).toContain('does not have');
    }
    // The navigation offers only what the role may open.
    const home = await (await s.get('/console/')).text();
    expect(home).not.toContain('href="/console/alerts"');
    expect(home).toContain('href="/console/integrity"');
    const auditor = await t.client('auditor');
    const log = JSON.parse((await auditor.request('GET', '/v1/access-log?outcome=denied&limit=100')).body) as { entries: { principal: { sub: string }; route?: string; denial?: Record<string, unknown> }[] };
    expect(log.entries.filter((e) => e.principal.sub === 'audrey').map((e) => e.route)).toEqual(expect.arrayContaining(['GET /console/patients']));
  });

  it('refuses a state change without the CSRF token or from another origin, and changes nothing', async () => {
    const otp = await t.addUser('carl', 'soc_analyst');
    const s = await httpSignIn(t.baseUrl, 'carl', otp, PASSWORD);
    const ack = `/console/alerts/${alertId}/acknowledge`;
    const noToken = await s.post(ack, { note: 'x' });
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain('CSRF');
    const wrongToken = await s.post(ack, { _csrf: s.csrf.slice(0, -2) + 'xx' });
    expect(wrongToken.status).toBe(403);
    const otherSite = await s.post(ack, { _csrf: s.csrf }, { origin: 'https://evil.example' });
    expect(otherSite.status).toBe(403);
    const noOrigin = await fetch(`${t.baseUrl}${ack}`, { method: 'POST', redirect: 'manual', headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: s.csrf }) });
    expect(noOrigin.status).toBe(403);
    const analyst = await t.client('soc_analyst');
    expect(JSON.parse((await analyst.request('GET', `/v1/alerts/${alertId}`)).body).status).toBe('open');

    const ok = await s.post(ack, { _csrf: s.csrf, note: 'looking into it' });
    expect(ok.status).toBe(303);
    const after = JSON.parse((await analyst.request('GET', `/v1/alerts/${alertId}`)).body) as { status: string; acknowledgedBy: string };
    expect(after).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'carl' });

    // The sign-in form is protected too (login CSRF): no form token, no sign-in.
    const forged = await fetch(`${t.baseUrl}/console/sign-in`, { method: 'POST', redirect: 'manual', headers: { origin: t.baseUrl, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ name: 'carl', password: PASSWORD }) });
    expect(forged.status).toBe(400);
    expect(cookieFrom(forged, 'console-session')).toBeNull();
  });

  it('never promotes a session id planted before sign-in (fixation), and sign-out ends the session', async () => {
    const otp = await t.addUser('fay', 'soc_analyst');
    await httpSignIn(t.baseUrl, 'fay', otp, PASSWORD);
    const planted = 'A'.repeat(43);
    const { page, context } = await newContext(browser);
    await context.addCookies([{ name: 'console-session', value: planted, url: t.baseUrl }]);
    await signIn(page, t.baseUrl, 'fay', PASSWORD);
    const cookies = await context.cookies(t.baseUrl);
    const session = cookies.find((c) => c.name === 'console-session')!;
    expect(session.value).not.toBe(planted);
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect((await fetch(`${t.baseUrl}/console/alerts`, { redirect: 'manual', headers: { cookie: `console-session=${planted}` } })).status).toBe(303);
    expect((await fetch(`${t.baseUrl}/console/alerts`, { redirect: 'manual', headers: { cookie: `console-session=${session.value}` } })).status).toBe(200);

    // Signing in again replaces the session: the earlier id stops working.
    const first = await httpSignIn(t.baseUrl, 'fay', PASSWORD);
    const second = await httpSignIn(t.baseUrl, 'fay', PASSWORD);
    expect(second.cookie).not.toBe(first.cookie);
    // Each sign-in is its own session (another browser); sign-out ends this one only.
    const out = await second.post('/console/sign-out', { _csrf: second.csrf });
    expect(out.status).toBe(303);
    expect(cookieFrom(out, 'console-session')).toBe('console-session=');
    expect((await second.get('/console/alerts')).status).toBe(303);
    expect((await first.get('/console/alerts')).status).toBe(200);
    await context.close();
  });

  it('serves console pages under a strict CSP while the API keeps default-src none', async () => {
    const res = await fetch(`${t.baseUrl}/console/sign-in`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
    const api = await fetch(`${t.baseUrl}/health/live`);
    expect(api.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
  });

  it('makes accounts with auditctl users add: one-time password on the last line, scrypt at rest, must be changed', async () => {
    const r = runCli(['users', 'add', 'olga', '--role', 'compliance_officer', '--data-dir', t.dataDir]);
    expect(r.status).toBe(0);
    const otp = r.stdout.trim().split('\n').pop()!;
    expect(otp).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(runCli(['users', 'add', 'olga', '--role', 'admin', '--data-dir', t.dataDir]).status).toBe(1);
    const row = t.app.get<SqliteDb>(SQLITE_DB).prepare('SELECT password_hash, must_change FROM console_users WHERE name = ?').get('olga') as { password_hash: string; must_change: number };
    expect(row.password_hash).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(row.password_hash).not.toContain(otp);
    expect(row.must_change).toBe(1);
    // The one-time password signs in only to the password page.
    const page = await fetch(`${t.baseUrl}/console/sign-in`);
    const signedIn = await fetch(`${t.baseUrl}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookieFrom(page, 'console-signin')!, origin: t.baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: await csrfOf(page), name: 'olga', password: otp }),
    });
    expect(signedIn.headers.get('location')).toBe('/console/password');
    const cookie = cookieFrom(signedIn, 'console-session')!;
    const blocked = await fetch(`${t.baseUrl}/console/patients`, { redirect: 'manual', headers: { cookie } });
    expect(blocked.status).toBe(303);
    expect(blocked.headers.get('location')).toBe('/console/password');
    const s = await httpSignIn(t.baseUrl, 'olga', otp, PASSWORD);
    expect((await s.get('/console/patients')).status).toBe(200);
    // A wrong password is refused with the same words as an unknown name.
    const wrong = await fetch(`${t.baseUrl}/console/sign-in`);
    const refused = await fetch(`${t.baseUrl}/console/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookieFrom(wrong, 'console-signin')!, origin: t.baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: await csrfOf(wrong), name: 'olga', password: otp }),
    });
    expect(refused.status).toBe(401);
    expect(await refused.text()).toContain('The name or password is not right.');
  });

  it('writes no patient identifier to any service log line while the console is used', async () => {
    const otp = await t.addUser('pia', 'compliance_officer');
    const s = await httpSignIn(t.baseUrl, 'pia', otp, PASSWORD);
    expect((await s.get(`/console/patients?patient=${SEED_PATIENT}`)).status).toBe(200);
    expect((await s.get(`/console/reports/download?kind=patient-access&patient=${SEED_PATIENT}&format=csv`)).status).toBe(200);
    expect((await s.get(`/console/patients?patient=${SEED_PATIENT}&from=not-a-date`)).status).toBe(400);
    expect((await s.post('/console/holds', { _csrf: s.csrf, patient: SEED_PATIENT, reason: 'r' })).status).toBe(400);
    const consoleLines = t.logLines.filter((l) => l.includes('/console'));
    expect(consoleLines.length).toBeGreaterThan(10);
    expect(t.logLines.filter((l) => l.includes(SEED_PATIENT))).toEqual([]);
  });
});
