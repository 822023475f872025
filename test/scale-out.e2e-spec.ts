/**
 * Scale-out selection and outages through HTTP, without the servers: with STORE=elasticsearch
 * pointing at nothing, the service still starts, readiness tells the truth (503, storage false),
 * ingestion answers 503 + Retry-After instead of acknowledging, and the log names the setting to
 * fix. Invalid combinations are refused at start with the key's name. With STORE=elasticsearch
 * against the store's Elasticsearch double served over HTTP, everything an analyst, auditor and
 * compliance officer uses works (queries, proofs, checkpoints, verify, reports, alerts) and no
 * patient id or IP reaches the cluster in clear; a legal hold placed over HTTP is stored in the
 * cluster and switches the backing index holding its records to the ILM hold policy before the
 * API answers. (With real servers: test/integration/scale-out.int-spec.ts.)
 */
import { SchedulerRegistry } from '@nestjs/schedule';
import { ConfigError, loadConfig } from '@app/core';
import { RETENTION_JOB, RetentionScheduler } from '../apps/api/src/compliance/retention-schedule.module';
import { EsFakeServer, startEsFakeServer } from './support/es-fake-server';
import { accessEvent } from './support/events';
import { TestApp, startTestApp } from './support/test-app';

describe('scale-out configuration', () => {
  it('refuses to start without the settings the chosen bus and store need, naming them', () => {
    expect(() => loadConfig({ BUS: 'kafka' })).toThrow(ConfigError);
    expect(() => loadConfig({ BUS: 'kafka' })).toThrow(/KAFKA_BROKERS: required when BUS=kafka/);
    expect(() => loadConfig({ STORE: 'elasticsearch' })).toThrow(/ELASTICSEARCH_URL: required when STORE=elasticsearch/);
    expect(() => loadConfig({ BUS: 'kafka', KAFKA_BROKERS: 'k1:9092', KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toThrow(/KAFKA_SASL_USERNAME: required/);
    expect(() => loadConfig({ BUS: 'rabbit' })).toThrow(/BUS/);
    expect(loadConfig({}).scaleOut).toEqual({ bus: 'memory', store: 'sqlite' });
    expect(loadConfig({ BUS: 'kafka', KAFKA_BROKERS: 'k1:9092, k2:9093', STORE: 'elasticsearch', ELASTICSEARCH_URL: 'https://es:9200' }).scaleOut).toMatchObject({
      bus: 'kafka',
      store: 'elasticsearch',
      kafka: { brokers: ['k1:9092', 'k2:9093'], topic: 'audit-events', partitions: 12, replicationFactor: 3, groupId: 'audit-chain-writer', clientId: 'audit-siem', tls: false },
      elasticsearch: { url: 'https://es:9200', indexPrefix: 'audit', alertsIndex: 'audit-alerts', checkpointsIndex: 'audit-checkpoints' },
    });
  });

  describe('Elasticsearch unreachable', () => {
    let t: TestApp;
    beforeAll(async () => {
      const es = loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: 'http://127.0.0.1:1' }).scaleOut!;
      t = await startTestApp({ scaleOut: es });
    });
    afterAll(() => t.close());

    it('serves, but is not ready and refuses to acknowledge events (503 + Retry-After)', async () => {
      const anon = await t.client(null);
      const ready = await anon.request('GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.headers['retry-after']).toBeDefined();
      expect(JSON.parse(ready.body).checks.storage).toBe(false);

      const integration = await t.client('integration', 'sample-ehr');
      const res = await integration.request('POST', '/v1/events', accessEvent());
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    });

    it('logs why, naming ELASTICSEARCH_URL', async () => {
      const until = Date.now() + 10_000;
      while (!t.logLines.some((l) => l.includes('ELASTICSEARCH_URL=http://127.0.0.1:1 is not reachable')) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(t.logLines.join('\n')).toMatch(/ELASTICSEARCH_URL=http:\/\/127\.0\.0\.1:1 is not reachable.*readiness stays false/);
    });
  });

  describe('STORE=elasticsearch (the Elasticsearch double over HTTP)', () => {
    let es: EsFakeServer;
    let t: TestApp;
    beforeAll(async () => {
      es = await startEsFakeServer();
      t = await startTestApp({ scaleOut: loadConfig({ STORE: 'elasticsearch', ELASTICSEARCH_URL: es.url }).scaleOut! });
      const anon = await t.client(null);
      const until = Date.now() + 20_000;
      while ((await anon.request('GET', '/health/ready')).status !== 200) {
        if (Date.now() > until) throw new Error('the service did not become ready on the Elasticsearch double');
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    afterAll(async () => {
      await t.close();
      await es.close();
    });

    it('serves queries, proofs, checkpoints, verification, reports and alerts from Elasticsearch, with no patient id or IP in clear', async () => {
      const integration = await t.client('integration', 'sample-ehr');
      const events = [
        accessEvent({ patient: { id: 'MRN-ES-1' }, occurredAt: '2026-03-02T10:15:00.000Z' }),
        accessEvent({ patient: { id: 'MRN-ES-1' }, occurredAt: '2026-03-02T10:16:00.000Z', action: 'query' }),
        accessEvent({ patient: { id: 'MRN-ES-2' }, occurredAt: '2026-03-02T10:17:00.000Z', actor: { id: 'dr-bob', type: 'user', ip: '10.9.8.7' } }),
      ];
      const posted = await integration.request('POST', '/v1/events', { events });
      expect(posted.status).toBe(202);
      const receipts = JSON.parse(posted.body).receipts as { id: string; chain: string; seq: number }[];
      expect(receipts.map((r) => r.seq)).toEqual([0, 1, 2]);

      const compliance = await t.client('compliance_officer');
      const byPatient = await compliance.request('GET', '/v1/events?patient=MRN-ES-1');
      expect(byPatient.status).toBe(200);
      expect((JSON.parse(byPatient.body).events as { event: { id: string } }[]).map((e) => e.event.id).sort()).toEqual([events[0].id, events[1].id].sort());

      const proof = await compliance.request('GET', `/v1/events/${events[2].id}/proof`);
      expect(proof.status).toBe(200);
      expect(JSON.parse(proof.body)).toMatchObject({ chain: 'data_access', seq: 2, leafIndex: 2, checkpoint: { chain: 'data_access', treeSize: 3 } });
      expect(es.fake.indices.get('audit-checkpoints')!.size).toBeGreaterThanOrEqual(1);

      const auditor = await t.client('auditor');
      const checkpoints = await auditor.request('GET', '/v1/integrity/checkpoints?chain=data_access');
      expect(checkpoints.status).toBe(200);
      expect((JSON.parse(checkpoints.body).checkpoints as { treeSize: number }[]).map((c) => c.treeSize)).toContain(3);
      const verified = await auditor.request('GET', '/v1/integrity/verify?chain=data_access');
      expect(verified.status).toBe(200);
      expect(JSON.parse(verified.body)).toMatchObject({ ok: true, break: null });

      const report = await compliance.request('GET', '/v1/reports/patient-access?patient=MRN-ES-1&from=2026-03-01&to=2026-03-03&format=json');
      expect(report.status).toBe(200);
      expect((JSON.parse(report.body).rows as { eventId: string }[]).map((r) => r.eventId)).toEqual([events[0].id, events[1].id]);

      // Detection tails Elasticsearch by commit position; its alerts reach the cluster's alert index.
      const glass = accessEvent({ action: 'break_glass', purpose: 'EMERGENCY', patient: { id: 'MRN-ES-2' } });
      expect((await integration.request('POST', '/v1/events', glass)).status).toBe(202);
      const analyst = await t.client('soc_analyst');
      let alerts: { id: string; ruleId: string; evidence: { eventIds: string[] } }[] = [];
      for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        const res = await analyst.request('GET', '/v1/alerts?rule=break-glass-access');
        expect(res.status).toBe(200);
        alerts = JSON.parse(res.body).alerts;
        if (alerts.length > 0) break;
      }
      expect(alerts.map((a) => a.evidence.eventIds)).toEqual([[glass.id]]);
      expect(es.fake.indices.get('audit-alerts')!.size).toBe(1);
      const ack = await analyst.request('POST', `/v1/alerts/${alerts[0].id}/acknowledge`, { note: 'checking' });
      expect(ack.status).toBe(200);
      expect([...es.fake.indices.get('audit-alerts')!.values()].map((d) => d.source.status)).toEqual(['acknowledged']);

      const stored = JSON.stringify([...es.fake.streams.values(), ...es.fake.indices.values()].map((v) => JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? [...x.values()] : x))));
      expect(stored).toContain(events[0].id);
      for (const phi of ['MRN-ES-1', 'MRN-ES-2', '10.1.2.3', '10.9.8.7']) expect(stored).not.toContain(phi);
    });

    it('a legal hold placed over HTTP moves the backing index holding its records to the ILM hold policy before answering; release moves it back', async () => {
      const integration = await t.client('integration', 'sample-ehr');
      const held = accessEvent({ patient: { id: 'MRN-ES-HOLD' }, occurredAt: '2025-11-03T08:00:00.000Z' });
      expect((await integration.request('POST', '/v1/events', held)).status).toBe(202);
      es.fake.rollover();
      expect((await integration.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-ES-OTHER' } }))).status).toBe(202);
      const backing = (g: number) => `.ds-audit-events-data_access-${g}`;
      const policyOf = (index: string) => es.fake.lifecycle.get(index) ?? 'audit-events-data_access';
      const last = () => [...es.fake.streams.get('audit-events-data_access')!.keys()].length - 1;
      const heldIndex = backing(last() - 1);

      const compliance = await t.client('compliance_officer');
      const placed = await compliance.request('POST', '/v1/retention/holds', { patient: 'MRN-ES-HOLD', reason: 'Subpoena', caseId: 'CASE-ES-1' });
      expect(placed.status).toBe(201);
      const hold = JSON.parse(placed.body) as { id: string; patient: string };
      expect(hold.patient).toBe('MRN-ES-HOLD');
      // Effective when acknowledged: the hold policy (no delete phase) exists and the held index is on it, the newer one is not.
      const holdPolicy = es.fake.requests.find((r) => r.method === 'PUT' && r.path === '/_ilm/policy/audit-legal-hold')!;
      expect(Object.keys((holdPolicy.body as { policy: { phases: object } }).policy.phases)).toEqual(['hot', 'warm', 'cold']);
      expect(policyOf(heldIndex)).toBe('audit-legal-hold');
      expect(policyOf(backing(last()))).toBe('audit-events-data_access');

      // The hold lives in the cluster (every instance sees it), its patient as token + sealed id.
      const stored = [...es.fake.indices.get('audit-legal-holds')!.values()].map((d) => d.source);
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ id: hold.id, status: 'active', case_id: 'CASE-ES-1' });
      expect(JSON.stringify(stored)).not.toContain('MRN-ES-HOLD');
      const listed = await compliance.request('GET', '/v1/retention/holds?status=active');
      expect((JSON.parse(listed.body).holds as { id: string }[]).map((h) => h.id)).toEqual([hold.id]);

      // Rollover while the hold is active: the retention schedule (RETENTION_CRON) re-applies holds to new indices.
      expect(t.app.get(SchedulerRegistry).getCronJob(RETENTION_JOB)).toBeDefined();
      es.fake.rollover();
      expect((await integration.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-ES-HOLD' } }))).status).toBe(202);
      const newer = backing(last());
      expect(policyOf(newer)).toBe('audit-events-data_access');
      expect(await t.app.get(RetentionScheduler).reconcileHoldsNow()).toMatchObject({ activeHolds: 1, switchedToHold: [newer] });
      expect(policyOf(newer)).toBe('audit-legal-hold');

      const released = await compliance.request('POST', `/v1/retention/holds/${hold.id}/release`, { note: 'Case closed' });
      expect(released.status).toBe(200);
      expect(policyOf(heldIndex)).toBe('audit-events-data_access');
      expect(policyOf(newer)).toBe('audit-events-data_access');
      expect(es.fake.requests.filter((r) => r.method === 'DELETE' && r.path !== '/_pit')).toEqual([]);
    });
  });
});
