/**
 * Fault suite: a stalled writer (issue 20). The writer thread is held before its transaction (the
 * test-only hook AUDIT_TEST_WRITER_HOLD_FILE, read only when NODE_ENV=test), like a stuck fsync.
 * Past WRITER_STALL_SECONDS readiness turns 503 naming `writer_stalled`, new writes get 503 with
 * Retry-After, liveness stays up, the metric and a log line say so; once the writer moves again the
 * held request is acknowledged, readiness is back, and every acknowledged event is stored and verifies.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { accessEvent } from '../support/events';
import { runCli } from '../support/cli';
import { startTestApp, tempDataDir, TestApp } from '../support/test-app';

interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const until = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
  }
}

describe('fault: the chain writer stalls', () => {
  const holdFile = path.join(tempDataDir('audit-hold-'), 'hold');
  const before = process.env.AUDIT_TEST_WRITER_HOLD_FILE;
  let t: TestApp;

  beforeAll(async () => {
    // Read by the writer thread when it starts (NODE_ENV is "test" under jest).
    process.env.AUDIT_TEST_WRITER_HOLD_FILE = holdFile;
    t = await startTestApp({ writerThread: true, faults: { writerStallMs: 1000, probeIntervalMs: 100, diskFreeFloorBytes: 0 } });
  });
  afterAll(async () => {
    fs.rmSync(holdFile, { force: true });
    await t?.close();
    if (before === undefined) delete process.env.AUDIT_TEST_WRITER_HOLD_FILE;
    else process.env.AUDIT_TEST_WRITER_HOLD_FILE = before;
  });

  it('is not ready and refuses new writes with 503 + Retry-After while stalled, then recovers and loses nothing', async () => {
    const anon = await t.client(null);
    const writer = await t.client('integration');
    const acknowledged: Receipt[] = [];
    const first = await writer.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-STALL-1' } }));
    expect(first.status).toBe(202);
    acknowledged.push(...(JSON.parse(first.body).receipts as Receipt[]));
    expect((await anon.request('GET', '/health/ready')).status).toBe(200);

    // Freeze the writer: this request's group is held in the writer thread.
    fs.writeFileSync(holdFile, '');
    const held = writer.request('POST', '/v1/events', { events: [accessEvent({ patient: { id: 'MRN-STALL-2' } }), accessEvent({ patient: { id: 'MRN-STALL-3' } })] });

    const notReady = await waitFor('readiness to report the stall', async () => {
      const r = await anon.request('GET', '/health/ready');
      return r.status === 503 ? r : undefined;
    });
    const body = JSON.parse(notReady.body);
    expect(body.status).toBe('not_ready');
    expect(body.checks.durable).toBe(false);
    expect(body.reasons.map((r: { code: string }) => r.code)).toContain('writer_stalled');
    expect(notReady.headers['retry-after']).toBeDefined();
    expect(notReady.body).not.toMatch(/MRN-STALL/);
    expect((await anon.request('GET', '/health/live')).status).toBe(200);

    // A new write is refused, not queued behind the frozen commit.
    const refused = await writer.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-STALL-4' } }));
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(JSON.parse(refused.body).detail).toMatch(/no commit progress/);

    const metrics = (await anon.request('GET', '/metrics')).body;
    expect(metrics).toMatch(/^audit_writer_stalled 1$/m);
    expect(metrics).toMatch(/^audit_writer_stalls_total 1$/m);
    expect(t.logLines.some((l) => JSON.parse(l).msg === 'writer stalled')).toBe(true);

    // The writer moves again: the held request is acknowledged, readiness comes back by itself.
    fs.rmSync(holdFile);
    const heldRes = await held;
    expect(heldRes.status).toBe(202);
    acknowledged.push(...(JSON.parse(heldRes.body).receipts as Receipt[]));
    await waitFor('readiness to come back', async () => ((await anon.request('GET', '/health/ready')).status === 200 ? true : undefined));
    expect((await anon.request('GET', '/metrics')).body).toMatch(/^audit_writer_stalled 0$/m);
    expect(t.logLines.some((l) => JSON.parse(l).msg === 'writer moving again')).toBe(true);
    const after = await writer.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-STALL-4' } }));
    expect(after.status).toBe(202);
    acknowledged.push(...(JSON.parse(after.body).receipts as Receipt[]));

    // Every acknowledged event is stored with its receipt, and the store verifies.
    const reader = await t.client('compliance_officer');
    for (const r of acknowledged) {
      const got = await reader.request('GET', `/v1/events/${r.id}`);
      expect(got.status).toBe(200);
      expect(JSON.parse(got.body).receipt).toEqual(r);
    }
    expect(acknowledged).toHaveLength(4);
    await t.close();
    const verify = runCli(['verify', '--data-dir', t.dataDir]);
    expect(verify.stdout + verify.stderr).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  });
});
