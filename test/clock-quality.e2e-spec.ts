/**
 * Clock quality at ingest without losing records (issue 15): an event dated far ahead of the server
 * clock (EVENT_MAX_FUTURE_SECONDS, default 300 s) or far behind it (EVENT_MAX_PAST_SECONDS, default
 * 10 years) is stored (202), its receipt warns the sender (no value echoed), it reads back flagged,
 * it is counted per integration (metric and GET /v1/integrity/clock), and the integration gets one
 * data-quality alert per period (not one per event); another integration gets its own. Detection is
 * not blinded: an event dated 2099 from one integration does not stop another's bulk read alerting.
 */
import { randomUUID } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { allAlerts, waitForDetection } from './support/detection';
import { accessEvent } from './support/events';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, TestApp } from './support/test-app';
import { waitUntil } from './support/webhook-receiver';

const MINUTE = 60_000;

function read(integration: string, actor: string, patient: string, at: number): AccessEvent {
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
  };
}

describe('events dated far from the server clock', () => {
  let app: TestApp;
  const clients = new Map<string, Promise<ApiClient>>();
  const client = (integration: string) => {
    if (!clients.has(integration)) clients.set(integration, app.client('integration', integration));
    return clients.get(integration)!;
  };

  beforeAll(async () => {
    app = await startTestApp();
  }, 60_000);
  afterAll(async () => app?.close());

  it('2099 and 2001 are stored with a warning in their receipts, read back flagged, counted per integration, and raise one alert', async () => {
    const lab = await client('lab-feed');
    const ok = read('lab-feed', 'dr-clock', 'MRN-CLK-1', Date.now() - MINUTE);
    const ahead = read('lab-feed', 'dr-clock', 'MRN-CLK-2', Date.parse('2099-01-01T00:00:00.000Z'));
    const behind = read('lab-feed', 'dr-clock', 'MRN-CLK-3', Date.parse('2001-01-01T00:00:00.000Z'));
    const res = await lab.request('POST', '/v1/events', { events: [ok, ahead, behind] });
    expect(res.status).toBe(202);
    expect(res.body).not.toMatch(/2099|2001/);
    const receipts = (JSON.parse(res.body) as { receipts: { id: string; warnings?: string[] }[] }).receipts;
    expect(receipts.map((r) => r.id)).toEqual([ok.id, ahead.id, behind.id]);
    expect(receipts[0].warnings).toBeUndefined();
    expect(receipts[1].warnings).toEqual(["occurredAt is more than 300 s ahead of the server clock: stored and flagged clock-ahead; check the sender's clock"]);
    expect(receipts[2].warnings).toEqual([
      "occurredAt is more than 315360000 s behind the server clock: stored and flagged clock-behind; check the sender's clock, or raise EVENT_MAX_PAST_SECONDS for a backfill",
    ]);

    // Stored (never lose an audit record), and flagged when read back.
    const officer = await app.client('compliance_officer');
    const found = JSON.parse((await officer.request('GET', '/v1/events?actor=dr-clock')).body) as { events: { event: { id: string }; flags?: string[] }[] };
    const flags = Object.fromEntries(found.events.map((e) => [e.event.id, e.flags ?? []]));
    expect(flags).toEqual({ [ok.id]: [], [ahead.id]: ['clock-ahead'], [behind.id]: ['clock-behind'] });

    // A second far-future event in the same period: counted, but no second alert.
    expect((await lab.request('POST', '/v1/events', read('lab-feed', 'dr-clock', 'MRN-CLK-4', Date.now() + 3_600_000))).status).toBe(202);
    const admin = await app.client('admin');
    const status = JSON.parse((await admin.request('GET', '/v1/integrity/clock')).body) as { maxFutureSeconds: number; maxPastSeconds: number; sources: Record<string, { ahead: number; behind: number }> };
    expect(status).toMatchObject({ maxFutureSeconds: 300, maxPastSeconds: 315_360_000, sources: { 'lab-feed': { ahead: 2, behind: 1 } } });
    const metrics = (await admin.request('GET', '/metrics')).body;
    expect(metrics).toMatch(/^audit_ingest_clock_skew_events_total\{integration="lab-feed",direction="ahead"\} 2$/m);
    expect(metrics).toMatch(/^audit_ingest_clock_skew_events_total\{integration="lab-feed",direction="behind"\} 1$/m);
    expect(metrics).not.toMatch(/MRN-CLK|dr-clock/);

    const analyst = await app.client('soc_analyst');
    const alertsOf = async () => (await allAlerts(analyst, 'rule=data-quality-clock-skew')) as unknown as { groupKey: Record<string, unknown>; reasons: string[]; severity: string; id: string }[];
    await waitUntil('the clock alert', async () => (await alertsOf()).length > 0, 10_000);
    const alerts = await alertsOf();
    expect(alerts.map((a) => [a.groupKey, a.reasons, a.severity])).toEqual([[{ 'source.integration': 'lab-feed' }, ['clock-ahead', 'clock-behind'], 'medium']]);
    expect(JSON.stringify(alerts)).not.toMatch(/MRN-CLK|dr-clock/);
    const detail = JSON.parse((await analyst.request('GET', `/v1/alerts/${alerts[0].id}`)).body) as { runbook: { name: string; markdown: string } };
    expect(detail.runbook.name).toBe('data-quality-clock-skew');
    expect(detail.runbook.markdown).toContain('GET /v1/integrity/clock');

    // Another integration with a bad clock gets its own alert.
    expect((await (await client('pacs-feed')).request('POST', '/v1/events', read('pacs-feed', 'dr-pacs', 'MRN-CLK-5', Date.parse('2098-06-01T00:00:00Z')))).status).toBe(202);
    await waitUntil('the second integration\'s alert', async () => (await alertsOf()).length > 1, 10_000);
    expect((await alertsOf()).map((a) => a.groupKey['source.integration']).sort()).toEqual(['lab-feed', 'pacs-feed']);
  }, 60_000);

  it('an event dated 2099 from one integration does not blind a bulk read from another (detection)', async () => {
    const analyst = await app.client('soc_analyst');
    const t = Date.now();
    expect((await (await client('int-a')).request('POST', '/v1/events', read('int-a', 'a-user', 'MRN-A1', Date.parse('2099-01-01T00:00:00Z')))).status).toBe(202);
    await waitForDetection(analyst);
    const snoop = Array.from({ length: 60 }, (_, i) => read('int-b', 'b-snoop', `MRN-S${i}`, t - 60_000 + i * 1_000));
    expect((await (await client('int-b')).request('POST', '/v1/events', { events: snoop })).status).toBe(202);
    await waitForDetection(analyst);
    const bulk = (await allAlerts(analyst, 'rule=bulk-phi-read')) as { actor?: string }[];
    expect(bulk.map((a) => a.actor)).toEqual(['b-snoop']);
  }, 60_000);
});

describe('clock limits off', () => {
  it('EVENT_MAX_FUTURE_SECONDS=0 and EVENT_MAX_PAST_SECONDS=0 flag nothing', async () => {
    const t = await startTestApp({ integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, eventMaxFutureSeconds: 0, eventMaxPastSeconds: 0 } });
    try {
      const res = await (await t.client('integration')).request('POST', '/v1/events', { events: [accessEvent({ occurredAt: '2099-01-01T00:00:00.000Z' }), accessEvent({ occurredAt: '2001-01-01T00:00:00.000Z' })] });
      expect(res.status).toBe(202);
      expect(res.body).not.toContain('warnings');
      const status = JSON.parse((await (await t.client('admin')).request('GET', '/v1/integrity/clock')).body) as { sources: Record<string, unknown> };
      expect(status.sources).toEqual({});
    } finally {
      await t.close();
    }
  }, 60_000);
});
