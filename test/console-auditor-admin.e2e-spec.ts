/**
 * The auditor and the admin in a real browser (Debian's chromium through playwright-core), on a
 * seeded service. The auditor drops an export's files on the in-browser verifier and sees it
 * verified, then a copy with one changed byte and sees it fail at that record (the same break the
 * service's own offline verifier names); lists the signed checkpoints; checks an event's proof in
 * the page. The admin adds a person (one-time password shown once, and it signs in), switches a
 * rule off (with the audit trail, and detection honours it), issues an integration token that
 * posts, then revokes it and the service refuses it (each change in the access log, without the secret); the alert-volume chart and a patient's access timeline (on the
 * patient access page) render as accessible SVG. Every
 * page passes axe-core (no serious or critical violation); screenshots go to docs/screenshots/.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { ChainBreak } from '@app/ledger';
import { CheckpointService, exportChain, verifyExport } from '@app/pipeline';
import { KEY_PROVIDER, KeyProvider } from '@app/security';
import { CHECKPOINT_STORE, CheckpointStore, EVENT_STORE, EventStore } from '@app/storage';
import { accessEvent } from './support/events';
import { allAlerts, waitForDetection } from './support/detection';
import { ConsoleApp, SEED_PATIENT, launchBrowser, newContext, screenshot, seedConsoleData, seriousA11yViolations, signIn, startConsoleApp } from './support/console-browser';

const CHAIN = 'data_access';
let t: ConsoleApp;
let browser: Browser;
let exportDir: string;
let tamperedDir: string;
/** The export as a cold archive keeps it: records gzip-compressed. */
let gzipDir: string;
/** The record whose event has one changed byte in the tampered copy. */
const TAMPERED_SEQ = 2;
const scratch: string[] = [];

