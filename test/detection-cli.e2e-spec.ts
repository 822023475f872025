/**
 * Detection from the command line and at start-up (compiled CLI and service, `npm run build`
 * first): `auditctl rules test` passes on the shipped rules and fails (exit 1) on a rule whose
 * example no longer holds or a rule file that does not load; the service refuses to start on a bad
 * rule file, naming file, field and why; `auditctl detect --from` reproduces on a store the alerts
 * streaming detection raises, and running it twice (or after streaming) adds nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectionSettingsOf, loadConfig } from '@app/core';
import { patientTokenizerFor } from '@app/security';
import { generateTraffic, lastWorkingDay, planSeedRequests } from '@app/simulation';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { REPO_ROOT, runCli, startService } from './support/cli';
import { alertGroup, allAlerts, plantedGroup, postTicks, waitForDetection } from './support/detection';
import { startTestApp, tempDataDir } from './support/test-app';

const RULES = path.join(REPO_ROOT, 'detection-rules');

function copyRules(edit: (file: string, text: string) => string): string {
  const dir = tempDataDir('audit-rules-');
  for (const f of fs.readdirSync(RULES)) fs.writeFileSync(path.join(dir, f), edit(f, fs.readFileSync(path.join(RULES, f), 'utf8')));
  return dir;
}

describe('auditctl rules test', () => {
  it('passes on the shipped rules', () => {
    const r = runCli(['rules', 'test']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const count = fs.readdirSync(RULES).filter((f) => f.endsWith('.yml')).length;
    expect(r.stdout).toContain(`${count}/${count} rules passed`);
    expect(r.stdout).not.toMatch(/FAIL/);
  });

  it('fails with exit code 1 and names the rule and scenario when an example no longer holds', () => {
    const dir = copyRules((f, text) => (f === 'bulk-phi-read.yml' ? text.replace('gte: 50', 'gte: 5000') : text));
    const r = runCli(['rules', 'test', '--dir', dir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL bulk-phi-read/m);
    expect(r.stdout).toMatch(/FAIL fires: .*\n\s+- expected at least one alert\(s\), got 0/);
    expect(r.stdout).toMatch(/^PASS break-glass-access/m);
  });

  it('fails with exit code 1 naming file, field and why when a rule does not load', () => {
    const dir = copyRules((f, text) => (f === 'bulk-export.yml' ? text.replace('kind: threshold', 'kind: thresold') : text));
    const r = runCli(['rules', 'test', '--dir', dir]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/bulk-export\.yml: kind: must be one of: match, threshold/);
  });
});

describe('service start-up', () => {
  it('refuses to start on a bad rule file, naming the file, the field and why', async () => {
    const dir = copyRules((f, text) => (f === 'bulk-phi-read.yml' ? text.replace('gte: 50', 'gte: fifty') : text));
    const failure = startService({ DATA_DIR: tempDataDir(), RULES_DIR: dir, INSECURE_HTTP: 'true' });
    await expect(failure).rejects.toThrow(/service exited with 1/);
    await expect(failure).rejects.toThrow(/bulk-phi-read\.yml: gte: Expected number, received string/);
  });

  it('refuses a bad detection setting, naming the key', async () => {
    const failure = startService({ DATA_DIR: tempDataDir(), DETECTION_TIME_ZONE: 'Mars/Olympus_Mons', INSECURE_HTTP: 'true' });
    await expect(failure).rejects.toThrow(/DETECTION_TIME_ZONE: must be an IANA time zone/);
  });
});

describe('auditctl detect --from (backfill)', () => {
  it('reproduces the streaming alerts on a store, idempotently', async () => {
    const dataDir = tempDataDir('audit-backfill-');
    const traffic = generateTraffic({ events: 4_000, seed: 42, day: lastWorkingDay() });
    const tokenizer = patientTokenizerFor({ dataDir });
    const planted = traffic.planted.map((p) => plantedGroup(p.rule, p.group, (id) => tokenizer.token(id))).sort();

    // A store filled while streaming detection was off.
    const off = await startTestApp({ dataDir, detection: { ...detectionSettingsOf(loadConfig({})), enabled: false } });
    const clients = new Map<string, Promise<ApiClient>>();
    const clientFor = (integration: string) => {
      if (!clients.has(integration)) clients.set(integration, off.client('integration', integration));
      return clients.get(integration)!;
    };
    await postTicks(planSeedRequests(traffic.events), clientFor);
    expect(await allAlerts(await off.client('soc_analyst'))).toEqual([]);
    await off.close();

    const first = runCli(['detect', '--from', '2000-01-01', '--data-dir', dataDir]);
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    // The store also holds the access log (reads of audit data are recorded as events): evaluated too.
    const evaluated = Number(/^Evaluated (\d+) events/.exec(first.stdout)?.[1]);
    expect(evaluated).toBeGreaterThanOrEqual(traffic.events.length);
    expect(first.stdout).toContain(`${planted.length} alert(s) raised, ${planted.length} new, 0 already stored`);
    expect(first.stdout).toMatch(/^bulk-phi-read\s+high\s+1\s+1$/m);

    const again = runCli(['detect', '--from', '2000-01-01', '--data-dir', dataDir, '--json']);
    expect(again.status).toBe(0);
    const summary = JSON.parse(again.stdout) as { evaluated: number; raised: number; stored: number; rules: { ruleId: string; raised: number; stored: number }[] };
    expect(summary).toMatchObject({ evaluated, raised: planted.length, stored: 0 });

    // Streaming detection over the same store raises the same alerts (same ids): nothing is added.
    const on = await startTestApp({ dataDir });
    try {
      const analyst = await on.client('soc_analyst');
      await waitForDetection(analyst);
      const alerts = await allAlerts(analyst);
      expect(alerts.map((a) => alertGroup(a.ruleId, a.groupKey)).sort()).toEqual(planted);
      expect(alerts).toHaveLength(planted.length);
    } finally {
      await on.close();
    }

    // A range after the traffic evaluates nothing; a range covering only the night evaluates the night
    // reads of a day nurse, which raise nothing: outside-usual-hours needs a learned pattern.
    const later = runCli(['detect', '--from', new Date(Date.now() + 86_400_000).toISOString(), '--data-dir', dataDir, '--json']);
    expect(JSON.parse(later.stdout)).toMatchObject({ evaluated: 0, raised: 0 });
    const night = new Date(lastWorkingDay().getTime() + 20 * 3_600_000).toISOString();
    const nightRun = JSON.parse(runCli(['detect', '--from', night, '--data-dir', dataDir, '--json']).stdout) as typeof summary;
    expect(nightRun.evaluated).toBeGreaterThanOrEqual(4);
    expect(nightRun.rules.filter((r) => r.raised > 0).map((r) => r.ruleId)).toEqual([]);
    expect(nightRun.stored).toBe(0);

    expect(runCli(['detect', '--from', 'yesterday', '--data-dir', dataDir]).status).not.toBe(0);
  }, 180_000);
});

describe('auditctl detect --from with context feeds', () => {
  it('judges the replayed events with the stored context (a namesake read raises same-surname)', async () => {
    const dataDir = tempDataDir('audit-backfill-context-');
    const off = await startTestApp({ dataDir, detection: { ...detectionSettingsOf(loadConfig({})), enabled: false } });
    const hr = await off.client('integration', 'hr-feed');
    const t = Date.now() - 60_000;
    const records = {
      users: [{ id: 'clerk-jo', family: 'Okafor', department: 'registration', status: 'active' }],
      patients: [{ id: 'MRN-OK1', family: 'OKAFOR' }],
    };
    for (const kind of ['users', 'patients'] as const) expect((await hr.request('POST', `/v1/context/${kind}`, { records: records[kind] })).status).toBe(202);
    const ehr = await off.client('integration', 'sample-ehr');
    const event = {
      id: '7d9f3c1e-2b4a-4c8d-9e0f-1a2b3c4d5e6f', occurredAt: new Date(t).toISOString(), category: 'data_access', action: 'read', outcome: 'success',
      actor: { id: 'clerk-jo', type: 'user', role: 'registration_clerk' }, patient: { id: 'MRN-OK1' }, source: { system: 'ehr-gateway', integration: 'sample-ehr' },
    };
    expect((await ehr.request('POST', '/v1/events', event)).status).toBe(202);
    await off.close();

    const run = runCli(['detect', '--from', '2000-01-01', '--data-dir', dataDir, '--json']);
    expect(run.stderr).toBe('');
    const summary = JSON.parse(run.stdout) as { rules: { ruleId: string; raised: number }[] };
    expect(summary.rules.filter((r) => r.raised > 0).map((r) => [r.ruleId, r.raised])).toEqual([['same-surname', 1]]);
  }, 120_000);
});
