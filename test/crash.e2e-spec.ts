/**
 * Crash safety: the service is killed with SIGKILL at random moments while concurrent clients
 * post single events and batches. After every restart, every receipt that was ever returned is
 * readable with the same chain, seq and hash, and every chain verifies.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { TokenService } from '@app/security';
import { loadConfig } from '@app/core';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { accessEvent } from './support/events';
import { startService, waitForExit } from './support/cli';
import { tempDataDir } from './support/test-app';

const KILLS = 20;

interface Receipt {
  id: string;
  chain: string;
  seq: number;
  hash: string;
}

describe('SIGKILL during concurrent ingestion', () => {
  it(`loses no acknowledged event and leaves every chain verifiable across ${KILLS} kills`, async () => {
    const dataDir = tempDataDir('audit-crash-');
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    const tokens = new TokenService(loadConfig({}, { dataDir }));
    const writeToken = await tokens.issue({ role: 'integration', sub: 'sample-ehr', ttl: '1h' });
    const readToken = await tokens.issue({ role: 'compliance_officer', sub: 'crash-test', ttl: '1h' });
    const acknowledged = new Map<string, Receipt>();
    let rand = 12345;
    const random = () => ((rand = (rand * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

    for (let round = 0; round <= KILLS; round++) {
      const svc = await startService(env);
      const ca = localCa(dataDir);
      const writer = new ApiClient(svc.url, writeToken, { caPem: ca, maxSockets: 8 });
      const reader = new ApiClient(svc.url, readToken, { caPem: ca, maxSockets: 8 });
      try {
        // After the restart: everything acknowledged so far is there, unchanged.
        const ids = [...acknowledged.keys()];
        const sample = round === KILLS ? ids : ids.filter(() => random() < 0.2);
        for (let i = 0; i < sample.length; i += 16) {
          await Promise.all(
            sample.slice(i, i + 16).map(async (id) => {
              const res = await reader.request('GET', `/v1/events/${id}`);
              expect(res.status).toBe(200);
              expect(JSON.parse(res.body).receipt).toEqual(acknowledged.get(id));
            }),
          );
        }
        const verify = JSON.parse((await reader.request('GET', '/v1/integrity/verify')).body);
        expect(verify).toMatchObject({ ok: true, break: null });
        if (round === KILLS) break;

        // Load: 6 clients, singles and batches, until the kill.
        let killed = false;
        const client = async (n: number) => {
          while (!killed) {
            const events = Array.from({ length: n % 2 === 0 ? 1 : 1 + Math.floor(random() * 25) }, () => accessEvent({ occurredAt: new Date().toISOString() }));
            try {
              const res = await writer.request('POST', '/v1/events', events.length === 1 ? events[0] : { events });
              if (res.status === 202) for (const r of JSON.parse(res.body).receipts as Receipt[]) acknowledged.set(r.id, r);
            } catch {
              return; // connection reset by the kill: not acknowledged, so nothing is owed
            }
          }
        };
        const load = Promise.all([0, 1, 2, 3, 4, 5].map(client));
        await new Promise((r) => setTimeout(r, 100 + random() * 400));
        svc.child.kill('SIGKILL');
        killed = true;
        await waitForExit(svc.child);
        await load;
      } finally {
        writer.close();
        reader.close();
        svc.child.kill('SIGKILL');
        await waitForExit(svc.child);
      }
    }

    // Final check straight from the file: every acknowledged receipt is stored exactly as acknowledged.
    expect(acknowledged.size).toBeGreaterThan(200);
    const db = new Database(path.join(dataDir, 'audit.db'), { readonly: true });
    const get = db.prepare('SELECT chain, seq, hash FROM events WHERE id = ?');
    for (const [id, r] of acknowledged) {
      const row = get.get(id) as { chain: string; seq: number; hash: Buffer } | undefined;
      expect(row && { id, chain: row.chain, seq: row.seq, hash: row.hash.toString('hex') }).toEqual(r);
    }
    db.close();
  }, 600_000); // 21 service starts: about 140 s on an idle CI machine, over 240 s on a loaded one
});
