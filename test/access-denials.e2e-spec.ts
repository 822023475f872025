/**
 * The access log also records what was refused and what the command line read (issue 5, item 4):
 * 401s and 403s (no credentials, an authentic but expired token, a forged token, a missing scope, an
 * event whose source is not the caller's) land in the access chain as `denied` entries an auditor
 * reads with `?outcome=denied`, never carrying the token, the body or a patient id; a flood of
 * refusals adds one entry plus one counted follow-up per minute; and `auditctl verify`, `export` and
 * `detect`, run against the data dir while the service is serving (and writing the same chain), show
 * up as entries of the OS user `via: cli`, after which every chain still verifies.
 */
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { ACCESS_LOG_CHAIN } from '@app/core';
import { TokenService } from '@app/security';
import { CLI_MAIN, REPO_ROOT } from './support/cli';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

interface Entry {
  action: string;
  outcome: string;
  principal: { sub: string; role?: string; via?: string };
  ip?: string;
  route?: string;
  filters: Record<string, string | number | boolean>;
  recordCount: number | null;
  reason?: string;
  denial?: { kind: string; status: number; scope?: string; count: number; since?: string; until?: string };
  receipt: { chain: string; seq: number };
}

const PATIENT = 'MRN-DENY-77120';

async function entries(t: TestApp, query: string): Promise<Entry[]> {
  const res = await (await t.client('auditor')).request('GET', `/v1/access-log?limit=1000&${query}`);
  expect(res.status).toBe(200);
  return (JSON.parse(res.body) as { entries: Entry[] }).entries;
}

const execCli = promisify(execFile);

