/**
 * At least once across crashes (compiled service, `npm run build` first): alerts are raised while
 * the webhook receiver is down, the service is SIGKILLed with their deliveries pending, and after
 * the receiver comes up and the service restarts every alert arrives (none lost). Also: a bad
 * destinations file stops the service at start, naming the key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { TokenService } from '@app/security';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { startService, waitForExit } from './support/cli';
import { allAlerts, waitForDetection } from './support/detection';
import { accessEvent } from './support/events';
import { tempDataDir } from './support/test-app';
import { startWebhookReceiver, waitUntil } from './support/webhook-receiver';

const SECRET = 'whsec-crash-test-secret';
const ALERTS = 12;

describe('alert delivery across SIGKILL', () => {
  it('delivers every alert at least once after a kill with deliveries pending and the receiver down', async () => {
    const dataDir = tempDataDir('alert-crash-');
    const work = tempDataDir('alert-crash-recv-');
    // Find a free port, then leave it closed: the receiver is down.
    const probe = await startWebhookReceiver(work, SECRET);
    const { port, url, caFile } = probe;
    await probe.close();
    const file = path.join(work, 'destinations.json');
    fs.writeFileSync(file, JSON.stringify({ destinations: [{ name: 'soc-hook', type: 'webhook', url, secret: SECRET, caFile, timeoutMs: 500, retry: { initialMs: 100, maxMs: 500 } }] }));
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'info', ALERT_DESTINATIONS_FILE: file };
    const tokens = new TokenService(loadConfig({}, { dataDir }));
    // Two integrations, six break-glass alerts each: one integration's burst beyond 10 a minute
    // would be folded into one alert (break-glass-access `burst`), and this test needs 12 alerts.
    const integrationTokens = await Promise.all(['sample-ehr', 'sample-lis'].map((sub) => tokens.issue({ role: 'integration', sub, ttl: '1h' })));
    const analystToken = await tokens.issue({ role: 'soc_analyst', sub: 'crash-analyst', ttl: '1h' });
    const adminToken = await tokens.issue({ role: 'admin', sub: 'crash-admin', ttl: '1h' });

    let svc = await startService(env);
    let ids: string[];
    {
      const ca = localCa(dataDir);
      const integrations = integrationTokens.map((token) => new ApiClient(svc.url, token, { caPem: ca }));
      const analyst = new ApiClient(svc.url, analystToken, { caPem: ca });
      const admin = new ApiClient(svc.url, adminToken, { caPem: ca });
      try {
        const at = new Date(Date.now() - 60_000).toISOString();
        for (const [k, integration] of integrations.entries()) {
          const source = k === 0 ? { system: 'ehr-gateway', integration: 'sample-ehr' } : { system: 'lis-gateway', integration: 'sample-lis' };
          const events = Array.from({ length: ALERTS / 2 }, (_, i) => accessEvent({ occurredAt: at, action: 'break_glass', actor: { id: 'dr-crash', type: 'user', role: 'physician' }, patient: { id: `MRN-CRASH-${k}-${i}` }, source }));
          expect((await integration.request('POST', '/v1/events', { events })).status).toBe(202);
        }
        await waitForDetection(analyst);
        ids = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id);
        expect(ids).toHaveLength(ALERTS);
        // Pending and failing: the receiver is down.
        await waitUntil('failed attempts', async () => {
          const s = JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations[0];
          return s.failures >= 1 && s.queueDepth === ALERTS;
        });
      } finally {
        for (const integration of integrations) integration.close();
        analyst.close();
        admin.close();
      }
      svc.child.kill('SIGKILL');
      await waitForExit(svc.child);
    }

    const receiver = await startWebhookReceiver(work, SECRET, port);
    try {
      svc = await startService(env);
      const delivered = () => new Set(receiver.received.filter((r) => r.accepted).flatMap((r) => (r.body.alerts as { id: string }[]).map((a) => a.id)));
      await waitUntil('every alert delivered after the restart', () => ids.every((id) => delivered().has(id)), 30_000);
      expect(receiver.received.every((r) => r.signatureValid)).toBe(true);
      const admin = new ApiClient(svc.url, adminToken, { caPem: localCa(dataDir) });
      try {
        await waitUntil('queue empty', async () => JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations[0].queueDepth === 0);
        const s = JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations[0];
        expect(s).toMatchObject({ delivered: ALERTS, deadLetters: 0 });
      } finally {
        admin.close();
      }
    } finally {
      svc.child.kill('SIGTERM');
      await waitForExit(svc.child);
      await receiver.close();
    }
  }, 120_000);

  it('keeps dead letters across SIGKILL: still listed (API, metrics), never re-sent, while pending deliveries resume', async () => {
    const dataDir = tempDataDir('alert-dead-');
    const work = tempDataDir('alert-dead-recv-');
    const probe = await startWebhookReceiver(work, SECRET);
    const { port, url, caFile } = probe;
    await probe.close();
    // Same receiver, two destinations: soc-hook gives up after 6 s (retry.deadLetterAfterMinutes 0.1),
    // archive-hook keeps trying (default 1440 minutes).
    const file = path.join(work, 'destinations.json');
    const retry = { initialMs: 100, maxMs: 400 };
    fs.writeFileSync(
      file,
      JSON.stringify({
        destinations: [
          { name: 'soc-hook', type: 'webhook', url, secret: SECRET, caFile, timeoutMs: 500, retry: { ...retry, deadLetterAfterMinutes: 0.1 } },
          { name: 'archive-hook', type: 'webhook', url, secret: SECRET, caFile, timeoutMs: 500, retry },
        ],
      }),
    );
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'info', ALERT_DESTINATIONS_FILE: file };
    const tokens = new TokenService(loadConfig({}, { dataDir }));
    const integrationToken = await tokens.issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' });
    const analystToken = await tokens.issue({ role: 'soc_analyst', sub: 'dead-analyst', ttl: '1h' });
    const adminToken = await tokens.issue({ role: 'admin', sub: 'dead-admin', ttl: '1h' });
    type Status = { name: string; queueDepth: number; delivered: number; deadLetters: number; failures: number };
    const statusOf = async (admin: ApiClient) => {
      const res = await admin.request('GET', '/v1/alert-destinations');
      expect(res.status).toBe(200);
      const list = JSON.parse(res.body).destinations as Status[];
      return { soc: list.find((d) => d.name === 'soc-hook')!, archive: list.find((d) => d.name === 'archive-hook')! };
    };
    const breakGlass = (client: ApiClient, patients: string[]) =>
      client.request('POST', '/v1/events', { events: patients.map((p) => accessEvent({ occurredAt: new Date(Date.now() - 60_000).toISOString(), action: 'break_glass', actor: { id: 'dr-dead', type: 'user', role: 'physician' }, patient: { id: p } })) });

    let svc = await startService(env);
    let ids: string[];
    {
      const ca = localCa(dataDir);
      const integration = new ApiClient(svc.url, integrationToken, { caPem: ca });
      const analyst = new ApiClient(svc.url, analystToken, { caPem: ca });
      const admin = new ApiClient(svc.url, adminToken, { caPem: ca });
      try {
        expect((await breakGlass(integration, ['MRN-DEAD-1', 'MRN-DEAD-2', 'MRN-DEAD-3'])).status).toBe(202);
        await waitForDetection(analyst);
        ids = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id);
        expect(ids).toHaveLength(3);
        // The receiver stays down past soc-hook's dead-letter age: its 3 deliveries become dead letters.
        await waitUntil('soc-hook dead letters', async () => (await statusOf(admin)).soc.deadLetters === 3, 30_000);
        const before = await statusOf(admin);
        expect(before.soc).toMatchObject({ queueDepth: 0, delivered: 0, deadLetters: 3 });
        expect(before.archive).toMatchObject({ queueDepth: 3, delivered: 0, deadLetters: 0 });
        expect(before.archive.failures).toBeGreaterThanOrEqual(1);
      } finally {
        integration.close();
        analyst.close();
        admin.close();
      }
      const facts = svc.output.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(facts.filter((f) => f.msg === 'alert delivery dead-lettered' && f.destination === 'soc-hook')).toHaveLength(3);
      expect(svc.output.join('\n')).not.toMatch(/MRN-DEAD|dr-dead/);
      svc.child.kill('SIGKILL');
      await waitForExit(svc.child);
    }

    const receiver = await startWebhookReceiver(work, SECRET, port);
    try {
      svc = await startService(env);
      const ca = localCa(dataDir);
      const integration = new ApiClient(svc.url, integrationToken, { caPem: ca });
      const analyst = new ApiClient(svc.url, analystToken, { caPem: ca });
      const admin = new ApiClient(svc.url, adminToken, { caPem: ca });
      const arrived = (destination: string) => new Set(receiver.received.filter((r) => r.accepted && r.body.destination === destination).flatMap((r) => (r.body.alerts as { id: string }[]).map((a) => a.id)));
      try {
        // Pending deliveries resume after the restart...
        await waitUntil('archive-hook delivered after the restart', () => ids.every((id) => arrived('archive-hook').has(id)), 30_000);
        // ...and a new alert reaches soc-hook, so soc-hook is sending again,
        expect((await breakGlass(integration, ['MRN-DEAD-4'])).status).toBe(202);
        await waitForDetection(analyst);
        const fresh = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id).filter((id) => !ids.includes(id));
        expect(fresh).toHaveLength(1);
        await waitUntil('the new alert at soc-hook', () => arrived('soc-hook').has(fresh[0]!), 30_000);
        // ...but never the dead letters: they stay dead and listed.
        expect(ids.filter((id) => arrived('soc-hook').has(id))).toEqual([]);
        expect(receiver.received.filter((r) => r.body.destination === 'soc-hook').flatMap((r) => (r.body.alerts as { id: string }[]).map((a) => a.id))).toEqual([fresh[0]]);
        const after = await statusOf(admin);
        expect(after.soc).toMatchObject({ queueDepth: 0, delivered: 1, deadLetters: 3 });
        expect(after.archive).toMatchObject({ queueDepth: 0, delivered: 4, deadLetters: 0 });
        const metrics = (await admin.request('GET', '/metrics')).body;
        expect(metrics).toMatch(/audit_alert_delivery_dead_letters\{destination="soc-hook"\} 3\b/);
        expect(metrics).toMatch(/audit_alert_delivery_dead_letters\{destination="archive-hook"\} 0\b/);
      } finally {
        integration.close();
        analyst.close();
        admin.close();
      }
    } finally {
      svc.child.kill('SIGTERM');
      await waitForExit(svc.child);
      await receiver.close();
    }
  }, 120_000);

  it('refuses to start on a bad destinations file, naming the key', async () => {
    const dataDir = tempDataDir('alert-badconf-');
    const file = path.join(dataDir, 'destinations.yaml');
    fs.writeFileSync(file, 'destinations:\n  - name: soc-hook\n    type: webhook\n    url: https://127.0.0.1:9/x\n    secret: do-not-echo-me\n    sekret: typo\n');
    const error = await startService({ DATA_DIR: dataDir, ALERT_DESTINATIONS_FILE: file }).then(
      (svc) => {
        svc.child.kill('SIGKILL');
        return null;
      },
      (err: Error) => err.message,
    );
    expect(error).toMatch(/service exited with [1-9]/);
    expect(error).toMatch(/destinations\[0\]\.sekret: unknown key/);
    expect(error).not.toMatch(/do-not-echo-me/);
  });
});
