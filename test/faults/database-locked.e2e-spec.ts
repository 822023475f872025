/**
 * Fault suite: the audit database stays locked past its busy budget (issue 20): another process
 * holds SQLite's write lock (a stuck backup script, a hand-run sqlite3 shell) for longer than
 * BUSY_TIMEOUT_MS. The held write gets 503 with Retry-After, /health/ready is 503 naming
 * `database_locked`; once the lock is released readiness comes back by itself (no write needed) and
 * writes are acknowledged again; everything acknowledged is stored and verifies.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { accessEvent } from '../support/events';
import { runCli } from '../support/cli';
import { startTestApp, TestApp } from '../support/test-app';
import { Receipt, waitFor } from './fault-service';

describe('fault: another process keeps the audit database locked', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ faults: { writerStallMs: 60_000, probeIntervalMs: 100, diskFreeFloorBytes: 0 } });
  });
  afterAll(() => t?.close());

  it('answers 503 and is not ready with database_locked, then recovers by itself when the lock is released', async () => {
    const anon = await t.client(null);
    const writer = await t.client('integration');
    const acknowledged: Receipt[] = [];
    const first = await writer.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-LOCK-1' } }));
    expect(first.status).toBe(202);
    acknowledged.push(...(JSON.parse(first.body).receipts as Receipt[]));

    const other = new Database(path.join(t.dataDir, 'audit.db'));
    other.exec('BEGIN IMMEDIATE');
    try {
      const refused = await writer.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-LOCK-2' } }));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBeDefined();
      const ready = await anon.request('GET', '/health/ready');
      expect(ready.status).toBe(503);
      const body = JSON.parse(ready.body);
      expect(body.checks.durable).toBe(false);
      expect(body.reasons.map((r: { code: string }) => r.code)).toContain('database_locked');
      expect((await anon.request('GET', '/health/live')).status).toBe(200);
      expect((await anon.request('GET', '/metrics')).body).toMatch(/^audit_durability_faults_total\{cause="database_locked"\} 1$/m);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await waitFor('readiness after the lock was released', async () => ((await anon.request('GET', '/health/ready')).status === 200 ? true : undefined));
    const after = await writer.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-LOCK-3' } }));
    expect(after.status).toBe(202);
    acknowledged.push(...(JSON.parse(after.body).receipts as Receipt[]));

    const reader = await t.client('compliance_officer');
    for (const r of acknowledged) expect(JSON.parse((await reader.request('GET', `/v1/events/${r.id}`)).body).receipt).toEqual(r);
    await t.close();
    const verify = runCli(['verify', '--data-dir', t.dataDir]);
    expect(verify.stdout).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  });
});
