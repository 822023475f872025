/**
 * Console accounts and sessions shared across instances with STORE=elasticsearch (compiled CLI,
 * `npm run build` first): two services on their own data dirs (sharing the keys) and one
 * Elasticsearch (the repository's double over HTTP). An account added with `auditctl users add`
 * against one data dir exists for both instances; a person who signs in (and sets a password)
 * through A is signed in on B with the same cookie, with no sticky session; signing out on B ends
 * the session on A too. Neither instance has a database file to keep an account or a session in. The
 * alert-volume chart on either instance counts the cluster's alerts (the shared alert index). The
 * sign-in lockout (5 failed attempts per name) is counted in the cluster: 3 wrong passwords on A and
 * 2 on B lock the name on both, where per-instance counts would have allowed 10.
 */
import * as fs from 'node:fs';
import { databasePath } from '@app/storage';
import { runCliAsync } from './support/cli';
import { cookieFrom, csrfOf, httpSignIn } from './support/console-browser';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { startTwoInstances, until } from './support/es-instances';
import { accessEvent } from './support/events';
import { TestApp } from './support/test-app';

describe('console accounts and sessions shared through Elasticsearch', () => {
  let es: EsFakeServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    es = await startEsFakeServer();
    ({ a, b } = await startTwoInstances(es, 'audit-console-shared-b-'));
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await es?.close();
  });

  it('an account added on one data dir signs in through A and its session works on B; sign-out on B ends it on A', async () => {
    const env = { STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url };
    const added = await runCliAsync(['users', 'add', 'privacy-ann', '--role', 'admin', '--data-dir', b.dataDir], env);
    expect(added.status).toBe(0);
    const password = added.stdout.trim().split('\n').at(-1)!;

    const onA = await httpSignIn(a.baseUrl, 'privacy-ann', password, 'a-long-and-new-passphrase-42');
    const fromB = await fetch(`${b.baseUrl}/console/admin/people`, { redirect: 'manual', headers: { cookie: onA.cookie } });
    expect(fromB.status).toBe(200);
    expect(await fromB.text()).toContain('privacy-ann');

    // The first-sign-in password change made through A holds on both: no one-time password pending.
    const listed = await runCliAsync(['users', 'list', '--data-dir', a.dataDir], env);
    expect(listed.stdout).toContain('privacy-ann\tadmin');
    expect(listed.stdout).not.toContain('one-time password not yet changed');

    // Signing out through B ends the session everywhere.
    const home = await (await fetch(`${b.baseUrl}/console/`, { headers: { cookie: onA.cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(home)![1];
    const out = await fetch(`${b.baseUrl}/console/sign-out`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: onA.cookie, origin: b.baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf }),
    });
    expect(out.status).toBe(303);
    const afterOnA = await fetch(`${a.baseUrl}/console/admin/people`, { redirect: 'manual', headers: { cookie: onA.cookie } });
    expect(afterOnA.status).toBe(303);
    expect(afterOnA.headers.get('location')).toMatch(/\/console\/sign-in/);

    // Neither instance has a database file to keep an account or a session in.
    for (const t of [a, b]) expect(fs.existsSync(databasePath(t.dataDir))).toBe(false);
  }, 120_000);

  it('the alert-volume chart on either instance counts the alerts of the shared alert index', async () => {
    const env = { STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url };
    const event = accessEvent({ occurredAt: '2026-03-02T08:01:00.000Z', action: 'break_glass', purpose: 'EMERGENCY', actor: { id: 'dr-volume', type: 'user', role: 'physician' }, patient: { id: 'MRN-VOLUME-1' } });
    expect((await (await a.client('integration')).request('POST', '/v1/events', { events: [event] })).status).toBe(202);
    // The alerts of the chart's week (2026-02-24 to 2026-03-02, event time), as the API lists them.
    const inWeek = async () => (JSON.parse((await (await b.client('soc_analyst')).request('GET', '/v1/alerts?from=2026-02-24&to=2026-03-03&limit=100')).body) as { alerts: { groupKey: Record<string, string> }[] }).alerts;
    const alerts = await until(inWeek, (v) => v.some((x) => x.groupKey['actor.id'] === 'dr-volume'), 15_000);
    expect(alerts.some((x) => x.groupKey['actor.id'] === 'dr-volume')).toBe(true);

    const added = await runCliAsync(['users', 'add', 'soc-sam', '--role', 'soc_analyst', '--data-dir', a.dataDir], env);
    expect(added.status).toBe(0);
    const session = await httpSignIn(a.baseUrl, 'soc-sam', added.stdout.trim().split('\n').at(-1)!, 'a-long-and-new-passphrase-43');
    for (const t of [a, b]) {
      const html = await (await fetch(`${t.baseUrl}/console/trends?days=7&to=2026-03-02`, { headers: { cookie: session.cookie } })).text();
      expect(html).toContain(`${alerts.length} alerts from 2026-02-24 to 2026-03-02`);
    }
  }, 120_000);

  it('failed sign-ins count across instances: 3 on A and 2 on B lock the name on both, the right password included', async () => {
    const env = { STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url };
    const added = await runCliAsync(['users', 'add', 'locked-lee', '--role', 'auditor', '--data-dir', a.dataDir], env);
    expect(added.status).toBe(0);
    const password = added.stdout.trim().split('\n').at(-1)!;
    const attempt = async (baseUrl: string, pass: string) => {
      const page = await fetch(`${baseUrl}/console/sign-in`);
      const res = await fetch(`${baseUrl}/console/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: cookieFrom(page, 'console-signin')!, origin: baseUrl, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: await csrfOf(page), name: 'locked-lee', password: pass }),
      });
      return { status: res.status, body: await res.text() };
    };
    for (const [t, n] of [[a, 3], [b, 2]] as const) {
      for (let i = 0; i < n; i++) {
        const r = await attempt(t.baseUrl, `wrong-${i}`);
        expect(r.status).toBe(401);
        expect(r.body).toContain('The name or password is not right.');
      }
    }
    for (const t of [b, a]) {
      const r = await attempt(t.baseUrl, password);
      expect(r.status).toBe(401);
      expect(r.body).toContain('Too many failed attempts for this name');
    }
    // The count is one document in the cluster, keyed by a digest of the name.
    const counts = [...(es.fake.indices.get('audit-console-sign-in-failures')?.values() ?? [])].map((d) => d.source as { count: number });
    expect(counts).toEqual([expect.objectContaining({ count: 7 })]);
    expect(JSON.stringify([...(es.fake.indices.get('audit-console-sign-in-failures')?.entries() ?? [])])).not.toContain('locked-lee');
  }, 120_000);
});
