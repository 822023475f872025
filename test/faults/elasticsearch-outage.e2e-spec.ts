/**
 * Fault suite: the Elasticsearch cluster goes away and comes back (issue 20), through the repo's
 * Elasticsearch double served over HTTP (`EsFake.down`: every request fails like an unreachable
 * cluster). While it is down: every write gets 503 with Retry-After (nothing acknowledged that is
 * not in the cluster), /health/ready is 503 naming `storage_unavailable`, liveness stays up. Once it
 * is back: ready again by itself, writes acknowledged, every receipt readable unchanged, the chain
 * verifies and holds exactly the acknowledged events (nothing lost, nothing duplicated).
 * Detection pauses and resumes: a bulk-read pattern half before, half after the outage raises
 * exactly one alert (GET /v1/alerts), none before the outage.
 * AUDIT_FAULT_OUTAGE_MS sets how long the outage lasts (default 6 s; 60000 for the minute).
 */
import { loadConfig } from '@app/core';
import { accessEvent } from '../support/events';
import { EsFakeServer, startEsFakeServer } from '../support/es-fake-server';
import { AlertJson, allAlerts, waitForDetection } from '../support/detection';
import { startTestApp, TestApp } from '../support/test-app';
import { Receipt, waitFor } from './fault-service';

const OUTAGE_MS = Number(process.env.AUDIT_FAULT_OUTAGE_MS ?? 6000);
// Every event is one user reading another patient's chart: 30 before the outage, 30 after. The
// default bulk-phi-read rule (50 distinct patients by one user within 10 minutes) is crossed only
// by the two halves together, so its single alert proves detection paused and resumed with its
// window intact (nothing lost), and no second alert that it repeated nothing.
const SNOOPER = { id: 'dr-es-outage', type: 'user' as const, role: 'physician', ip: '10.1.2.3' };

describe('fault: Elasticsearch unreachable for a while (STORE=elasticsearch)', () => {
  let es: EsFakeServer;
  let t: TestApp;
  beforeAll(async () => {
    es = await startEsFakeServer();
    const scaleOut = loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut!;
    t = await startTestApp({ scaleOut, faults: { writerStallMs: 30_000, probeIntervalMs: 200, diskFreeFloorBytes: 0 } });
    const anon = await t.client(null);
    await waitFor('the service to be ready on the Elasticsearch double', async () => ((await anon.request('GET', '/health/ready')).status === 200 ? true : undefined));
  });
  afterAll(async () => {
    es.fake.down = false;
    await t?.close();
    await es?.close();
  }, OUTAGE_MS + 60_000);

  it('answers 503 + Retry-After and is not ready during the outage, then resumes with nothing lost or duplicated', async () => {
    const anon = await t.client(null);
    const writer = await t.client('integration');
    const acknowledged = new Map<string, Receipt>();
    let n = 0;
    const post = () => writer.request('POST', '/v1/events', { events: Array.from({ length: 10 }, () => accessEvent({ occurredAt: new Date().toISOString(), actor: SNOOPER, patient: { id: `MRN-ESOUT-${n++}` } })) });
    const keep = (body: string) => {
      for (const r of JSON.parse(body).receipts as Receipt[]) acknowledged.set(r.id, r);
    };
    for (let i = 0; i < 3; i++) {
      const res = await post();
      expect(res.status).toBe(202);
      keep(res.body);
    }
    const beforeOutage = new Set(acknowledged.keys());
    // Detection has evaluated the first half and raised nothing yet.
    const analyst = await t.client('soc_analyst', 'analyst-jane');
    await waitForDetection(analyst);
    expect(await snooperAlerts(analyst)).toEqual([]);

    es.fake.down = true;
    const outageEnds = Date.now() + OUTAGE_MS;
    const statuses = new Set<number>();
    let refusals = 0;
    while (Date.now() < outageEnds) {
      const res = await post();
      statuses.add(res.status);
      if (res.status === 202) throw new Error('an event was acknowledged while the cluster was unreachable');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      refusals++;
      const ready = await anon.request('GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).reasons.map((r: { code: string }) => r.code)).toContain('storage_unavailable');
      expect((await anon.request('GET', '/health/live')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(refusals).toBeGreaterThan(0);

    es.fake.down = false;
    await waitFor('readiness after the cluster came back', async () => ((await anon.request('GET', '/health/ready')).status === 200 ? true : undefined));
    for (let i = 0; i < 3; i++) {
      const res = await post();
      expect(res.status).toBe(202);
      keep(res.body);
    }

    const reader = await t.client('compliance_officer');
    for (const [id, receipt] of acknowledged) expect(JSON.parse((await reader.request('GET', `/v1/events/${id}`)).body).receipt).toEqual(receipt);
    // Exactly the acknowledged events in the chain: seq 0 … n-1, none lost, none twice.
    const seqs = [...acknowledged.values()].map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const verified = JSON.parse((await (await t.client('auditor')).request('GET', '/v1/integrity/verify?chain=data_access')).body);
    expect(verified).toMatchObject({ ok: true, break: null, verified: acknowledged.size });

    // Detection (which reads the cluster) paused and resumed where it was: the pattern that spans
    // the outage raised exactly one alert, its evidence reaching from the first half into the second.
    await waitForDetection(analyst);
    expectOneAlertAcrossTheOutage(await snooperAlerts(analyst), beforeOutage, new Set(acknowledged.keys()));
  }, OUTAGE_MS + 120_000);
});

async function snooperAlerts(analyst: Parameters<typeof allAlerts>[0]): Promise<AlertJson[]> {
  return (await allAlerts(analyst, `rule=bulk-phi-read&actor=${SNOOPER.id}`)).filter((a) => a.groupKey['actor.id'] === SNOOPER.id);
}

function expectOneAlertAcrossTheOutage(alerts: AlertJson[], before: Set<string>, all: Set<string>): void {
  expect(alerts).toHaveLength(1);
  const [alert] = alerts;
  expect(alert.evidence.eventIds.every((id) => all.has(id))).toBe(true);
  expect(before.has(alert.evidence.firstEventId)).toBe(true);
  expect(before.has(alert.evidence.lastEventId)).toBe(false);
}