beforeAll(async () => {
  t = await startConsoleApp();
  await seedConsoleData(t);
  const ehr = await t.client('integration');
  const more = Array.from({ length: 40 }, (_, i) => accessEvent({ occurredAt: `2026-03-0${1 + (i % 5)}T0${i % 9}:00:00.000Z`, patient: { id: `MRN-AUD-${i}` } }));
  expect((await ehr.request('POST', '/v1/events', { events: more })).status).toBe(202);
  await waitForDetection(await t.client('soc_analyst'));

  // The export an auditor would make with `npx auditctl export --chain data_access --out dir`.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'console-export-'));
  scratch.push(root);
  exportDir = path.join(root, 'export');
  await exportChain(t.app.get<EventStore>(EVENT_STORE), t.app.get<CheckpointStore>(CHECKPOINT_STORE), {
    chain: CHAIN,
    outDir: exportDir,
    publicKeys: () => t.app.get<KeyProvider>(KEY_PROVIDER).publicKeys(),
    sealer: t.app.get(CheckpointService),
  });
  // A copy with one byte of one record's event changed (a digit of its occurredAt).
  tamperedDir = path.join(root, 'tampered');
  fs.cpSync(exportDir, tamperedDir, { recursive: true });
  const file = path.join(tamperedDir, 'records.ndjson');
  const bytes = fs.readFileSync(file);
  let line = 0;
  let at = -1;
  for (let i = 0; i < bytes.length && at < 0; i++) {
    if (line === TAMPERED_SEQ && bytes.subarray(i, i + 15).toString() === 'occurredAt\\":\\"') at = i + 18;
    if (bytes[i] === 0x0a) line++;
  }
  expect(at).toBeGreaterThan(0);
  bytes[at] = bytes[at] === 0x36 ? 0x37 : 0x36;
  fs.writeFileSync(file, bytes);
  gzipDir = path.join(root, 'gzip');
  fs.cpSync(exportDir, gzipDir, { recursive: true });
  fs.writeFileSync(path.join(gzipDir, 'records.ndjson.gz'), gzipSync(fs.readFileSync(path.join(gzipDir, 'records.ndjson'))));
  fs.rmSync(path.join(gzipDir, 'records.ndjson'));
  const manifest = JSON.parse(fs.readFileSync(path.join(gzipDir, 'manifest.json'), 'utf8')) as { records: { file: string } };
  manifest.records.file = 'records.ndjson.gz';
  fs.writeFileSync(path.join(gzipDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

async function pageChecks(page: Page, name: string): Promise<void> {
  expect({ name, violations: await seriousA11yViolations(page) }).toEqual({ name, violations: [] });
  await screenshot(page, name);
}

interface AccessLogEntry {
  action: string;
  outcome: string;
  principal: { sub: string; via?: string };
  filters: Record<string, unknown>;
}

/** A person's entries in the access log, read as an auditor reads it (GET /v1/access-log). */
async function accessLogOf(sub: string): Promise<AccessLogEntry[]> {
  const res = await (await t.client('auditor')).request('GET', `/v1/access-log?actor=${sub}&limit=100`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { entries: AccessLogEntry[] }).entries;
}

function filesOf(dir: string): string[] {
  return fs.readdirSync(dir).map((f) => path.join(dir, f));
}

describe('console: auditor', () => {
  it('verifies an export in the browser, then sees a copy with one changed byte fail at that record', async () => {
    const server = (await verifyExport(tamperedDir, { workers: 1 })).break as ChainBreak;
    expect(server).toMatchObject({ chain: CHAIN, seq: TAMPERED_SEQ, kind: 'modified' });

    const otp = await t.addUser('audrey', 'auditor');
    const { context, page, consoleErrors } = await newContext(browser);
    await signIn(page, t.baseUrl, 'audrey', otp, 'auditor-passphrase-long-enough-1');
    await page.goto(`${t.baseUrl}/console/verify`);
    await page.waitForLoadState('networkidle');
    const requests: string[] = [];
    page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
    await page.setInputFiles('#v-files', filesOf(exportDir));
    await page.click('#verifier button[type=submit]');
    const verdict = page.locator('#verify-verdict');
    await verdict.waitFor();
    await expect(verdict.innerText()).resolves.toMatch(/^Export verified: \d+ records of chain data_access and \d+ signed checkpoints/);
    expect(await page.locator('#verify-result li.step[data-state=ok]').count()).toBe(6);
    await pageChecks(page, 'auditor-verify-ok');

    await page.setInputFiles('#v-files', filesOf(tamperedDir));
    await page.click('#verifier button[type=submit]');
    await page.locator('#verify-verdict.bad').waitFor();
    await expect(verdict.innerText()).resolves.toContain(`NOT valid: chain ${CHAIN}, seq ${server.seq}, ${server.kind}`);
    await expect(page.locator('li.step[data-step=records]').getAttribute('data-state')).resolves.toBe('bad');
    await pageChecks(page, 'auditor-verify-tampered');

    // Records kept gzip-compressed (as cold archives keep them) are unpacked in the page.
    expect((await verifyExport(gzipDir, { workers: 1 })).ok).toBe(true);
    await page.setInputFiles('#v-files', filesOf(gzipDir));
    await page.click('#verifier button[type=submit]');
    await page.locator('#verify-verdict.ok').waitFor();
    await expect(verdict.innerText()).resolves.toMatch(/^Export verified: \d+ records/);

    // Everything ran in the page: it made no request at all while checking the three exports.
    expect(requests).toEqual([]);
    expect(consoleErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]); // the browser's own favicon request
    await context.close();
  });

  it('lists signed checkpoints and checks an event proof in the page', async () => {
    const otp = await t.addUser('audra', 'auditor');
    const { context, page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'audra', otp, 'auditor-passphrase-long-enough-2');
    await page.goto(`${t.baseUrl}/console/checkpoints`);
    expect(await page.locator('table.grid tbody tr').count()).toBeGreaterThan(0);
    await expect(page.locator('main').innerText()).resolves.toContain(CHAIN);
    await pageChecks(page, 'auditor-checkpoints');

    const line = fs.readFileSync(path.join(exportDir, 'records.ndjson'), 'utf8').split('\n')[5];
    const eventId = (JSON.parse(JSON.parse(line).event) as { id: string }).id;
    await page.goto(`${t.baseUrl}/console/proof?event=${eventId}`);
    await page.click('#check-proof');
    await page.locator('#proof-result #verify-verdict').waitFor();
    await expect(page.locator('#proof-result #verify-verdict').innerText()).resolves.toMatch(/^Proof verified: record 5 of chain data_access/);
    expect(await page.locator('#proof-result li.step[data-state=ok]').count()).toBe(4);
    await pageChecks(page, 'auditor-proof');
    await context.close();
  });
});

describe('console: admin', () => {
  it('adds a person with a one-time password shown once, who then signs in', async () => {
    const otp = await t.addUser('ada', 'admin');
    const { context, page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'ada', otp, 'admin-passphrase-long-enough-1');
    await page.goto(`${t.baseUrl}/console/admin/people`);
    await page.fill('#a-name', 'newbie');
    await page.selectOption('#a-role', 'compliance_officer');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action="/console/admin/people"] button')]);
    const password = (await page.locator('#one-time-password').innerText()).trim();
    expect(password.length).toBeGreaterThanOrEqual(12);
    await expect(page.locator('table.grid').innerText()).resolves.toMatch(/newbie\s+compliance_officer\s+first sign-in pending/);
    await pageChecks(page, 'admin-people');
    await page.goto(`${t.baseUrl}/console/admin/people`);
    await expect(page.locator('main').innerText()).resolves.not.toContain(password);
    await context.close();

    const newbie = await newContext(browser);
    await signIn(newbie.page, t.baseUrl, 'newbie', password, 'fresh-start-passphrase-0042');
    expect(new URL(newbie.page.url()).pathname).not.toBe('/console/sign-in');
    await newbie.context.close();

    // The change is in the access log: who added which account, with which role (never the password).
    const log = await accessLogOf('ada');
    expect(log.find((e) => e.action === 'console.admin.account.add')).toMatchObject({ outcome: 'success', principal: { sub: 'ada', via: 'session' }, filters: { account: 'newbie', role: 'compliance_officer' } });
    expect(JSON.stringify(log)).not.toContain(password);
  });

  it('switches a rule off with a reason: the audit trail shows it and detection raises nothing for it', async () => {
    const otp = await t.addUser('adam', 'admin');
    const { context, page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'adam', otp, 'admin-passphrase-long-enough-2');
    await page.goto(`${t.baseUrl}/console/admin/rules`);
    await page.fill('#off-break-glass-access', 'Reviewed in the EHR during the migration week');
    await Promise.all([page.waitForLoadState('load'), page.click('#rule-break-glass-access form[action$="/disable"] button')]);
    await expect(page.locator('#rule-break-glass-access').innerText()).resolves.toContain('switched off by adam');
    await expect(page.locator('table[aria-labelledby=trail-h]').innerText()).resolves.toMatch(/adam\s+break-glass-access\s+disable: rule switched off\s+Reviewed in the EHR/);
    await pageChecks(page, 'admin-rules');

    const ehr = await t.client('integration');
    const analyst = await t.client('soc_analyst');
    const before = (await allAlerts(analyst)).filter((a) => a.ruleId === 'break-glass-access').length;
    const e = accessEvent({ occurredAt: '2026-03-04T12:00:00.000Z', action: 'break_glass', actor: { id: 'dr-ruleoff', type: 'user' }, patient: { id: 'MRN-RULEOFF-1' } });
    expect((await ehr.request('POST', '/v1/events', e)).status).toBe(202);
    await waitForDetection(analyst);
    expect((await allAlerts(analyst)).filter((a) => a.ruleId === 'break-glass-access').length).toBe(before);
    await context.close();
  });

  it('issues an integration token shown once that posts events, revokes it (refused within seconds), and shows feeds and destinations', async () => {
    const otp = await t.addUser('adele', 'admin');
    const { context, page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'adele', otp, 'admin-passphrase-long-enough-3');
    await page.goto(`${t.baseUrl}/console/admin/integrations`);
    await page.fill('#t-int', 'lab-feed');
    await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/integrations/token"] button')]);
    const token = (await page.locator('#issued-token').innerText()).trim();
    const res = await fetch(`${t.baseUrl}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(accessEvent({ source: { system: 'lab', integration: 'lab-feed' } })),
    });
    expect(res.status).toBe(202);
    const issued = (await accessLogOf('adele')).find((e) => e.action === 'console.admin.token.issue');
    expect(issued).toMatchObject({ filters: { integration: 'lab-feed' } });
    expect(JSON.stringify(issued)).not.toContain(token);

    // Revoked from the page: the service refuses the token within seconds.
    await page.fill('#r-token', token);
    await page.fill('#r-token-reason', 'laptop lost');
    await Promise.all([page.waitForLoadState('load'), page.click('form[aria-labelledby=rev-tok-h] button')]);
    await expect(page.locator('#revoked-h').isVisible()).resolves.toBe(true);
    await expect(page.locator('table[aria-labelledby=revocations-h] tbody tr').first().innerText()).resolves.toMatch(/token\s+\S+\s+laptop lost/);
    const post = () =>
      fetch(`${t.baseUrl}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(accessEvent({ source: { system: 'lab', integration: 'lab-feed' } })) });
    const deadline = Date.now() + 10_000;
    let status = (await post()).status;
    while (status !== 401 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await post()).status;
    }
    expect(status).toBe(401);
    const revokedEntry = (await accessLogOf('adele')).find((e) => e.action === 'console.admin.revoke.token');
    expect(revokedEntry).toMatchObject({ filters: { what: 'token' } });
    expect(JSON.stringify(revokedEntry)).not.toContain(token);
    await pageChecks(page, 'admin-integrations');
    const feed = await (await t.client('integration')).request('POST', '/v1/context/users', { records: [{ id: 'dr-jones', status: 'active', department: 'cardiology' }, { id: 'nurse-kim', status: 'active' }] });
    expect(feed.status).toBe(202);
    await page.goto(`${t.baseUrl}/console/admin/feeds`);
    await expect(page.locator('table[aria-labelledby=ctx-h] tbody tr').first().innerText()).resolves.toMatch(/^users\s+2\s+2\s+\d{4}-/);
    await expect(page.locator('main').innerText()).resolves.toContain('None configured');
    await pageChecks(page, 'admin-feeds');
    await context.close();
  });
});

