/**
 * `auditctl detect --from` over the retention tiers (compiled CLI, `npm run build` first): a store
 * filled with detection off is replayed while hot, then moved to warm by time travel
 * (`retention run --now +6 months`), and the replay over warm raises the same alerts (same ids:
 * every one is reported as already stored) from the same number of events.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { detectionSettingsOf, loadConfig } from '@app/core';
import { patientTokenizerFor } from '@app/security';
import { generateTraffic, lastWorkingDay, planSeedRequests } from '@app/simulation';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { runCli } from './support/cli';
import { allAlerts, plantedGroup, postTicks } from './support/detection';
import { startTestApp, tempDataDir } from './support/test-app';

interface Summary {
  evaluated: number;
  raised: number;
  stored: number;
  rules: { ruleId: string; raised: number; stored: number }[];
}

function rowsIn(dir: string, sql: string): number {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('auditctl detect --from over hot and warm records', () => {
  it('raises the same alerts after the records moved to warm', async () => {
    const dataDir = tempDataDir('audit-backfill-tiers-');
    const traffic = generateTraffic({ events: 4_000, seed: 7, day: lastWorkingDay() });
    const tokenizer = patientTokenizerFor({ dataDir });
    const planted = traffic.planted.map((p) => plantedGroup(p.rule, p.group, (id) => tokenizer.token(id)));
    expect(planted.length).toBeGreaterThan(0);

    const off = await startTestApp({ dataDir, detection: { ...detectionSettingsOf(loadConfig({})), enabled: false } });
    const clients = new Map<string, Promise<ApiClient>>();
    const clientFor = (integration: string) => {
      if (!clients.has(integration)) clients.set(integration, off.client('integration', integration));
      return clients.get(integration)!;
    };
    await postTicks(planSeedRequests(traffic.events), clientFor);
    expect(await allAlerts(await off.client('soc_analyst'))).toEqual([]);
    await off.close();

    const hot = runCli(['detect', '--from', '2000-01-01', '--data-dir', dataDir, '--json']);
    expect(hot.stderr).toBe('');
    expect(hot.status).toBe(0);
    const onHot = JSON.parse(hot.stdout) as Summary;
    expect(onHot.evaluated).toBe(traffic.events.length);
    expect(onHot).toMatchObject({ raised: planted.length, stored: planted.length });

    // Six months later every category is past its 90-day hot window: the records move to warm.
    const moved = runCli(['retention', 'run', '--data-dir', dataDir, '--json', '--now', new Date(Date.now() + 183 * 86_400_000).toISOString()]);
    expect(moved.stderr).toBe('');
    expect(moved.status).toBe(0);
    expect((JSON.parse(moved.stdout) as { warmed: number }).warmed).toBeGreaterThanOrEqual(traffic.events.length);
    expect(rowsIn(dataDir, "SELECT COUNT(*) AS n FROM events WHERE chain <> 'access_log'")).toBe(0);

    const warm = runCli(['detect', '--from', '2000-01-01', '--data-dir', dataDir, '--json']);
    expect(warm.stderr).toBe('');
    expect(warm.status).toBe(0);
    const onWarm = JSON.parse(warm.stdout) as Summary;
    expect(onWarm.evaluated).toBe(onHot.evaluated);
    // Same alerts, same ids: all of them were stored by the replay over hot.
    expect(onWarm).toMatchObject({ raised: planted.length, stored: 0 });
    expect(onWarm.rules.map((r) => [r.ruleId, r.raised])).toEqual(onHot.rules.map((r) => [r.ruleId, r.raised]));

    // A time range still applies to warm records: after the traffic, nothing.
    const later = JSON.parse(runCli(['detect', '--from', new Date(Date.now() + 86_400_000).toISOString(), '--data-dir', dataDir, '--json']).stdout) as Summary;
    expect(later).toMatchObject({ evaluated: 0, raised: 0 });
  }, 240_000);
});
