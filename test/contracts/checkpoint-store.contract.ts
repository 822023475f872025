/**
 * The CheckpointStore contract: what the sealer, the proof service, verification and the retention
 * purge rely on from any adapter (embedded SQLite, Elasticsearch, the in-memory fake). Each adapter's
 * spec calls describeCheckpointStoreContract with a function opening a fresh, empty store; what only
 * one engine does (SQL triggers, index mappings, write requests) stays in that adapter's own spec.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Checkpoint, checkpointHash, signCheckpoint } from '@app/ledger';
import { CheckpointConflictError, CheckpointStore, NewCheckpoint, PurgedPrefix } from '@app/storage';

export interface OpenedCheckpointStore {
  store: CheckpointStore;
  /** Another handle on the same storage: a second sealer (another instance, or another connection). */
  other(): CheckpointStore;
  close(): Promise<void>;
}

const key = generateKeyPairSync('ed25519').privateKey;
const hex = (c: string) => c.repeat(64);

/** The `index`th checkpoint of `chain`, linked to `previous`, with `blocks` block roots from `firstBlock` (roots filled with fill, fill + 1, ...). */
export function checkpointEntry(chain: string, index: number, treeSize: number, previous: Checkpoint | null, blocks = 0, firstBlock = 0, fill = 7): NewCheckpoint {
  const checkpoint = signCheckpoint(
    { chain, treeSize, rootHash: hex('a'), lastHash: hex('b'), issuedAt: '2026-01-01T00:00:00.000Z', previous: previous ? checkpointHash(previous) : null },
    key,
  );
  return {
    index,
    checkpoint,
    checkpointHash: checkpointHash(checkpoint),
    frontier: { size: treeSize, hashes: [hex('c'), hex('d')] },
    blockRoots: Array.from({ length: blocks }, (_, i) => Buffer.alloc(32, fill + i)),
    firstBlock,
  };
}

