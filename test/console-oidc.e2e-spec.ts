/**
 * OpenID Connect sign-in against a real OpenID Provider (the `oidc-provider` package) started on
 * loopback by the test: authorization code flow with PKCE through the browser, the role taken from
 * the configured claim; a person whose claim names no console role is refused; the config keys are
 * validated at start.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { Browser } from 'playwright-core';
import { loadConfig } from '@app/core';
import { launchBrowser, newContext, seriousA11yViolations, startConsoleApp, ConsoleApp } from './support/console-browser';

// oidc-provider 7 is CommonJS without types here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Provider } = require('oidc-provider') as { Provider: new (issuer: string, config: object) => { callback(): http.RequestListener; proxy: boolean } };

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

const ROLES: Record<string, string> = { 'olivia.oidc': 'soc_analyst', 'mallory.oidc': 'integration' };

describe('console: OpenID Connect sign-in', () => {
  let t: ConsoleApp;
  let idp: http.Server;
  let browser: Browser;
  let issuer: string;
  const pkceSeen: string[] = [];

  beforeAll(async () => {
    const idpPort = await freePort();
    const appPort = await freePort();
    issuer = `http://127.0.0.1:${idpPort}`;
    const redirect = `http://127.0.0.1:${appPort}/console/oidc/callback`;
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'audit-console', client_secret: 'test-secret-0123456789', redirect_uris: [redirect], response_types: ['code'], grant_types: ['authorization_code'] }],
      claims: { openid: ['sub'], profile: ['audit_role', 'name'] },
      conformIdTokenClaims: false,
      pkce: { required: () => true, methods: ['S256'] },
      cookies: { keys: ['oidc-test-cookie-key'] },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, name: id, ...(ROLES[id] ? { audit_role: ROLES[id] } : {}) }) }),
    });
    const handle = provider.callback();
    idp = http.createServer((req, res) => {
      if (req.url?.startsWith('/auth') && req.url.includes('code_challenge=')) pkceSeen.push(new URL(req.url, issuer).searchParams.get('code_challenge_method') ?? '');
      handle(req, res);
    });
    await new Promise<void>((r) => idp.listen(idpPort, '127.0.0.1', () => r()));
    const env = { OIDC_ISSUER_URL: issuer, OIDC_CLIENT_ID: 'audit-console', OIDC_CLIENT_SECRET: 'test-secret-0123456789', OIDC_REDIRECT_URL: redirect, OIDC_ROLE_CLAIM: 'audit_role' };
    t = await startConsoleApp({ port: appPort }, env);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await new Promise((r) => idp?.close(r));
  });

  async function signInAtProvider(login: string) {
    const { page, context } = await newContext(browser);
    await page.goto(`${t.baseUrl}/console/sign-in`);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await Promise.all([page.waitForURL((u) => u.origin === issuer), page.click('a[href="/console/oidc/start"]')]);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'anything');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    if (new URL(page.url()).origin === issuer) await Promise.all([page.waitForURL((u) => u.origin === t.baseUrl), page.click('button[type=submit]')]);
    await page.waitForLoadState('load');
    return { page, context };
  }

  it('signs a person in through the provider with PKCE, with the role from the configured claim', async () => {
    const { page, context } = await signInAtProvider('olivia.oidc');
    expect(new URL(page.url()).pathname).toBe('/console/');
    await expect(page.locator('.who').innerText()).resolves.toContain('olivia.oidc (soc analyst)');
    await page.goto(`${t.baseUrl}/console/alerts`);
    expect(await page.title()).toContain('Alert queue');
    expect(pkceSeen).toContain('S256');
    const session = (await context.cookies(t.baseUrl)).find((c) => c.name === 'console-session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const auditor = await t.client('auditor');
    const log = JSON.parse((await auditor.request('GET', '/v1/access-log?actor=olivia.oidc&action=console.sign-in')).body) as { entries: { outcome: string; filters: Record<string, unknown>; principal: { role?: string } }[] };
    expect(log.entries).toEqual([expect.objectContaining({ outcome: 'success', filters: { method: 'oidc' }, principal: expect.objectContaining({ role: 'soc_analyst' }) })]);
    await context.close();
  });

  it('refuses a person whose role claim names no console role', async () => {
    const { page, context } = await signInAtProvider('mallory.oidc');
    expect(new URL(page.url()).pathname).toBe('/console/oidc/callback');
    await expect(page.locator('main').innerText()).resolves.toContain('names no console role');
    expect((await context.cookies(t.baseUrl)).find((c) => c.name === 'console-session')).toBeUndefined();
    await context.close();
  });

  it('refuses a callback it did not start (no state), and bad OIDC settings at start', async () => {
    const res = await fetch(`${t.baseUrl}/console/oidc/callback?code=abc&state=forged`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(() => loadConfig({ OIDC_ISSUER_URL: issuer })).toThrow(/OIDC_CLIENT_ID: required[\s\S]*OIDC_REDIRECT_URL: required/);
    expect(() => loadConfig({ OIDC_CLIENT_ID: 'x' })).toThrow(/OIDC_ISSUER_URL: required/);
    expect(() => loadConfig({ OIDC_ISSUER_URL: issuer, OIDC_CLIENT_ID: 'x', OIDC_REDIRECT_URL: 'https://a.example/elsewhere' })).toThrow(/OIDC_REDIRECT_URL: must end with \/console\/oidc\/callback/);
    expect(() => loadConfig({ CONSOLE_IDLE_TIMEOUT_MINUTES: '0' })).toThrow(/CONSOLE_IDLE_TIMEOUT_MINUTES/);
  });
});
