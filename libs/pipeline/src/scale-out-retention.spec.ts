/**
 * STORE=elasticsearch takes its ILM windows from the same retention configuration as the embedded
 * store (RETENTION_CONFIG or the built-in defaults), through the service's own wiring
 * (elasticsearchEventStore), and refuses ELASTICSEARCH_WARM_AFTER / ELASTICSEARCH_COLD_AFTER that disagree
 * with it, naming both keys.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '@app/core';
import { FieldProtection } from '@app/storage';
import { ElasticsearchEventStore } from '@app/storage/scale-out-adapters';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { elasticsearchEventStore } from './scale-out';

const ES = { STORE: 'elasticsearch', ELASTICSEARCH_URL: 'https://es.example:9200' };
const noProtection = () => undefined as unknown as FieldProtection;

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'es-retention-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function retentionFile(yaml: string): string {
  const file = path.join(dir, 'retention.yaml');
  fs.writeFileSync(file, yaml);
  return file;
}

async function store(env: Record<string, string>): Promise<ElasticsearchEventStore> {
  const s = await elasticsearchEventStore(loadConfig({ ...ES, DATA_DIR: dir, ...env }), noProtection());
  expect(s).toBeInstanceOf(ElasticsearchEventStore);
  return s as ElasticsearchEventStore;
}

type Policy = { _meta: { retention: string }; phases: { warm: { min_age: string }; cold: { min_age: string }; delete?: unknown } };

describe('Elasticsearch ILM windows from the retention configuration', () => {
  it('without RETENTION_CONFIG: the built-in windows (hot 90 days, warm 1 year, 6 or 7 years kept)', async () => {
    const s = await store({});
    const body = (c: 'data_access' | 'security') => s.layout.ilmPolicyBody(c) as unknown as Policy;
    expect(body('data_access').phases.warm.min_age).toBe('90d');
    expect(body('data_access').phases.cold.min_age).toBe('366d');
    expect(body('data_access')._meta.retention).toBe('2196d');
    expect(body('security')._meta.retention).toBe('2562d');
  });

  it('with RETENTION_CONFIG: each class gets its own tiers and window, and the cluster is sent exactly those', async () => {
    const file = retentionFile(
      ['version: 1', 'tiers: { hot: 30d, warm: 180d }', 'categories:', '  data_access: { retain: 400d, tiers: { hot: 7d, warm: 60d } }', '  security: { retain: 10y }', ''].join('\n'),
    );
    const s = await store({ RETENTION_CONFIG: file });
    const fake = new EsFake();
    const onFake = new ElasticsearchEventStore(fake.client(), { ...s.options, healthIntervalMs: 3_600_000 });
    await onFake.init();
    const sent = new Map(fake.requests.filter((r) => r.path.startsWith('/_ilm/policy/')).map((r) => [r.path.slice('/_ilm/policy/'.length), (r.body as { policy: Policy }).policy]));
    expect(sent.get('audit-events-data_access')!.phases.warm.min_age).toBe('7d');
    expect(sent.get('audit-events-data_access')!.phases.cold.min_age).toBe('60d');
    expect(sent.get('audit-events-data_access')!._meta.retention).toBe('400d');
    expect(sent.get('audit-events-security')!.phases.warm.min_age).toBe('30d');
    expect(sent.get('audit-events-security')!.phases.cold.min_age).toBe('180d');
    expect(sent.get('audit-events-security')!._meta.retention).toBe('3660d');
    // The legal-hold policy keeps the shortest tiers of any class.
    const hold = onFake.layout.holdIlmPolicyBody() as unknown as Policy;
    expect([hold.phases.warm.min_age, hold.phases.cold.min_age]).toEqual(['7d', '60d']);
    await onFake.close();
  });

  it('refuses ELASTICSEARCH_WARM_AFTER or ELASTICSEARCH_COLD_AFTER that disagree with RETENTION_CONFIG, naming both keys', async () => {
    const file = retentionFile('version: 1\ntiers: { hot: 30d, warm: 365d }\n');
    await expect(store({ RETENTION_CONFIG: file, ELASTICSEARCH_WARM_AFTER: '45d' })).rejects.toThrow(
      /ELASTICSEARCH_WARM_AFTER=45d disagrees with RETENTION_CONFIG \(.*retention\.yaml\): categories\.authentication\.tiers\.hot is P30D \(30d\)\. .*remove ELASTICSEARCH_WARM_AFTER or set it to 30d/,
    );
    await expect(store({ ELASTICSEARCH_COLD_AFTER: '365d' })).rejects.toThrow(/ELASTICSEARCH_COLD_AFTER=365d disagrees with RETENTION_CONFIG \(built-in defaults\)/);
    // Keys that say the same as the policy are accepted (older deployments that set them).
    const s = await store({ RETENTION_CONFIG: file, ELASTICSEARCH_WARM_AFTER: '30d', ELASTICSEARCH_COLD_AFTER: '365d' });
    expect((s.layout.ilmPolicyBody('administrative') as unknown as Policy).phases.warm.min_age).toBe('30d');
  });

  it('a bad RETENTION_CONFIG stops an Elasticsearch deployment too, naming the key', async () => {
    const file = retentionFile('version: 1\ncategories: { data_access: { retain: soon } }\n');
    await expect(store({ RETENTION_CONFIG: file })).rejects.toThrow(/RETENTION_CONFIG: .*categories\.data_access\.retain/);
  });
});
