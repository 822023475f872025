/**
 * The Elasticsearch CheckpointStore against the client's official test double (EsFake over
 * @elastic/elasticsearch-mock): the indices and mappings it relies on, the exact write requests
 * (op_type=create on `chain:index`, refresh=wait_for), the cluster refusing a racing sealer, block
 * roots written once (a replay after a half-done append is fine), a purged prefix moved with
 * if_seq_no. What every CheckpointStore does (reads, paging, fencing, a purged prefix that only
 * grows) is the contract in test/contracts/checkpoint-store.contract.ts, run on this adapter too.
 */
import { CheckpointConflictError } from '../checkpoint-store.port';
import { ElasticsearchCheckpointStore } from './es-checkpoint-store';
import { ElasticsearchEventStore } from './es-event-store';
import { EsFake } from './es-fake';
import { CHECKPOINT_MAPPINGS, MERKLE_BLOCK_MAPPINGS, PURGED_PREFIX_MAPPINGS } from './es-schema';
import { checkpointEntry as entry } from '../../../../test/contracts/checkpoint-store.contract';

const hex = (c: string) => c.repeat(64);

const INDICES = { checkpointsIndex: 'audit-checkpoints', blocksIndex: 'audit-merkle-blocks', purgedIndex: 'audit-purged-prefixes' };

async function started(fake = new EsFake()) {
  const events = new ElasticsearchEventStore(fake.client(), {
    indexPrefix: 'audit',
    alertsIndex: 'audit-alerts',
    checkpointsIndex: 'audit-checkpoints',
    rolloverMaxAge: '30d',
    rolloverMaxPrimaryShardSize: '50gb',
    warmAfter: '30d',
    coldAfter: '365d',
    healthIntervalMs: 3_600_000,
  });
  await events.init();
  return { fake, store: new ElasticsearchCheckpointStore(fake.client(), INDICES, { sleep: async () => undefined }) };
}

describe('ElasticsearchCheckpointStore', () => {
  it('has its own indices, declared with explicit strict mappings at start', async () => {
    const { fake } = await started();
    const created = new Map(fake.requests.filter((r) => r.method === 'PUT' && !r.path.startsWith('/_')).map((r) => [r.path, r.body]));
    expect(created.get('/audit-checkpoints')).toEqual({ settings: { number_of_shards: 1 }, mappings: CHECKPOINT_MAPPINGS });
    expect(created.get('/audit-merkle-blocks')).toEqual({ settings: { number_of_shards: 1 }, mappings: MERKLE_BLOCK_MAPPINGS });
    expect(created.get('/audit-purged-prefixes')).toEqual({ settings: { number_of_shards: 1 }, mappings: PURGED_PREFIX_MAPPINGS });
    expect(CHECKPOINT_MAPPINGS.properties.signature).toEqual({ type: 'keyword', index: false, doc_values: false });
  });

  it('writes block roots, then the checkpoint, each with op_type=create and refresh=wait_for', async () => {
    const { fake, store } = await started();
    fake.requests.length = 0;
    const first = entry('data_access', 0, 2048, null, 2);
    await store.append(first);
    const writes = fake.requests.filter((r) => r.path === '/_bulk');
    expect(writes.map((w) => w.querystring)).toEqual([{ refresh: 'wait_for' }, { refresh: 'wait_for' }]);
    const [blocks, checkpoint] = fake.bulks();
    expect(blocks).toEqual([
      { action: { create: { _index: 'audit-merkle-blocks', _id: 'data_access:0' } }, doc: { chain: 'data_access', block: 0, root: '07'.repeat(32) } },
      { action: { create: { _index: 'audit-merkle-blocks', _id: 'data_access:1' } }, doc: { chain: 'data_access', block: 1, root: '08'.repeat(32) } },
    ]);
    expect(checkpoint).toEqual([
      {
        action: { create: { _index: 'audit-checkpoints', _id: 'data_access:0' } },
        doc: {
          chain: 'data_access',
          index: 0,
          treeSize: 2048,
          rootHash: hex('a'),
          lastHash: hex('b'),
          issuedAt: '2026-01-01T00:00:00.000Z',
          previous: null,
          keyId: first.checkpoint.keyId,
          signature: first.checkpoint.signature,
          checkpointHash: first.checkpointHash,
          frontier: [hex('c'), hex('d')],
        },
      },
    ]);
  });

  it('a second sealer racing for the same index is refused by the cluster itself (create on chain:index answered 409)', async () => {
    const { fake, store } = await started();
    const other = new ElasticsearchCheckpointStore(fake.client(), INDICES);
    const first = entry('data_access', 0, 1024, null);
    await store.append(first);
    await store.append(entry('data_access', 1, 4096, first.checkpoint));
    await expect(other.append(entry('data_access', 1, 5000, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
    expect(fake.conflicts.get('audit-checkpoints')).toBe(1);
  });

  it('block roots are written once: a replay of the same root is fine, another root is a conflict', async () => {
    const { store } = await started();
    const first = entry('data_access', 0, 1024, null, 1);
    await store.append(first);
    // A sealer whose first attempt stored the block but not its checkpoint retries: same root.
    const retry = entry('data_access', 1, 2048, first.checkpoint, 2, 0);
    await store.append(retry);
    expect(await store.blockRoots('data_access', 0, 2)).toEqual([Buffer.alloc(32, 7), Buffer.alloc(32, 8)]);
    const forked = entry('data_access', 2, 3072, retry.checkpoint, 1, 1, 42);
    await expect(store.append(forked)).rejects.toBeInstanceOf(CheckpointConflictError);
    expect((await store.latest('data_access'))!.index).toBe(1);
  });

  it('creates a purged prefix, then moves it only from the version it read (if_seq_no)', async () => {
    const { fake, store } = await started();
    const p = { chain: 'data_access', size: 1024, lastHash: hex('b'), frontier: { size: 1024, hashes: [hex('c')] }, checkpointIndex: 0, purgedAt: '2033-01-01T00:00:00.000Z' };
    await store.recordPurgedPrefix(p);
    const grown = { ...p, size: 2048, frontier: { size: 2048, hashes: [hex('e')] }, checkpointIndex: 1 };
    await store.recordPurgedPrefix(grown);
    const [created, moved] = fake.bulks().slice(-2);
    expect(created[0].action).toEqual({ create: { _index: 'audit-purged-prefixes', _id: 'data_access' } });
    expect(moved[0].action).toEqual({ index: { _index: 'audit-purged-prefixes', _id: 'data_access', if_seq_no: expect.any(Number), if_primary_term: 1 } });
    expect(moved[0].doc).toEqual({ chain: 'data_access', size: 2048, lastHash: hex('b'), frontier: [hex('e')], checkpointIndex: 1, purgedAt: '2033-01-01T00:00:00.000Z' });
  });

  it('answers StoreUnavailableError when the cluster is down', async () => {
    const { fake, store } = await started();
    fake.down = true;
    await expect(store.latest('data_access')).rejects.toThrow(/Elasticsearch request failed/);
    await expect(store.append(entry('data_access', 0, 1, null))).rejects.toThrow(/Elasticsearch request failed/);
  });
});
