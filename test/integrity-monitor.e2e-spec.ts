/**
 * Continuous verification: the service verifies each chain's tail at start and the whole store on
 * a schedule; a break turns GET /health/ready into 503 naming chain, seq, kind and column (no
 * record content), sets the integrity metrics and is logged, while ingestion keeps working; it
 * raises one `integrity-break` alert (listed, with its runbook, delivered) per break, not per period.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir } from './support/test-app';
import { startWebhookReceiver, waitUntil } from './support/webhook-receiver';

const CHAIN = 'data_access';

function dropTriggersAndEdit(dir: string, sql: string): void {
  const db = new Database(path.join(dir, 'audit.db'));
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name GLOB 'events_p[0-9]*'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${name}`);
  db.exec(sql);
  db.close();
}

async function readiness(t: Awaited<ReturnType<typeof startTestApp>>) {
  const res = await (await t.client(null)).request('GET', '/health/ready');
  return { status: res.status, body: JSON.parse(res.body) as { status: string; checks: Record<string, boolean>; reason?: string } };
}

describe('verification at start', () => {
  it('a tampered database is not ready, with the reason; ingestion still works; metrics and logs say so', async () => {
    const first = await startTestApp();
    const events = Array.from({ length: 12 }, (_, i) => accessEvent({ patient: { id: `MRN-MON-${i}` } }));
    expect((await (await first.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
    expect((await readiness(first)).status).toBe(200);
    await first.close();
    dropTriggersAndEdit(first.dataDir, `UPDATE events SET actor_id = 'dr-nobody' WHERE chain = '${CHAIN}' AND seq = 7`);

    const t = await startTestApp({ dataDir: first.dataDir });
    try {
      const ready = await readiness(t);
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ storage: true, bus: true, integrity: false });
      expect(ready.body.reason).toBe(`integrity break: chain ${CHAIN} seq 7 kind modified column actor_id; run auditctl verify`);
      // Refusing audit events would lose them: ingestion goes on.
      expect((await (await t.client('integration')).request('POST', '/v1/events', { events: [accessEvent()] })).status).toBe(202);
      const metrics = (await (await t.client(null)).request('GET', '/metrics')).body;
      expect(metrics).toMatch(/^audit_integrity_intact 0$/m);
      expect(metrics).toMatch(/^audit_integrity_broken_chains 1$/m);
      expect(metrics).toMatch(/^audit_integrity_verifications_total\{mode="start",result="broken"\} 1$/m);
      const logged = t.logLines.find((l) => l.includes('integrity break'));
      expect(logged).toContain(`\\"chain\\":\\"${CHAIN}\\",\\"seq\\":7,\\"kind\\":\\"modified\\",\\"column\\":\\"actor_id\\"`);
    } finally {
      await t.close();
    }
  }, 60_000);
});

describe('scheduled verification', () => {
  it('finds tampering done while the service runs within one period, and says so on /health/ready', async () => {
    // Full verification every 1.8 s for the test (VERIFY_FULL_INTERVAL_HOURS=0.0005).
    const t = await startTestApp({ integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, verifyFullIntervalHours: 0.0005, verifyIntervalSeconds: 1 } });
    try {
      const events = Array.from({ length: 10 }, (_, i) => accessEvent({ patient: { id: `MRN-SCHED-${i}` } }));
      expect((await (await t.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
      await new Promise((r) => setTimeout(r, 2500));
      expect((await readiness(t)).status).toBe(200);
      dropTriggersAndEdit(t.dataDir, `UPDATE events SET outcome = 'failure' WHERE chain = '${CHAIN}' AND seq = 3`);
      const deadline = Date.now() + 6000;
      let ready = await readiness(t);
      while (ready.status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        ready = await readiness(t);
      }
      expect(ready.status).toBe(503);
      expect(ready.body.reason).toContain(`chain ${CHAIN} seq 3 kind modified column outcome`);
      const metrics = (await (await t.client(null)).request('GET', '/metrics')).body;
      expect(metrics).toMatch(/audit_integrity_verifications_total\{mode="full",result="broken"\} [1-9]/);
    } finally {
      await t.close();
    }
  }, 60_000);
});

describe('integrity-break alert', () => {
  it('a break found by the schedule is one critical alert in GET /v1/alerts, with its runbook, delivered, without record content', async () => {
    const work = tempDataDir('integrity-alert-');
    const secret = 'whsec-integrity-0123456789';
    const receiver = await startWebhookReceiver(work, secret);
    const file = path.join(work, 'destinations.yaml');
    fs.writeFileSync(
      file,
      ['destinations:', '  - name: soc-hook', '    type: webhook', `    url: ${receiver.url}`, `    secret: ${secret}`, `    caFile: ${receiver.caFile}`, '    retry: { initialMs: 100, maxMs: 400 }'].join('\n'),
    );
    // Incremental checks every second, a full one every 1.8 s (VERIFY_FULL_INTERVAL_HOURS=0.0005).
    const t = await startTestApp({
      alertDestinationsFile: file,
      integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, verifyFullIntervalHours: 0.0005, verifyIntervalSeconds: 1 },
    });
    try {
      const analyst = await t.client('soc_analyst');
      const events = Array.from({ length: 10 }, (_, i) => accessEvent({ actor: { id: 'dr-real-actor', type: 'user' }, patient: { id: `MRN-ALERT-${i}` } }));
      expect((await (await t.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
      const integrityAlerts = async () => JSON.parse((await analyst.request('GET', '/v1/alerts?rule=integrity-break')).body).alerts as Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
      await new Promise((r) => setTimeout(r, 2500));
      expect(await integrityAlerts()).toEqual([]);

      dropTriggersAndEdit(t.dataDir, `UPDATE events SET actor_id = 'dr-somebody-else' WHERE chain = '${CHAIN}' AND seq = 4`);
      await waitUntil('the integrity-break alert', async () => (await integrityAlerts()).length > 0, 10_000);
      // Several more periods (incremental and full runs) find the same break: still one alert.
      await new Promise((r) => setTimeout(r, 4000));
      const alerts = await integrityAlerts();
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ ruleId: 'integrity-break', severity: 'critical', status: 'open', reasons: ['integrity-break'], groupKey: { chain: CHAIN, seq: 4, kind: 'modified', column: 'actor_id' } });
      expect((await readiness(t)).status).toBe(503);

      const detail = await analyst.request('GET', `/v1/alerts/${alerts[0].id}`);
      expect(detail.status).toBe(200);
      const runbook = (JSON.parse(detail.body) as { runbook: { name: string; markdown: string } }).runbook;
      expect(runbook.name).toBe('integrity-break');
      expect(runbook.markdown).toContain('auditctl verify');

      await waitUntil('delivery of the alert', () => receiver.received.some((r) => r.accepted), 10_000);
      const delivered = receiver.received.filter((r) => r.accepted).flatMap((r) => r.body.alerts as { id: string; ruleId: string }[]);
      expect(delivered.filter((a) => a.ruleId === 'integrity-break').map((a) => a.id)).toEqual([alerts[0].id]);
      // No record content: neither the real actor, the forged one, nor a patient id.
      for (const text of [JSON.stringify(alerts[0]), ...receiver.received.map((r) => r.raw)]) {
        expect(text).not.toMatch(/dr-real-actor|dr-somebody-else|MRN-ALERT/);
      }
    } finally {
      await t.close();
      await receiver.close();
    }
  }, 60_000);

  it('a break found by a verification someone asked for is known at once: readiness, metric, one alert', async () => {
    // The schedule is far away (hourly incremental, daily full): only the on-demand run can find it.
    const t = await startTestApp({ integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, verifyFullIntervalHours: 24, verifyIntervalSeconds: 3600 } });
    try {
      const events = Array.from({ length: 6 }, (_, i) => accessEvent({ actor: { id: 'dr-asked-for', type: 'user' }, patient: { id: `MRN-ASKED-${i}` } }));
      expect((await (await t.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
      expect((await readiness(t)).status).toBe(200);
      dropTriggersAndEdit(t.dataDir, `UPDATE events SET action = 'export' WHERE chain = '${CHAIN}' AND seq = 2`);
      expect((await readiness(t)).status).toBe(200); // nothing has looked yet

      const verify = await (await t.client('auditor')).request('GET', '/v1/integrity/verify');
      expect(verify.status).toBe(200);
      expect(JSON.parse(verify.body)).toMatchObject({ ok: false, break: { chain: CHAIN, seq: 2, kind: 'modified', column: 'action' } });
      const ready = await readiness(t);
      expect(ready.status).toBe(503);
      expect(ready.body.reason).toContain(`chain ${CHAIN} seq 2 kind modified column action`);
      const metrics = (await (await t.client(null)).request('GET', '/metrics')).body;
      expect(metrics).toMatch(/^audit_integrity_intact 0$/m);
      const analyst = await t.client('soc_analyst');
      const integrityAlerts = async () => JSON.parse((await analyst.request('GET', '/v1/alerts?rule=integrity-break')).body).alerts as { groupKey: unknown }[];
      await waitUntil('the integrity-break alert', async () => (await integrityAlerts()).length > 0, 10_000);
      // Asking again finds the same break: still one alert.
      expect((await (await t.client('auditor')).request('GET', '/v1/integrity/verify')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 500));
      const alerts = await integrityAlerts();
      expect(alerts).toHaveLength(1);
      expect(alerts[0].groupKey).toEqual({ chain: CHAIN, seq: 2, kind: 'modified', column: 'action' });
    } finally {
      await t.close();
    }
  }, 60_000);

  it('a break found at start is raised once, and not again after a restart', async () => {
    const first = await startTestApp();
    expect((await (await first.client('integration')).request('POST', '/v1/events', { events: [accessEvent(), accessEvent(), accessEvent()] })).status).toBe(202);
    await first.close();
    dropTriggersAndEdit(first.dataDir, `UPDATE events SET outcome = 'failure' WHERE chain = '${CHAIN}' AND seq = 1`);
    for (let run = 0; run < 2; run++) {
      const t = await startTestApp({ dataDir: first.dataDir });
      try {
        const res = await (await t.client('soc_analyst')).request('GET', '/v1/alerts?rule=integrity-break');
        const alerts = JSON.parse(res.body).alerts as { groupKey: unknown; status: string }[];
        expect(alerts.map((a) => a.groupKey)).toEqual([{ chain: CHAIN, seq: 1, kind: 'modified', column: 'outcome' }]);
      } finally {
        await t.close();
      }
    }
  }, 60_000);
});
