/**
 * Large batches over HTTPS on one keep-alive connection (the compiled service, as integrations
 * reach it): every request is read and answered. The receipts of a batch of 250 events (~35 KiB)
 * exceed the TLS socket's default write high-water mark (16 KiB); without a larger one, Node's
 * HTTP server dropped about every second following request on that connection (HPE_PAUSED,
 * ECONNRESET at the client) whenever a group commit kept the event loop busy in between.
 */
import * as fs from 'node:fs';
import { loadConfig } from '@app/core';
import { TokenService } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { ServiceProcess, startService, waitForExit } from './support/cli';
import { tempDataDir } from './support/test-app';

describe('large batches on one HTTPS keep-alive connection', () => {
  let dataDir: string;
  let svc: ServiceProcess;
  let client: ApiClient;

  beforeAll(async () => {
    dataDir = tempDataDir('audit-large-batches-');
    svc = await startService({ DATA_DIR: dataDir, RATE_LIMIT_EVENTS_PER_SECOND: '0' });
    const token = await new TokenService(loadConfig({}, { dataDir })).issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' });
    // One socket: every request after the first reuses the connection of the previous answer.
    client = new ApiClient(svc.url, token, { caPem: localCa(dataDir), maxSockets: 1 });
  });

  afterAll(async () => {
    client?.close();
    svc?.child.kill('SIGTERM');
    if (svc) await waitForExit(svc.child);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 20 batches of 250 events posted back to back, each with all its receipts', async () => {
    expect(svc.url.startsWith('https://')).toBe(true);
    // Realistic traffic (several chains, detection at work); source.integration is filled in from the token.
    const traffic = generateTraffic({ events: 20 * 250, seed: 5 }).events.map((e) => ({ ...e, source: { system: e.source.system } }));
    for (let i = 0; i < 20; i++) {
      const events = traffic.slice(i * 250, (i + 1) * 250);
      const res = await client.request('POST', '/v1/events', { events });
      expect(res.status).toBe(202);
      const { receipts } = JSON.parse(res.body) as { receipts: { id: string }[] };
      expect(receipts.map((r) => r.id)).toEqual(events.map((e) => e.id));
    }
  });
});