export function describeCheckpointStoreContract(name: string, open: () => Promise<OpenedCheckpointStore>): void {
  describe(`CheckpointStore contract: ${name}`, () => {
    let opened: OpenedCheckpointStore;
    let store: CheckpointStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    const first = checkpointEntry('data_access', 0, 1024, null, 1);
    const second = checkpointEntry('data_access', 1, 4096, first.checkpoint, 3, 1);
    const auth = checkpointEntry('authentication', 0, 8, null);

    it('an empty store has no checkpoint, block root, chain or purged prefix', async () => {
      expect(await store.latest('data_access')).toBeNull();
      expect(await store.list('data_access')).toEqual([]);
      expect(await store.chains()).toEqual([]);
      expect(await store.page({ limit: 10 })).toEqual({ checkpoints: [], next: null });
      expect(await store.findByTreeSize('data_access', 1)).toBeNull();
      expect(await store.latestAtOrBelow('data_access', 1_000_000)).toBeNull();
      expect(await store.blockRoots('data_access', 0, 10)).toEqual([]);
      expect(await store.purgedPrefix('data_access')).toBeNull();
    });

    it('reads back exactly what was signed: latest, list, by tree size, at or below, block roots, chains', async () => {
      await store.append(first);
      await store.append(second);
      await store.append(auth);
      expect(await store.latest('data_access')).toEqual({ index: 1, checkpoint: second.checkpoint, checkpointHash: second.checkpointHash, frontier: second.frontier });
      expect(await store.list('data_access')).toEqual([
        { index: 0, checkpoint: first.checkpoint, checkpointHash: first.checkpointHash, frontier: first.frontier },
        { index: 1, checkpoint: second.checkpoint, checkpointHash: second.checkpointHash, frontier: second.frontier },
      ]);
      expect((await store.findByTreeSize('data_access', 1024))!.checkpoint).toEqual(first.checkpoint);
      expect(await store.findByTreeSize('data_access', 1025)).toBeNull();
      expect((await store.latestAtOrBelow('data_access', 4095))!.index).toBe(0);
      expect((await store.latestAtOrBelow('data_access', 4096))!.index).toBe(1);
      expect(await store.latestAtOrBelow('data_access', 1000)).toBeNull();
      expect(await store.blockRoots('data_access', 0, 10)).toEqual([Buffer.alloc(32, 7), Buffer.alloc(32, 7), Buffer.alloc(32, 8), Buffer.alloc(32, 9)]);
      expect(await store.blockRoots('data_access', 2, 3)).toEqual([Buffer.alloc(32, 8)]);
      expect(await store.blockRoots('data_access', 3, 3)).toEqual([]);
      expect(await store.blockRoots('authentication', 0, 10)).toEqual([]);
      expect(await store.chains()).toEqual(['authentication', 'data_access']);
      expect(await store.latest('security')).toBeNull();
    });

    it('pages across chains (chain, then index) with a cursor, and within one chain', async () => {
      await store.append(first);
      await store.append(second);
      await store.append(auth);
      const one = await store.page({ limit: 2 });
      expect(one.checkpoints.map((c) => [c.checkpoint.chain, c.index])).toEqual([
        ['authentication', 0],
        ['data_access', 0],
      ]);
      expect(one.next).toEqual({ chain: 'data_access', index: 0 });
      const two = await store.page({ limit: 2, after: one.next! });
      expect(two.checkpoints.map((c) => [c.checkpoint.chain, c.index])).toEqual([['data_access', 1]]);
      expect(two.next).toBeNull();
      const chain = await store.page({ chain: 'data_access', limit: 1 });
      expect(chain.checkpoints.map((c) => c.index)).toEqual([0]);
      expect((await store.page({ chain: 'data_access', limit: 1, after: chain.next! })).checkpoints.map((c) => c.index)).toEqual([1]);
      expect((await store.page({ limit: 3 })).next).toBeNull();
    });

    it('accepts only the chain’s next checkpoint: a second sealer that raced, skipped, forked or did not grow the tree loses', async () => {
      await store.append(first);
      await store.append(second);
      const other = opened.other();
      await expect(other.append(checkpointEntry('data_access', 1, 5000, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
      await expect(other.append(checkpointEntry('data_access', 3, 5000, second.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
      await expect(other.append(checkpointEntry('data_access', 2, 5000, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
      await expect(other.append(checkpointEntry('data_access', 2, 4096, second.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
      await expect(other.append(checkpointEntry('data_access', 0, 10, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
      await expect(other.append(checkpointEntry('security', 0, 10, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
      expect((await store.list('data_access')).map((c) => c.checkpointHash)).toEqual([first.checkpointHash, second.checkpointHash]);
      expect(await store.chains()).toEqual(['data_access']);
      // The loser re-reads the head and appends the next one.
      const latest = (await other.latest('data_access'))!;
      await other.append(checkpointEntry('data_access', latest.index + 1, 5000, latest.checkpoint));
      expect((await store.latest('data_access'))!.index).toBe(2);
    });

    it('a block root is never replaced: a checkpoint carrying another root for a stored block is a conflict', async () => {
      await store.append(first);
      await store.append(second);
      const forked = checkpointEntry('data_access', 2, 5000, second.checkpoint, 1, 2, 42);
      await expect(store.append(forked)).rejects.toBeInstanceOf(CheckpointConflictError);
      expect((await store.latest('data_access'))!.index).toBe(1);
      expect(await store.blockRoots('data_access', 2, 3)).toEqual([Buffer.alloc(32, 8)]);
    });

    it('keeps a purged prefix per chain that can only grow', async () => {
      const p: PurgedPrefix = { chain: 'data_access', size: 1024, lastHash: hex('b'), frontier: { size: 1024, hashes: [hex('c')] }, checkpointIndex: 0, purgedAt: '2033-01-01T00:00:00.000Z' };
      await store.recordPurgedPrefix(p);
      expect(await store.purgedPrefix('data_access')).toEqual(p);
      expect(await store.purgedPrefix('security')).toBeNull();
      await expect(store.recordPurgedPrefix({ ...p, size: 512 })).rejects.toThrow(/only grow/);
      await expect(store.recordPurgedPrefix(p)).rejects.toThrow(/only grow/);
      expect(await store.purgedPrefix('data_access')).toEqual(p);
      const grown: PurgedPrefix = { ...p, size: 2048, frontier: { size: 2048, hashes: [hex('e')] }, checkpointIndex: 1, purgedAt: '2033-02-01T00:00:00.000Z' };
      await opened.other().recordPurgedPrefix(grown);
      expect(await store.purgedPrefix('data_access')).toEqual(grown);
    });
  });
}
