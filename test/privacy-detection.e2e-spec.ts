/**
 * Privacy monitoring end to end over HTTP (issue 13 items 3-5, issue 22's detection blinding): with
 * context posted through the context feeds (POST /v1/context/users|patients|encounters), events
 * posted through POST /v1/events raise alerts with the right `reasons`, `actor` and `patient` (a
 * token for an analyst), and their look-alikes stay quiet; a nightly batch of yesterday's log raises
 * its bulk-read alert; one integration's event dated now + 4 min cannot blind another's bulk read;
 * what even a late lane cannot place is counted per source in /metrics and raises a data-quality alert.
 * Baselines survive a restart: a week of history learned, the service restarted on the same data
 * directory (resuming from its snapshot, nothing replayed), then an access outside the learned hours
 * raises `outside-usual-hours` while one inside them stays quiet.
 */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { allAlerts, AlertJson, waitForDetection } from './support/detection';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/webhook-receiver';

const MINUTE = 60_000;
const DAY = 86_400_000;
const now = Date.now();

const context = {
  users: [
    { id: 'clerk-jo', family: 'Okafor', department: 'registration', status: 'active' },
    { id: 'dr-okafor', family: 'OKAFOR', department: 'cardiology', status: 'active' },
    { id: 'nurse-ann', family: 'Rivera', department: 'cardiology', status: 'active', patientId: 'MRN-ANN' },
    { id: 'dr-ray', department: 'neurology', status: 'active' },
  ],
  patients: [
    { id: 'MRN-OK1', family: 'Okafor' },
    { id: 'MRN-STAR', family: 'Star', vip: true },
  ],
  encounters: [
    { id: 'enc-ok1', patient: { id: 'MRN-OK1' }, department: 'cardiology', participants: ['dr-okafor'], start: new Date(now - DAY).toISOString() },
    { id: 'enc-star', patient: { id: 'MRN-STAR' }, department: 'neurology', participants: ['dr-ray'], start: new Date(now - DAY).toISOString() },
  ],
};

function read(integration: string, actor: string, patient: string, at: number, extra: Partial<AccessEvent> = {}): AccessEvent {
  registerPhiMarkers('patient-id', [patient]);
  return {
    id: randomUUID(),
    occurredAt: new Date(at).toISOString(),
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: actor, type: 'user', role: 'clerk', ip: '10.9.8.7' },
    patient: { id: patient },
    resource: { type: 'Observation' },
    source: { system: `${integration}-system`, integration },
    ...extra,
  };
}

const byPair = (alerts: AlertJson[], rule?: string) =>
  alerts.filter((a) => !rule || a.ruleId === rule).map((a) => `${a.ruleId} ${(a as AlertJson & { actor?: string }).actor}`);

