/**
 * Rule overrides shared across instances with STORE=elasticsearch: two services on their own data
 * dirs (sharing the keys) and one Elasticsearch (the repository's double over HTTP). A rule
 * switched off through the instance that does not run detection silences it on the one that does
 * (within the documented second of sync), switched back on it raises again, and both instances
 * show the same audit trail. A service alert (clock data quality) raised on either is in the
 * cluster for both; neither instance has a database file of its own.
 */
import * as fs from 'node:fs';
import { databasePath } from '@app/storage';
import { AlertJson, allAlerts, waitForDetection } from './support/detection';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { startTwoInstances, until } from './support/es-instances';
import { accessEvent } from './support/events';
import { TestApp } from './support/test-app';

const RULE = 'break-glass-access';
let minute = 0;

function breakGlass(actor: string) {
  minute += 1;
  const at = new Date(Date.UTC(2026, 2, 2, 8, 0, 0) + minute * 60_000).toISOString();
  return accessEvent({ occurredAt: at, action: 'break_glass', purpose: 'EMERGENCY', actor: { id: actor, type: 'user', role: 'physician' }, patient: { id: `MRN-RO-SHARED-${minute}` } });
}

describe('rule overrides shared through Elasticsearch', () => {
  let es: EsFakeServer;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    es = await startEsFakeServer();
    ({ a, b } = await startTwoInstances(es, 'audit-ro-shared-b-'));
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await es?.close();
  });

  it('a rule switched off through the other instance raises nothing where detection runs, and raises again once switched on', async () => {
    const running = async (t: TestApp) => {
      const status = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/detection/status')).body) as { running: boolean; leader: boolean };
      expect(status.leader).toBe(status.running); // the lease holder, and only it, evaluates
      return status.running;
    };
    // One of the two holds the detection lease: changes go through the other one.
    const leader = await until(async () => ((await running(a)) ? a : (await running(b)) ? b : null), (x) => x !== null, 10_000);
    expect(leader).not.toBeNull();
    const [runner, other] = leader === a ? [a, b] : [b, a];
    expect(await running(other)).toBe(false);

    const post = async (actor: string): Promise<AlertJson[]> => {
      expect((await (await runner.client('integration')).request('POST', '/v1/events', { events: [breakGlass(actor)] })).status).toBe(202);
      const analyst = await runner.client('soc_analyst');
      await waitForDetection(analyst);
      return (await allAlerts(analyst)).filter((x) => x.ruleId === RULE);
    };

    const admin = await other.client('admin');
    expect((await admin.request('POST', `/v1/rule-overrides/${RULE}/disable`, { note: 'noisy during the EHR migration' })).status).toBe(200);
    // Every instance reads the overrides every second.
    const seen = await until(async () => JSON.parse((await (await runner.client('admin')).request('GET', '/v1/rule-overrides')).body) as { rules: { id: string; enabled: boolean }[] }, (v) => v.rules.find((r) => r.id === RULE)?.enabled === false, 5_000);
    expect(seen.rules.find((r) => r.id === RULE)?.enabled).toBe(false);
    expect(await post('dr-shared-off')).toEqual([]);

    expect((await admin.request('POST', `/v1/rule-overrides/${RULE}/enable`, { note: 'migration over' })).status).toBe(200);
    await until(async () => JSON.parse((await (await runner.client('admin')).request('GET', '/v1/rule-overrides')).body) as { rules: { id: string; enabled: boolean }[] }, (v) => v.rules.find((r) => r.id === RULE)?.enabled === true, 5_000);
    const after = await post('dr-shared-on');
    expect(after.map((x) => x.groupKey['actor.id'])).toEqual(['dr-shared-on']);

    // A service alert (an event dated in 2099 from an integration: clock data quality) raised on the
    // instance not running detection is in the cluster for both, and in neither instance's own file.
    const future = accessEvent({ occurredAt: '2099-01-01T00:00:00.000Z', source: { system: 'clock-system', integration: 'clock-feed' } });
    expect((await (await other.client('integration', 'clock-feed')).request('POST', '/v1/events', future)).status).toBe(202);
    for (const t of [runner, other]) {
      const analyst = await t.client('soc_analyst');
      const clock = await until(() => allAlerts(analyst, 'rule=data-quality-clock-skew'), (v) => v.length === 1, 10_000);
      expect(clock.map((x) => x.groupKey)).toEqual([{ 'source.integration': 'clock-feed' }]);
    }
    // Neither instance has a database file to keep an alert in.
    for (const t of [runner, other]) expect(fs.existsSync(databasePath(t.dataDir))).toBe(false);

    // Both instances show the same trail, newest first.
    for (const t of [runner, other]) {
      const history = JSON.parse((await (await t.client('admin')).request('GET', `/v1/rule-overrides/history?rule=${RULE}`)).body) as { changes: { action: string; note: string }[] };
      expect(history.changes.map((c) => [c.action, c.note])).toEqual([
        ['enable', 'migration over'],
        ['disable', 'noisy during the EHR migration'],
      ]);
    }
  }, 60_000);
});
