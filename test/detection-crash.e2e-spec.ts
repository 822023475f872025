/**
 * Streaming detection across restarts and SIGKILL (compiled service, `npm run build` first): the
 * seed traffic is posted the way `auditctl seed` posts it while the service is killed with
 * SIGKILL at random moments, part-way through planted patterns, with frequent engine snapshots so
 * kills land before, during and after them. After the last restart every planted alert exists
 * exactly once (none lost, none duplicated), nothing else alerted, and the engine evaluated each
 * committed event once. A clean restart (SIGTERM) afterwards changes nothing.
 */
import { loadConfig } from '@app/core';
import { patientTokenizerFor, TokenService } from '@app/security';
import { generateTraffic, lastWorkingDay, planSeedRequests, postTicks, SeedBatch } from '@app/simulation';
import { ApiClient, localCa } from '../apps/auditctl/src/api-client';
import { startService, waitForExit } from './support/cli';
import { alertGroup, allAlerts, plantedGroup, waitForDetection } from './support/detection';
import { tempDataDir } from './support/test-app';

const KILLS = 8;

describe('detection across SIGKILL and restart', () => {
  it(`keeps every planted alert exactly once across ${KILLS} kills`, async () => {
    const dataDir = tempDataDir('audit-detect-crash-');
    const env = { DATA_DIR: dataDir, LOG_LEVEL: 'warn', DETECTION_SNAPSHOT_MS: '25', DETECTION_SNAPSHOT_EVENTS: '400' };
    const traffic = generateTraffic({ events: 4_000, seed: 42, day: lastWorkingDay() });
    const ticks = planSeedRequests(traffic.events);
    const tokens = new TokenService(loadConfig({}, { dataDir }));
    const integrationTokens = new Map<string, string>();
    for (const integration of new Set(ticks.flatMap((t) => t.map((b) => b.integration)))) {
      integrationTokens.set(integration, await tokens.issue({ role: 'integration', sub: integration, ttl: '1h' }));
    }
    const analystToken = await tokens.issue({ role: 'soc_analyst', sub: 'crash-analyst', ttl: '1h' });
    let rand = 4242;
    const random = () => ((rand = (rand * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    /** Batches acknowledged so far; a restart posts again from the first tick not fully acknowledged (ingest is idempotent). */
    const acknowledged = new Set<SeedBatch>();
    const firstOpenTick = () => {
      const k = ticks.findIndex((t) => t.some((b) => !acknowledged.has(b)));
      return k < 0 ? ticks.length : k;
    };

    const progressAtKill: number[] = [];
    for (let round = 0; round <= KILLS; round++) {
      const svc = await startService(env);
      const ca = localCa(dataDir);
      const clients = new Map([...integrationTokens].map(([integration, token]) => [integration, new ApiClient(svc.url, token, { caPem: ca, maxSockets: 4 })]));
      const analyst = new ApiClient(svc.url, analystToken, { caPem: ca });
      try {
        let killed = false;
        const post = async () => {
          try {
            // As `auditctl seed` posts: 3 ticks in flight, so commit order stays within the late allowance.
            await postTicks(ticks.slice(firstOpenTick()), async (batch) => {
              if (killed) throw new Error('killed');
              const res = await clients.get(batch.integration)!.request('POST', '/v1/events', { events: batch.events });
              if (res.status !== 202) throw new Error(`POST /v1/events answered ${res.status}: ${res.body.slice(0, 300)}`);
              acknowledged.add(batch);
            });
          } catch (error) {
            if (!killed) throw error; // connection reset by the kill: not acknowledged, posted again after the restart
          }
        };
        if (round === KILLS) {
          await post();
          expect(firstOpenTick()).toBe(ticks.length);
          // The kills landed part-way through the traffic, not all before or after it.
          expect(progressAtKill.filter((k) => k > 0 && k < ticks.length).length).toBeGreaterThanOrEqual(KILLS / 2);
          const status = await waitForDetection(analyst);
          // Every committed event (positions 1..head, no gaps) evaluated exactly once across all the kills.
          const evaluated = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as { evaluated: number };
          expect(evaluated.evaluated).toBe(status.headPosition);
          expect(status.headPosition).toBe(traffic.events.length);
          const tokenizer = patientTokenizerFor({ dataDir });
          const alerts = await allAlerts(analyst);
          expect(alerts.map((a) => alertGroup(a.ruleId, a.groupKey)).sort()).toEqual(traffic.planted.map((p) => plantedGroup(p.rule, p.group, (id) => tokenizer.token(id))).sort());
          expect(new Set(alerts.map((a) => a.id)).size).toBe(alerts.length);
          break;
        }
        const posting = post();
        await new Promise((r) => setTimeout(r, 100 + random() * 600));
        svc.child.kill('SIGKILL');
        killed = true;
        await waitForExit(svc.child);
        await posting;
        progressAtKill.push(firstOpenTick());
      } finally {
        for (const c of clients.values()) c.close();
        analyst.close();
        if (svc.child.exitCode === null && svc.child.signalCode === null) {
          svc.child.kill('SIGTERM');
          await waitForExit(svc.child);
        }
      }
    }

    // A clean restart resumes from the final snapshot: nothing new, nothing twice.
    const svc = await startService(env);
    const analyst = new ApiClient(svc.url, analystToken, { caPem: localCa(dataDir) });
    try {
      await waitForDetection(analyst);
      expect((await allAlerts(analyst)).length).toBe(traffic.planted.length);
    } finally {
      analyst.close();
      svc.child.kill('SIGTERM');
      await waitForExit(svc.child);
    }
  }, 300_000);
});