describe('privacy detection with context, late data and per-source clocks', () => {
  let app: TestApp;
  let analyst: ApiClient;
  const clients = new Map<string, Promise<ApiClient>>();
  const post = async (integration: string, events: AccessEvent[]) => {
    if (!clients.has(integration)) clients.set(integration, app.client('integration', integration));
    const client = await clients.get(integration)!;
    for (let i = 0; i < events.length; i += 500) {
      const res = await client.request('POST', '/v1/events', { events: events.slice(i, i + 500) });
      expect(res.status).toBe(202);
    }
  };

  beforeAll(async () => {
    app = await startTestApp();
    analyst = await app.client('soc_analyst', 'analyst-jane');
    registerPhiMarkers('patient-id', ['MRN-OK1', 'MRN-STAR', 'MRN-ANN']);
    const hr = await app.client('integration', 'hr-feed');
    for (const kind of ['users', 'patients', 'encounters'] as const) {
      const res = await hr.request('POST', `/v1/context/${kind}`, { records: context[kind] });
      expect({ kind, status: res.status, body: JSON.parse(res.body) }).toEqual({ kind, status: 202, body: { accepted: context[kind].length, rejected: [] } });
    }
  }, 60_000);
  afterAll(async () => app?.close());

  it('joins context: snooping raises alerts with reasons, actor and a patient token; care-team look-alikes stay quiet', async () => {
    const t = now - 5 * MINUTE;
    await post('ehr-live', [
      read('ehr-live', 'clerk-jo', 'MRN-OK1', t),
      read('ehr-live', 'dr-okafor', 'MRN-OK1', t + 1_000),
      read('ehr-live', 'dr-ray', 'MRN-STAR', t + 2_000),
      read('ehr-live', 'clerk-jo', 'MRN-STAR', t + 3_000),
      read('ehr-live', 'nurse-ann', 'MRN-ANN', t + 4_000),
    ]);
    await waitForDetection(analyst);
    const alerts = (await allAlerts(analyst)) as (AlertJson & { reasons: string[]; actor?: string; patient?: string })[];
    const got = alerts.map((a) => `${a.actor} ${a.reasons.join(',')}`).sort();
    // One alert per access: the catch-all department-mismatch yields to same-surname and vip-record.
    expect(got).toEqual([
      'clerk-jo same-surname',
      'clerk-jo vip-record',
      'nurse-ann self-access',
    ]);
    // The care team (dr-okafor on his namesake's encounter, dr-ray on the VIP's) raised nothing.
    expect(alerts.some((a) => a.actor === 'dr-okafor' || a.actor === 'dr-ray')).toBe(false);
    for (const a of alerts) {
      expect(a.patient).toMatch(/^ptk_/);
      expect(JSON.stringify(a)).not.toContain('MRN-');
    }
    const vip = alerts.find((a) => a.ruleId === 'vip-record')!;
    const detail = await analyst.request('GET', `/v1/alerts/${vip.id}`);
    expect(detail.status).toBe(200);
    const body = JSON.parse(detail.body) as { reasons: string[]; actor: string; patient: string; explanation: { explained: boolean; kind: string }; runbook: { markdown: string } };
    expect(body).toMatchObject({ reasons: ['vip-record'], actor: 'clerk-jo', patient: vip.patient, explanation: { explained: false, kind: 'unexplained' } });
    expect(body.runbook.markdown).toContain('`vip-record`');
    expect(body.runbook.markdown).not.toContain('MRN-STAR');
  }, 60_000);

  it("a nightly batch of yesterday's log raises its bulk-read alert (nothing dropped as late)", async () => {
    const yesterday = now - DAY;
    await post('legacy-batch', Array.from({ length: 60 }, (_, i) => read('legacy-batch', 'night-snoop', `MRN-B${i}`, yesterday + i * 5_000)));
    await waitForDetection(analyst);
    const alerts = (await allAlerts(analyst, 'rule=bulk-phi-read')) as (AlertJson & { reasons: string[]; actor: string })[];
    expect(alerts.map((a) => [a.actor, a.reasons])).toEqual([['night-snoop', ['bulk-read']]]);
    expect(Date.parse(alerts[0].windowEnd)).toBeLessThan(now - DAY + 10 * MINUTE);
    const status = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as { lateDropped: number; lateLaned: number };
    expect(status.lateDropped).toBe(0);
    expect(status.lateLaned).toBeGreaterThanOrEqual(60);
  }, 60_000);

  it('one event dated now + 4 min from integration A does not blind a bulk read from integration B (issue 22)', async () => {
    const t = Date.now();
    await post('int-a', [read('int-a', 'a-user', 'MRN-A1', t + 4 * MINUTE)]);
    await waitForDetection(analyst);
    await post('int-b', Array.from({ length: 60 }, (_, i) => read('int-b', 'b-snoop', `MRN-S${i}`, t - 60_000 + i * 1_000)));
    await waitForDetection(analyst);
    const alerts = await allAlerts(analyst, 'rule=bulk-phi-read');
    expect(byPair(alerts).sort()).toEqual(['bulk-phi-read b-snoop', 'bulk-phi-read night-snoop']);
    const status = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as { lateDropped: number };
    expect(status.lateDropped).toBe(0);
  }, 60_000);

  it('what even a late lane cannot place is counted per source in /metrics and raises a data-quality alert', async () => {
    await post('int-c', [read('int-c', 'c-user', 'MRN-C1', now - 60 * MINUTE)]);
    await waitForDetection(analyst);
    await post('int-c', [read('int-c', 'c-user', 'MRN-C2', now - 180 * MINUTE)]);
    await waitForDetection(analyst);
    const alerts = (await allAlerts(analyst, 'rule=data-quality-unevaluated')) as (AlertJson & { reasons: string[] })[];
    expect(alerts.map((a) => [a.reasons, a.groupKey['source.integration']])).toEqual([[['unevaluated-events'], 'int-c']]);
    const detail = JSON.parse((await analyst.request('GET', `/v1/alerts/${alerts[0].id}`)).body) as { runbook: { markdown: string | null } };
    expect(detail.runbook.markdown).toContain('## Triage');
    const metrics = await (await app.client('admin')).request('GET', '/metrics');
    expect(metrics.body).toMatch(/audit_detection_unevaluated_events_total\{source="int-c"\} 1/);
    expect(metrics.body).not.toMatch(/MRN-C/);
    const status = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as { unevaluated: Record<string, number> };
    expect(status.unevaluated).toEqual({ 'int-c': 1 });
  }, 60_000);

  it('baselines survive a restart: after a week of history and a restart on the same data dir, an access outside the learned hours raises outside-usual-hours, one inside them stays quiet', async () => {
    const HOUR = 60 * MINUTE;
    const t = Date.now();
    // Seven days of one read a day: day-clerk at this time of day, swing-clerk twelve hours away from it.
    const history = [1, 2, 3, 4, 5, 6, 7].flatMap((k) => [
      read('hr-history', 'day-clerk', `MRN-H-D${k}`, t - k * DAY - 5 * MINUTE, { actor: { id: 'day-clerk', type: 'user', role: 'registration_clerk', ip: '10.9.8.7' } }),
      read('hr-history', 'swing-clerk', `MRN-H-S${k}`, t - k * DAY - 12 * HOUR, { actor: { id: 'swing-clerk', type: 'user', role: 'registration_clerk', ip: '10.9.8.7' } }),
    ]);
    history.sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    await post('hr-history', history);
    await waitForDetection(analyst);
    const ours = async () => ((await allAlerts(analyst)) as (AlertJson & { actor?: string })[]).filter((a) => a.actor === 'day-clerk' || a.actor === 'swing-clerk');
    // Learning raised nothing (a baseline not yet learned never fires).
    expect(await ours()).toEqual([]);
    type Status = { position: number; headPosition: number; evaluated: number; lateDropped: number; unevaluated: Record<string, number> };
    const before = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as Status;
    expect(before.unevaluated['hr-history']).toBeUndefined();

    // Restart on the same data directory; the engine resumes from the snapshot written at stop.
    const dataDir = app.dataDir;
    await app.close();
    clients.clear();
    app = await startTestApp({ dataDir });
    analyst = await app.client('soc_analyst', 'analyst-jane');
    await waitUntil('detection running after the restart', async () => JSON.parse((await analyst.request('GET', '/v1/detection/status')).body).running === true);
    const after = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as Status;
    // Nothing was replayed to relearn: the history is known from the snapshot alone.
    expect(after).toMatchObject({ position: before.headPosition, headPosition: before.headPosition, evaluated: before.evaluated });

    // Both clerks read one more patient now: only the one for whom this hour is unusual is alerted.
    await post('ehr-after-restart', [
      read('ehr-after-restart', 'day-clerk', 'MRN-H-D0', Date.now() - MINUTE, { actor: { id: 'day-clerk', type: 'user', role: 'registration_clerk', ip: '10.9.8.7' } }),
      read('ehr-after-restart', 'swing-clerk', 'MRN-H-S0', Date.now() - MINUTE, { actor: { id: 'swing-clerk', type: 'user', role: 'registration_clerk', ip: '10.9.8.7' } }),
    ]);
    await waitForDetection(analyst);
    const alerts = (await ours()) as (AlertJson & { actor?: string; reasons: string[] })[];
    expect(alerts.map((a) => [a.actor, a.ruleId, a.reasons])).toEqual([['swing-clerk', 'outside-usual-hours', ['outside-usual-hours']]]);
  }, 90_000);
});
