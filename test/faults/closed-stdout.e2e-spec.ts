/**
 * Fault suite: a failing log sink (issue 20). The service runs with stdout to a pipe whose read end
 * the test then closes (a log shipper that died): every further log line fails with EPIPE. The
 * service keeps serving (202s, readiness 200) and counts the dropped lines in
 * audit_log_lines_dropped_total; what it acknowledged is stored and verifies.
 */
import { accessEvent } from '../support/events';
import { runCli } from '../support/cli';
import { tempDataDir } from '../support/test-app';
import { expectAllStored, Receipt, startFaultService, waitFor } from './fault-service';

describe('fault: stdout is a pipe whose reader went away', () => {
  it('keeps acknowledging events and stays ready, counting the dropped log lines', async () => {
    const dataDir = tempDataDir('audit-fault-stdout-');
    const svc = await startFaultService(dataDir, 'pipe');
    try {
      const writer = await svc.client('integration');
      const anon = await svc.client(null);
      const acknowledged = new Map<string, Receipt>();
      const post = async (n: number) => {
        const res = await writer.request('POST', '/v1/events', { events: Array.from({ length: n }, (_, i) => accessEvent({ patient: { id: `MRN-PIPE-${i}` } })) });
        expect(res.status).toBe(202);
        for (const r of JSON.parse(res.body).receipts as Receipt[]) acknowledged.set(r.id, r);
      };
      await post(5);

      // The log reader goes away: the read end of the service's stdout is closed.
      svc.child.stdout!.destroy();
      for (let i = 0; i < 20; i++) await post(10);
      expect(svc.child.exitCode).toBeNull();
      expect((await anon.request('GET', '/health/live')).status).toBe(200);
      expect((await anon.request('GET', '/health/ready')).status).toBe(200);

      // Every request logs a line, each one dropped and counted.
      const dropped = await waitFor('dropped log lines to be counted', async () => {
        const m = /^audit_log_lines_dropped_total\{stream="stdout",reason="(EPIPE|ERR_STREAM_DESTROYED)"\} (\d+)$/m.exec((await anon.request('GET', '/metrics')).body);
        return m && Number(m[2]) >= 20 ? Number(m[2]) : undefined;
      });
      expect(dropped).toBeGreaterThanOrEqual(20);

      await expectAllStored(await svc.client('compliance_officer'), acknowledged);
      expect(acknowledged.size).toBe(205);
    } finally {
      await svc.stop();
    }
    const verify = runCli(['verify', '--data-dir', dataDir]);
    expect(verify.stdout).toMatch(/^OK/m);
    expect(verify.status).toBe(0);
  });
});
