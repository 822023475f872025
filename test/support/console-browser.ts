/**
 * Browser-test harness of the web console: a seeded service (the real app in-process, with alerts
 * raised by real detection, an XSS payload in an event's `details` and in a rule title), console
 * accounts made with the real `users add` code path, Debian's chromium driven by playwright-core,
 * sign-in helpers, axe-core accessibility scans and screenshots into docs/screenshots/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ConsoleStore, hashPassword } from '@app/console';
import { AppConfig, loadConfig } from '@app/core';
import type { Role } from '@app/security';
import { SQLITE_DB, SqliteDb } from '@app/storage';
import { accessEvent } from './events';
import { waitForDetection } from './detection';
import { startTestApp, TestApp } from './test-app';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
const REPO = path.resolve(__dirname, '..', '..');

/** The XSS payloads planted in the seed: if any runs, it sets window.__xss. */
export const XSS_DETAIL = '<img src=x onerror="window.__xss=1">';
export const XSS_TITLE = 'Break-glass <script>window.__xss=2</script><img src=x onerror="window.__xss=3">';
/** Patients of the seed (PHI markers: no service log line may contain them). */
export const SEED_PATIENT = 'MRN-CONSOLE-77';

export interface ConsoleApp extends TestApp {
  /** Adds a local account (as `auditctl users add` does) and returns its one-time password. */
  addUser(name: string, role: Role): Promise<string>;
}

/** Rules dir: the default rules plus one whose title carries an XSS payload. */
function rulesDirWithXssTitle(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-rules-'));
  for (const f of fs.readdirSync(path.join(REPO, 'detection-rules'))) if (f.endsWith('.yml')) fs.copyFileSync(path.join(REPO, 'detection-rules', f), path.join(dir, f));
  const rule = fs
    .readFileSync(path.join(REPO, 'detection-rules', 'break-glass-access.yml'), 'utf8')
    .replace(/^id: break-glass-access$/m, 'id: break-glass-xss-title')
    .replace(/^title: .*$/m, `title: ${JSON.stringify(XSS_TITLE)}`);
  fs.writeFileSync(path.join(dir, 'break-glass-xss-title.yml'), rule);
  return dir;
}

export async function startConsoleApp(overrides: Partial<AppConfig> = {}, env: NodeJS.ProcessEnv = {}): Promise<ConsoleApp> {
  const base = loadConfig({ RULES_DIR: rulesDirWithXssTitle(), RUNBOOKS_DIR: path.join(REPO, 'runbooks'), ...env }, {});
  const t = await startTestApp({ detection: base.detection, console: base.console, ...overrides });
  const store = new ConsoleStore(t.app.get<SqliteDb>(SQLITE_DB));
  return {
    ...t,
    async addUser(name, role) {
      const password = `otp-${name}-${Math.random().toString(36).slice(2)}`;
      await store.putUser(name, role, await hashPassword(password), true);
      return password;
    },
  };
}

