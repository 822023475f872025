/**
 * Fault suite: the Kafka brokers go away and come back (issue 20), the whole service on the kafkajs
 * double (FakeKafka.down: every request fails like an unreachable broker; provideKafkaClient).
 * While down: writes get 503 with Retry-After (nothing acknowledged that Kafka does not hold),
 * /health/ready turns 503 naming `bus_unavailable`, liveness stays up. Once back: ready again by
 * itself, writes acknowledged (queued), and every acknowledged event is chained exactly once (the
 * chain holds seq 0 … n-1, one record per acknowledged id), verification passes.
 * Detection pauses and resumes: a bulk-read pattern half before, half after the outage raises
 * exactly one alert (GET /v1/alerts), none before the outage.
 * AUDIT_FAULT_OUTAGE_MS sets how long the outage lasts (default 6 s; 60000 for the minute).
 */
import { loadConfig } from '@app/core';
import { provideKafkaClient } from '@app/pipeline';
import { FakeKafka } from '@app/storage/kafka/fake-kafka';
import { accessEvent } from '../support/events';
import { runCli } from '../support/cli';
import { AlertJson, allAlerts, waitForDetection } from '../support/detection';
import { startTestApp, TestApp } from '../support/test-app';
import { Receipt, waitFor } from './fault-service';

const OUTAGE_MS = Number(process.env.AUDIT_FAULT_OUTAGE_MS ?? 6000);
// Every event is one user reading another patient's chart: 30 before the outage, 30 after. The
// default bulk-phi-read rule (50 distinct patients by one user within 10 minutes) is crossed only
// by the two halves together, so its single alert proves detection paused and resumed with its
// window intact (nothing lost), and no second alert that it repeated nothing.
const SNOOPER = { id: 'dr-kafka-outage', type: 'user' as const, role: 'physician', ip: '10.1.2.3' };

describe('fault: Kafka unreachable for a while (BUS=kafka)', () => {
  const kafka = new FakeKafka();
  kafka.brokers = 1;
  let t: TestApp;
  beforeAll(async () => {
    const scaleOut = loadConfig({ BUS: 'kafka', KAFKA_BROKERS: 'kafka-1:9092', KAFKA_REPLICATION_FACTOR: '1', KAFKA_PUBLISH_TIMEOUT_MS: '2000' }).scaleOut!;
    // Probe the brokers every 300 ms (default 5 s) so the test does not wait on the probe.
    Object.assign(scaleOut.kafka!, { probeIntervalMs: 300 });
    provideKafkaClient(scaleOut.kafka!, kafka.asKafka());
    t = await startTestApp({ scaleOut, faults: { writerStallMs: 30_000, probeIntervalMs: 200, diskFreeFloorBytes: 0 } });
    const anon = await t.client(null);
    await waitFor('the service to be ready on the Kafka double', async () => ((await anon.request('GET', '/health/ready')).status === 200 ? true : undefined));
  });
  afterAll(async () => {
    kafka.down = false;
    await t?.close();
  }, OUTAGE_MS + 60_000);

  it('answers 503 + Retry-After and is not ready during the outage, then chains every acknowledged event exactly once', async () => {
    const anon = await t.client(null);
    const writer = await t.client('integration');
    const acknowledged = new Set<string>();
    let n = 0;
    const post = () => writer.request('POST', '/v1/events', { events: Array.from({ length: 10 }, () => accessEvent({ occurredAt: new Date().toISOString(), actor: SNOOPER, patient: { id: `MRN-KOUT-${n++}` } })) });
    const keep = (body: string) => {
      for (const r of JSON.parse(body).receipts as { id: string }[]) acknowledged.add(r.id);
    };
    for (let i = 0; i < 3; i++) {
      const res = await post();
      expect(res.status).toBe(202);
      keep(res.body);
    }
    const beforeOutage = new Set(acknowledged);
    // Detection has evaluated the first half (chained, then read by detection) and raised nothing yet.
    const reader = await t.client('compliance_officer');
    const analyst = await t.client('soc_analyst', 'analyst-jane');
    for (const id of beforeOutage) await waitFor(`event ${id} to be chained`, async () => ((await reader.request('GET', `/v1/events/${id}`)).status === 200 ? true : undefined));
    await waitForDetection(analyst);
    expect(await snooperAlerts(analyst)).toEqual([]);

    kafka.down = true;
    const outageEnds = Date.now() + OUTAGE_MS;
    let refusals = 0;
    let sawNotReady = false;
    while (Date.now() < outageEnds) {
      const res = await post();
      if (res.status === 202) throw new Error('an event was acknowledged while the brokers were unreachable');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      refusals++;
      const ready = await anon.request('GET', '/health/ready');
      if (ready.status === 503) {
        sawNotReady = true;
        expect(JSON.parse(ready.body).reasons.map((r: { code: string }) => r.code)).toContain('bus_unavailable');
      }
      expect((await anon.request('GET', '/health/live')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(refusals).toBeGreaterThan(0);
    expect(sawNotReady).toBe(true);
    expect((await anon.request('GET', '/health/ready')).status).toBe(503);

    kafka.down = false;
    await waitFor('readiness after the brokers came back', async () => ((await anon.request('GET', '/health/ready')).status === 200 ? true : undefined));
    for (let i = 0; i < 3; i++) {
      const res = await post();
      expect(res.status).toBe(202);
      keep(res.body);
    }

    // Every acknowledged event is chained, exactly once: seq 0 … n-1 over the acknowledged ids.
    const receipts: Receipt[] = [];
    for (const id of acknowledged) {
      const got = await waitFor(`event ${id} to be chained`, async () => {
        const r = await reader.request('GET', `/v1/events/${id}`);
        return r.status === 200 ? (JSON.parse(r.body).receipt as Receipt) : undefined;
      });
      receipts.push(got);
    }
    const seqs = receipts.map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const verified = JSON.parse((await (await t.client('auditor')).request('GET', '/v1/integrity/verify?chain=data_access')).body);
    expect(verified).toMatchObject({ ok: true, break: null, verified: acknowledged.size });

    // Detection resumed where it paused: the pattern that spans the outage raised exactly one alert,
    // its evidence reaching from the first half into the second.
    await waitForDetection(analyst);
    expectOneAlertAcrossTheOutage(await snooperAlerts(analyst), beforeOutage, acknowledged);
    await t.close();
    const cli = runCli(['verify', '--data-dir', t.dataDir]);
    expect(cli.stdout).toMatch(/^OK/m);
    expect(cli.status).toBe(0);
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
