/**
 * Continuous verification: the service verifies each chain's tail at start and the whole store on
 * a schedule; a break turns GET /health/ready into 503 naming chain, seq, kind and column (no
 * record content), sets the integrity metrics and is logged, while ingestion keeps working.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import { startTestApp } from './support/test-app';

const CHAIN = 'data_access';

function dropTriggersAndEdit(dir: string, sql: string): void {
  const db = new Database(path.join(dir, 'audit.db'));
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${name}`);
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