/** Seeds break-glass accesses (alerts of two rules, one with the XSS title) and ordinary reads of SEED_PATIENT. */
export async function seedConsoleData(t: TestApp): Promise<void> {
  const ehr = await t.client('integration');
  const events = [
    accessEvent({ occurredAt: '2026-03-02T09:00:00.000Z', action: 'read', patient: { id: SEED_PATIENT }, actor: { id: 'dr-jones', type: 'user', role: 'physician', ip: '10.9.9.9' } }),
    accessEvent({ occurredAt: '2026-03-02T09:30:00.000Z', action: 'read', patient: { id: SEED_PATIENT }, actor: { id: 'nurse-kim', type: 'user', role: 'nurse', ip: '10.9.9.8' }, details: { note: XSS_DETAIL } }),
    accessEvent({ occurredAt: '2026-03-02T10:00:00.000Z', action: 'break_glass', purpose: 'EMERGENCY', patient: { id: SEED_PATIENT }, actor: { id: 'dr-snoop', type: 'user', role: 'physician', ip: '10.9.9.7' }, details: { note: XSS_DETAIL } }),
    accessEvent({ occurredAt: '2026-03-02T10:05:00.000Z', action: 'read', patient: { id: SEED_PATIENT }, actor: { id: 'dr-snoop', type: 'user', role: 'physician', ip: '10.9.9.7' } }),
  ];
  const res = await ehr.request('POST', '/v1/events', { events });
  if (res.status !== 202) throw new Error(`seed: POST /v1/events answered ${res.status}: ${res.body}`);
  await waitForDetection(await t.client('soc_analyst'));
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** A fresh browser context (its own cookies) that records console errors and CSP violations. */
export async function newContext(browser: Browser): Promise<{ context: BrowserContext; page: Page; consoleErrors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  return { context, page, consoleErrors };
}

/** Signs in with a local account; when it is the first sign-in, sets `newPassword`. */
export async function signIn(page: Page, baseUrl: string, name: string, password: string, newPassword?: string): Promise<void> {
  await page.goto(`${baseUrl}/console/sign-in`);
  await page.fill('#name', name);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  if (new URL(page.url()).pathname === '/console/password') {
    if (!newPassword) throw new Error('the account must set a password; pass newPassword');
    await page.fill('#current', password);
    await page.fill('#password', newPassword);
    await page.fill('#confirm', newPassword);
    await Promise.all([page.waitForLoadState('load'), page.click('main button[type=submit]')]);
    if (new URL(page.url()).pathname === '/console/password') throw new Error(`password refused: ${await page.locator('main').innerText()}`);
  }
}

/** axe-core in the page: the serious and critical violations (id and the first target of each). */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, not as a <script> tag: the console's CSP refuses inline script.
  await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  const result = await page.evaluate(async () => {
    const g = globalThis as unknown as { document: unknown; axe: { run: (ctx: unknown, opts: object) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } };
    return g.axe.run(g.document, { resultTypes: ['violations'] });
  });
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}) at ${v.nodes[0]?.target.join(' ')}`);
}

/**
 * Takes a full-page screenshot. The documented pictures in docs/screenshots/ are rewritten only when
 * UPDATE_SCREENSHOTS=1, so a test run leaves the checkout clean; otherwise they go to a temporary folder.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.UPDATE_SCREENSHOTS === '1' ? SCREENSHOTS : path.join(os.tmpdir(), 'audit-console-screenshots');
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** A console session without a browser (fetch): the cookie and the CSRF token of the signed-in person. */
export interface HttpSession {
  cookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}

export function cookieFrom(res: Response, name: string): string | null {
  for (const c of res.headers.getSetCookie()) if (c.startsWith(`${name}=`)) return c.split(';')[0]!;
  return null;
}

export async function csrfOf(res: Response): Promise<string> {
  const m = /name="_csrf" value="([^"]+)"/.exec(await res.text());
  if (!m) throw new Error('no CSRF token on the page');
  return m[1]!;
}

/** Signs in over HTTP like the sign-in form does (first sign-in: sets `newPassword`). */
export async function httpSignIn(baseUrl: string, name: string, password: string, newPassword?: string, fetch: typeof globalThis.fetch = globalThis.fetch): Promise<HttpSession> {
  const page = await fetch(`${baseUrl}/console/sign-in`);
  const pre = (cookieFrom(page, 'console-signin') ?? cookieFrom(page, '__Host-console-signin'))!;
  const signInCsrf = await csrfOf(page);
  const res = await fetch(`${baseUrl}/console/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: pre, origin: baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: signInCsrf, name, password }),
  });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}`);
  // Under TLS the cookies carry the __Host- prefix.
  let cookie = (cookieFrom(res, 'console-session') ?? cookieFrom(res, '__Host-console-session'))!;
  const session = (c: string, csrf: string): HttpSession => ({
    cookie: c,
    csrf,
    get: (path) => fetch(`${baseUrl}${path}`, { redirect: 'manual', headers: { cookie: c } }),
    post: (path, form, headers = {}) =>
      fetch(`${baseUrl}${path}`, { method: 'POST', redirect: 'manual', headers: { cookie: c, origin: baseUrl, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) }),
  });
  if (res.headers.get('location') === '/console/password') {
    if (!newPassword) throw new Error('the account must set a password; pass newPassword');
    const csrf = await csrfOf(await fetch(`${baseUrl}/console/password`, { headers: { cookie } }));
    const changed = await session(cookie, csrf).post('/console/password', { _csrf: csrf, current: password, password: newPassword, confirm: newPassword });
    if (changed.status !== 303) throw new Error(`password change answered ${changed.status}`);
    cookie = (cookieFrom(changed, 'console-session') ?? cookieFrom(changed, '__Host-console-session'))!;
  }
  const home = await fetch(`${baseUrl}/console/`, { headers: { cookie } });
  return session(cookie, await csrfOf(home));
}
