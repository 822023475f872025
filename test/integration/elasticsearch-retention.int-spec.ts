/**
 * The Elasticsearch adapter's issue-17 behaviour against a real cluster (`npm run test:integration`;
 * opt-in: set ELASTICSEARCH_URL, plus ELASTICSEARCH_API_KEY / ELASTICSEARCH_CA_FILE as it needs; the
 * key must also be allowed to roll over and, for clean-up, delete the test's own prefix). On a fresh
 * index prefix:
 * - start-up declarations (ILM policies from the retention policy, templates, strict mappings)
 *   are accepted by the real cluster as the client types them;
 * - a report read page by page through a point in time, each page with the id the last returned;
 * - records received years ago, sealed, then a rollover: the retention run deletes the expired
 *   backing index only after recording the chain's purged prefix; verification passes and reports
 *   it, a kept record's inclusion proof checks, the purged record is gone by id, and the write
 *   index is never deleted.
 * Without ELASTICSEARCH_URL the suite is skipped and says so; a URL that does not answer fails at
 * once naming the variable. Not run here: no Elasticsearch can be installed on this machine.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { AccessEvent, loadConfig } from '@app/core';
import { ChainHead, GENESIS_HASH, canonicalize, recordHash, verifyInclusionProofDocument } from '@app/ledger';
import { CheckpointService, IntegrityService, ProofService, elasticsearchRetention } from '@app/pipeline';
import { FileKeyProvider } from '@app/security';
import { ChainedRecord } from '@app/storage';
import { ElasticsearchCheckpointStore, ElasticsearchEventStore, EsRetentionRunner, createElasticsearchClient, elasticsearchStoreOptions } from '@app/storage/scale-out-adapters';
import { urlReachable } from '../support/reachable';

const ES_URL = process.env.ELASTICSEARCH_URL;
if (!ES_URL) process.stdout.write('Elasticsearch retention integration tests SKIPPED: set ELASTICSEARCH_URL to run them against a real cluster.\n');

const PREFIX = `audit-int-ret-${Date.now().toString(36)}`;
const DAY = 86_400_000;

function event(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: randomUUID(),
    occurredAt: '2018-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'int-dr-alice', type: 'user', role: 'physician' },
    source: { system: 'int-test' },
    ...overrides,
  };
}

(ES_URL ? describe : describe.skip)('Elasticsearch retention and reads against a real cluster', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'es-int-'));
  const keys = new FileKeyProvider(dir);
  const heads = new Map<string, ChainHead>();
  let store: ElasticsearchEventStore;
  let checkpoints: ElasticsearchCheckpointStore;
  let sealer: CheckpointService;

  async function post(receivedAt: string, events: AccessEvent[]): Promise<AccessEvent[]> {
    const records: ChainedRecord[] = events.map((e) => {
      const json = canonicalize(e);
      const head = heads.get(e.category) ?? { seq: -1, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const hash = recordHash(head.hash, e.category, seq, receivedAt, json);
      heads.set(e.category, { seq, hash });
      return { chain: e.category, seq, receivedAt, event: e, eventJson: json, prevHash: head.hash, hash };
    });
    await store.append(records);
    expect(await sealer.seal('data_access', heads.get('data_access')!.seq + 1)).not.toBeNull();
    return events;
  }

  beforeAll(async () => {
    await urlReachable(ES_URL!, 'ELASTICSEARCH_URL');
    const config = loadConfig({ ...process.env, STORE: 'elasticsearch', ELASTICSEARCH_INDEX_PREFIX: PREFIX, DATA_DIR: dir });
    const settings = config.scaleOut!.elasticsearch!;
    store = new ElasticsearchEventStore(createElasticsearchClient(settings), { ...elasticsearchStoreOptions(settings, await elasticsearchRetention(config)), healthIntervalMs: 3_600_000 });
    await store.init();
    checkpoints = new ElasticsearchCheckpointStore(store.client, { checkpointsIndex: store.options.checkpointsIndex, blocksIndex: store.layout.blocksIndex, purgedIndex: store.layout.purgedIndex });
    sealer = new CheckpointService(store, checkpoints, keys, { everyRecords: 1_000_000, intervalMs: 3_600_000 });
  });

  afterAll(async () => {
    if (store) {
      const c = store.client;
      await c.indices.deleteDataStream({ name: `${PREFIX}-events-*` }).catch(() => undefined);
      await c.indices.delete({ index: `${PREFIX}-*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
      for (const category of store.layout.categories) {
        await c.indices.deleteIndexTemplate({ name: store.layout.indexTemplate(category) }).catch(() => undefined);
        await c.ilm.deleteLifecycle({ name: store.layout.ilmPolicy(category) }).catch(() => undefined);
      }
      await c.cluster.deleteComponentTemplate({ name: store.layout.componentTemplate }).catch(() => undefined);
      await store.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('deletes the expired backing index only after recording the purged prefix; verify, proofs and by-id reads stay right', async () => {
    const old = await post('2018-03-02T12:00:00.000Z', [event(), event(), event()]);
    await store.client.indices.rollover({ alias: store.layout.dataStream('data_access') });
    const kept = await post(new Date().toISOString(), [event({ occurredAt: new Date().toISOString() })]);

    // A report page by page through one point in time (each page with the id the last returned).
    const ids: string[] = [];
    for await (const page of store.stream({ pageSize: 1 })) ids.push(...page.map((r) => r.event.id));
    expect(ids.sort()).toEqual([...old, ...kept].map((e) => e.id).sort());

    const runner = new EsRetentionRunner(store.client, store.layout, checkpoints, (_c, now) => now - 6 * 366 * DAY, { activeHolds: async () => [] });
    const report = await runner.run({ now: Date.now(), dryRun: false });
    const stream = await store.client.indices.getDataStream({ name: store.layout.dataStream('data_access') });
    const backing = stream.data_streams[0].indices.map((i) => i.index_name);
    expect(report.deleted.map((d) => d.records)).toContain(3);
    expect(backing).toHaveLength(1); // the write index stays

    const v = await new IntegrityService(store, { checkpoints, publicKeys: () => keys.publicKeys() }).verify({ chain: 'data_access', full: true });
    expect(v.ok).toBe(true);
    expect(v.chains[0]).toMatchObject({ purged: 3, verified: 1 });
    const doc = await new ProofService(store, checkpoints, sealer).inclusionProof(kept[0].id);
    expect(verifyInclusionProofDocument(doc, keys.publicKeys()[0].publicKeyPem)).toEqual({ ok: true, reason: null });
    expect(await store.getById(old[0].id)).toBeNull();
    expect((await store.getById(kept[0].id))?.event.id).toBe(kept[0].id);
  });
});