describe('console: charts', () => {
  it('draws alert volume by severity, and a patient access timeline on the patient page, as accessible SVG', async () => {
    const otp = await t.addUser('annie', 'soc_analyst');
    const { context, page } = await newContext(browser);
    await signIn(page, t.baseUrl, 'annie', otp, 'analyst-passphrase-long-enough-1');
    await page.goto(`${t.baseUrl}/console/trends?days=7&to=2026-03-04`);
    const chart = page.locator('svg.chart[role=img]');
    await expect(chart.locator('title').first().textContent()).resolves.toContain('Alerts per day by severity');
    expect(await chart.locator('rect[data-severity]').count()).toBeGreaterThan(0);
    await pageChecks(page, 'chart-alert-volume');
    await context.close();

    const otp2 = await t.addUser('carla', 'compliance_officer');
    const co = await newContext(browser);
    await signIn(co.page, t.baseUrl, 'carla', otp2, 'compliance-passphrase-long-1');
    await co.page.goto(`${t.baseUrl}/console/patients?patient=${SEED_PATIENT}`);
    const timeline = co.page.locator('figure.chart svg.chart[role=img]');
    expect(await timeline.locator('[data-flagged]').count()).toBe(4);
    expect(await timeline.locator('[data-flagged=true]').count()).toBeGreaterThanOrEqual(1);
    await expect(timeline.locator('desc').textContent()).resolves.toMatch(/^4 accesses by 3 people from 2026-03-02 09:00Z to 2026-03-02 10:05Z; [1-4] flagged\.$/);
    expect(await co.page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect({ violations: await seriousA11yViolations(co.page) }).toEqual({ violations: [] });
    await co.context.close();
  });
});