/** The compiled CLI as a separate process, without blocking this process (the service keeps serving). */
async function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execCli(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, env: process.env, timeout: 120_000 });
    return { status: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { status: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('refused requests in the access log', () => {
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDataDir('audit-denials-');
    t = await startTestApp({ dataDir });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('records 401 and 403 with who, route, scope wanted, reason code and IP, readable with ?outcome=denied', async () => {
    // No credentials.
    expect((await fetch(`${t.baseUrl}/v1/events`)).status).toBe(401);
    // An authentic token that expired: its subject is known.
    const tokens = new TokenService(t.config);
    const { keyId } = await tokens.issueWithDetails({ role: 'soc_analyst', sub: 'dr-expired', ttl: '5m' });
    const key = crypto.createPrivateKey(fs.readFileSync(tokens.signingKeyPath));
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'soc_analyst' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: keyId })
      .setIssuer(t.config.tokenIssuer)
      .setAudience(t.config.tokenAudience)
      .setSubject('dr-expired')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(key);
    const withToken = (token: string) => fetch(`${t.baseUrl}/v1/alerts`, { headers: { authorization: `Bearer ${token}` } });
    expect((await withToken(expired)).status).toBe(401);
    // A forged token naming someone: the name is not believed.
    const forged = `${Buffer.from('{"alg":"EdDSA","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"dr-forged","role":"admin"}').toString('base64url')}.${'A'.repeat(86)}`;
    expect((await withToken(forged)).status).toBe(401);
    // Authenticated, but the role lacks the scope.
    expect((await (await t.client('soc_analyst', 'analyst-denied')).request('GET', '/v1/access-log')).status).toBe(403);
    // An integration posting for another integration (the body carries a patient id).
    const foreign = accessEvent({ patient: { id: PATIENT }, source: { system: 'ehr-gateway', integration: 'billing' } });
    expect((await (await t.client('integration')).request('POST', '/v1/events', foreign)).status).toBe(403);

    const denied = await entries(t, 'outcome=denied');
    expect(denied.every((e) => e.outcome === 'denied' && e.action === 'access.denied' && e.receipt.chain === ACCESS_LOG_CHAIN && e.recordCount === 0)).toBe(true);
    const byReason = (reason: string) => denied.filter((e) => e.reason === reason);
    expect(byReason('no_credentials')[0]).toMatchObject({ principal: { sub: 'anonymous' }, ip: '127.0.0.1', route: 'GET /v1/events', denial: { kind: 'unauthenticated', status: 401, count: 1 } });
    expect(byReason('token_expired')[0]).toMatchObject({ principal: { sub: 'dr-expired', via: 'token' }, route: 'GET /v1/alerts', denial: { status: 401, count: 1 } });
    expect(byReason('token_invalid')[0]).toMatchObject({ principal: { sub: 'anonymous' }, route: 'GET /v1/alerts' });
    expect(byReason('scope_missing').find((e) => e.principal.sub === 'analyst-denied')).toMatchObject({
      principal: { role: 'soc_analyst', via: 'token' },
      route: 'GET /v1/access-log',
      denial: { kind: 'forbidden', status: 403, scope: 'access-log:read', count: 1 },
    });
    expect(byReason('source_not_owned')[0]).toMatchObject({ principal: { sub: 'sample-ehr', role: 'integration' }, route: 'POST /v1/events', denial: { status: 403 } });

    // Nothing secret came along: no token, no forged name, no patient id, no body.
    const raw = JSON.stringify(denied);
    for (const secret of [expired, forged, expired.split('.')[2]!, 'dr-forged', PATIENT, foreign.id]) expect(raw.includes(secret)).toBe(false);
    // Without the filter, refusals are among all accesses; a bad outcome value is a 400 naming the field.
    expect((await entries(t, 'action=access.denied')).length).toBe(denied.length);
    const bad = await (await t.client('auditor')).request('GET', '/v1/access-log?outcome=perhaps');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('/query/outcome');
    expect(bad.body).not.toContain('perhaps');
  });

  it('turns a flood of refusals into one entry and one counted follow-up per minute, kept across a restart', async () => {
    const before = (await entries(t, 'outcome=denied')).filter((e) => e.route === 'GET /v1/rules').length;
    expect(before).toBe(0);
    const statuses = await Promise.all(Array.from({ length: 60 }, () => fetch(`${t.baseUrl}/v1/rules`).then(async (r) => (await r.arrayBuffer(), r.status))));
    expect(new Set(statuses)).toEqual(new Set([401]));
    const during = (await entries(t, 'outcome=denied')).filter((e) => e.route === 'GET /v1/rules');
    // The first of the minute is written at once; the counted rest wait for the minute to end. (A
    // flood straddling a minute boundary also shows the first of the next minute and the follow-up.)
    expect(during.length).toBeGreaterThanOrEqual(1);
    expect(during.length).toBeLessThanOrEqual(3);
    if (during.length === 1) expect(during[0]!.denial!.count).toBe(1);

    // Shutting down writes the counted rest; a restarted service shows them.
    await t.close();
    t = await startTestApp({ dataDir });
    const after = (await entries(t, 'outcome=denied')).filter((e) => e.route === 'GET /v1/rules');
    expect(after.length).toBeLessThanOrEqual(4);
    expect(after.reduce((n, e) => n + e.denial!.count, 0)).toBe(60);
    const followUp = after.find((e) => e.denial!.count > 1)!;
    expect(followUp).toMatchObject({ reason: 'no_credentials', principal: { sub: 'anonymous' } });
    expect(Date.parse(followUp.denial!.until!)).toBeGreaterThanOrEqual(Date.parse(followUp.denial!.since!));
  });

  it('records auditctl verify, export and detect run while the service serves, as the OS user via cli; the chain still verifies', async () => {
    const integration = await t.client('integration');
    const events = Array.from({ length: 20 }, (_, i) => accessEvent({ patient: { id: `${PATIENT}-${i}` } }));
    expect((await integration.request('POST', '/v1/events', { events })).status).toBe(202);
    const analyst = await t.client('soc_analyst', 'analyst-busy');
    const outDir = path.join(tempDataDir('audit-denials-export-'), 'out');

    // The service keeps writing the access chain (every query is recorded) while three CLI processes append to it.
    let serving = true;
    const statuses: number[] = [];
    const load = (async () => {
      while (serving) statuses.push((await analyst.request('GET', '/v1/events?limit=5')).status);
    })();
    const [verify, exported, detect] = await Promise.all([
      cli(['verify', '--data-dir', dataDir]),
      cli(['export', '--chain', 'data_access', '--out', outDir, '--data-dir', dataDir]),
      cli(['detect', '--from', '2026-01-01', '--data-dir', dataDir]),
    ]);
    serving = false;
    await load;
    expect([verify.status, exported.status, detect.status]).toEqual([0, 0, 0]);
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set([200]));

    const user = os.userInfo().username;
    const byCli = (await entries(t, `actor=${encodeURIComponent(user)}`)).filter((e) => e.principal.via === 'cli');
    const one = (action: string) => {
      const found = byCli.filter((e) => e.action === action);
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    expect(one('integrity.verify')).toMatchObject({ outcome: 'success', principal: { sub: user, via: 'cli' }, filters: { command: 'verify', intact: true } });
    expect(one('integrity.verify').recordCount).toBeGreaterThanOrEqual(20);
    expect(one('chain.export')).toMatchObject({ outcome: 'success', filters: { command: 'export', chain: 'data_access', seal: true }, recordCount: 20 });
    expect(one('detect.backfill')).toMatchObject({ outcome: 'success', filters: { command: 'detect', from: '2026-01-01T00:00:00.000Z' }, recordCount: 20 });

    // The service wrote after the CLI moved the access chain's head: both still link.
    expect((await analyst.request('GET', '/v1/events?limit=1')).status).toBe(200);
    const http = await (await t.client('auditor')).request('GET', `/v1/integrity/verify?chain=${ACCESS_LOG_CHAIN}`);
    expect(JSON.parse(http.body)).toMatchObject({ ok: true, break: null });
    const again = await cli(['verify', '--data-dir', dataDir, '--chain', ACCESS_LOG_CHAIN]);
    expect(again.stdout).toContain('OK:');
    expect(again.status).toBe(0);
  });
});
