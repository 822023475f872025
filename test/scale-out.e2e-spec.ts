/**
 * Scale-out selection and outages through HTTP, without the servers: with STORE=elasticsearch
 * pointing at nothing, the service still starts, readiness tells the truth (503, storage false),
 * ingestion answers 503 + Retry-After instead of acknowledging, and the log names the setting to
 * fix. Invalid combinations are refused at start with the key's name. (With real servers:
 * test/integration/scale-out.int-spec.ts.)
 */
import { ConfigError, loadConfig } from '@app/core';
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
});
