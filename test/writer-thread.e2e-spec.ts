/**
 * The writer thread (WRITER_THREAD=true, the default): the compiled service commits on a worker
 * thread with its own SQLite connection while `auditctl` processes append to the access chain on
 * theirs. Every answer is a 202 (or a 503 asking to retry, never a 500), the CLI commands succeed,
 * idempotency holds across the thread (same receipt for a repeat, 409 for other content), SIGTERM
 * during load drains and exits cleanly, and after a restart every receipt ever given is readable
 * unchanged and every chain verifies.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '@app/core';
import { TokenService } from '@app/security';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { CLI_MAIN, REPO_ROOT, startService, waitForExit } from './support/cli';
import { accessEvent } from './support/events';
import { tempDataDir } from './support/test-app';

interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

const execCli = promisify(execFile);

async function cli(args: string[]): Promise<number> {
  try {
    await execCli(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, env: process.env, timeout: 120_000 });
    return 0;
  } catch (err) {
    const code = (err as { code?: number }).code;
    return typeof code === 'number' ? code : -1;
  }
}

describe('writer thread', () => {
  it('keeps every ingest promise while other connections write the same database', async () => {
    const dataDir = tempDataDir('audit-writer-thread-');
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn', WRITER_THREAD: 'true', RATE_LIMIT_EVENTS_PER_SECOND: '0' };
    const tokens = new TokenService(loadConfig({}, { dataDir }));
    const writeToken = await tokens.issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' });
    const readToken = await tokens.issue({ role: 'compliance_officer', sub: 'writer-thread-test', ttl: '1h' });
    const acknowledged = new Map<string, Receipt>();
    const statuses = new Map<number, number>();

    let svc = await startService(env);
    let writer = new ApiClient(svc.url, writeToken, { caPem: localCa(dataDir), maxSockets: 8 });
    let reader = new ApiClient(svc.url, readToken, { caPem: localCa(dataDir), maxSockets: 8 });
    try {
      // Load from 4 clients while 3 CLI processes write the access chain on their own connections.
      let loading = true;
      const client = async (n: number) => {
        while (loading) {
          const events = Array.from({ length: 1 + (n % 2) * 19 }, () => accessEvent({ occurredAt: new Date().toISOString() }));
          const res = await writer.request('POST', '/v1/events', events.length === 1 ? events[0] : { events });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 202) for (const r of JSON.parse(res.body).receipts as Receipt[]) acknowledged.set(r.id, r);
        }
      };
      const load = Promise.all([0, 1, 2, 3].map(client));
      const outDir = path.join(dataDir, 'export');
      const cliStatuses = await Promise.all([
        cli(['export', '--chain', 'data_access', '--out', outDir, '--data-dir', dataDir]),
        cli(['verify', '--data-dir', dataDir]),
        cli(['export', '--chain', 'data_access', '--out', `${outDir}-2`, '--data-dir', dataDir]),
      ]);
      loading = false;
      await load;
      expect(cliStatuses).toEqual([0, 0, 0]);
      expect([...statuses.keys()].every((s) => s === 202 || s === 503)).toBe(true);
      expect(statuses.get(202) ?? 0).toBeGreaterThan(0);

      // Idempotency through the thread: the original receipt for a repeat, 409 for other content.
      const event = accessEvent({ occurredAt: new Date().toISOString() });
      const first = await writer.request('POST', '/v1/events', event);
      expect(first.status).toBe(202);
      const receipt = (JSON.parse(first.body).receipts as Receipt[])[0];
      acknowledged.set(receipt.id, receipt);
      const again = await writer.request('POST', '/v1/events', { events: [event, event] });
      expect(again.status).toBe(202);
      expect(JSON.parse(again.body).receipts).toEqual([receipt, receipt]);
      const changed = await writer.request('POST', '/v1/events', { ...event, action: 'update' });
      expect(changed.status).toBe(409);

      // SIGTERM under load: the service drains what it accepted and exits cleanly.
      loading = true;
      const more = Promise.all([0, 1].map((n) => client(n).catch(() => undefined)));
      await new Promise((r) => setTimeout(r, 300));
      svc.child.kill('SIGTERM');
      await waitForExit(svc.child);
      loading = false;
      await more;
      expect(svc.child.exitCode).toBe(0);
      // It says so: the last line reports the finished shutdown, after the one announcing it.
      const stdout = svc.child.stdout!;
      if (!stdout.readableEnded) await new Promise((r) => stdout.once('end', r));
      const lines = svc.output.filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg?: string }).msg);
      expect(lines.indexOf('shut down')).toBeGreaterThan(lines.indexOf('shutting down'));
      expect(lines.indexOf('shutting down')).toBeGreaterThanOrEqual(0);
    } finally {
      writer.close();
      reader.close();
      svc.child.kill('SIGKILL');
      await waitForExit(svc.child);
    }

    // After the restart: every receipt given is there unchanged, and every chain verifies.
    svc = await startService(env);
    writer = new ApiClient(svc.url, writeToken, { caPem: localCa(dataDir), maxSockets: 8 });
    reader = new ApiClient(svc.url, readToken, { caPem: localCa(dataDir), maxSockets: 8 });
    try {
      const ids = [...acknowledged.keys()];
      for (let i = 0; i < ids.length; i += 16) {
        const answers = await Promise.all(ids.slice(i, i + 16).map(async (id) => {
          const res = await reader.request('GET', `/v1/events/${id}`);
          return res.status === 200 ? (JSON.parse(res.body).receipt as Receipt) : res.status;
        }));
        expect(answers).toEqual(ids.slice(i, i + 16).map((id) => acknowledged.get(id)));
      }
      const verify = JSON.parse((await reader.request('GET', '/v1/integrity/verify')).body);
      expect(verify).toMatchObject({ ok: true, break: null });
    } finally {
      writer.close();
      reader.close();
      svc.child.kill('SIGKILL');
      await waitForExit(svc.child);
    }
  });
});
