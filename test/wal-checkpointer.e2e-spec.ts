/**
 * WAL_CHECKPOINT_INTERVAL_MS > 0: the service checkpoints SQLite's write-ahead log from a thread of
 * its own. Events posted are acknowledged, readable and verifiable as without it, the checkpoints
 * show in /metrics, and the committed pages reach the database file while the service runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import { TestApp, startTestApp } from './support/test-app';

describe('background WAL checkpoints', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ walCheckpointIntervalMs: 50 });
  });

  afterAll(async () => {
    await t.close();
  });

  it('acknowledges, stores and verifies events, and copies the WAL into the database file in the background', async () => {
    const writer = await t.client('integration');
    const dbFile = path.join(t.dataDir, 'audit.db');
    const before = fs.statSync(dbFile).size;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const events = Array.from({ length: 200 }, () => accessEvent({ occurredAt: new Date().toISOString() }));
      const res = await writer.request('POST', '/v1/events', { events });
      expect(res.status).toBe(202);
      ids.push(events[0].id);
    }
    const anonymous = await t.client(null);
    const deadline = Date.now() + 10_000;
    let count = 0;
    while (Date.now() < deadline) {
      const metrics = (await anonymous.request('GET', '/metrics')).body;
      count = Number(/^audit_wal_checkpoint_duration_seconds_count (\d+)/m.exec(metrics)?.[1] ?? 0);
      if (count > 0 && fs.statSync(dbFile).size > before + 1024 * 1024) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(count).toBeGreaterThan(0);
    expect(fs.statSync(dbFile).size).toBeGreaterThan(before + 1024 * 1024);

    const officer = await t.client('compliance_officer');
    for (const id of ids) expect((await officer.request('GET', `/v1/events/${id}`)).status).toBe(200);
    const verify = JSON.parse((await officer.request('GET', '/v1/integrity/verify')).body) as { ok: boolean };
    expect(verify.ok).toBe(true);
  });
});
