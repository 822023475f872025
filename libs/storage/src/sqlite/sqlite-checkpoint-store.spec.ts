/** The embedded checkpoint store: append-only by triggers, fenced against a second sealer, paged listing. */
import { generateKeyPairSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint, checkpointHash, signCheckpoint } from '@app/ledger';
import { CheckpointConflictError, NewCheckpoint } from '../checkpoint-store.port';
import { openDatabase } from './sqlite-database';
import { SqliteCheckpointStore } from './sqlite-checkpoint-store';

const key = generateKeyPairSync('ed25519').privateKey;
const hex = (c: string) => c.repeat(64);

function entry(chain: string, index: number, treeSize: number, previous: Checkpoint | null, blocks = 0, firstBlock = 0): NewCheckpoint {
  const checkpoint = signCheckpoint(
    { chain, treeSize, rootHash: hex('a'), lastHash: hex('b'), issuedAt: '2026-01-01T00:00:00Z', previous: previous ? checkpointHash(previous) : null },
    key,
  );
  return {
    index,
    checkpoint,
    checkpointHash: checkpointHash(checkpoint),
    frontier: { size: treeSize, hashes: [hex('c')] },
    blockRoots: Array.from({ length: blocks }, () => Buffer.alloc(32, 7)),
    firstBlock,
  };
}

describe('SqliteCheckpointStore', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-store-'));
  const db = openDatabase(dir);
  const store = new SqliteCheckpointStore(db);
  const first = entry('data_access', 0, 1024, null, 1);
  const second = entry('data_access', 1, 4096, first.checkpoint, 3, 1);

  beforeAll(async () => {
    await store.append(first);
    await store.append(second);
    await store.append(entry('authentication', 0, 8, null));
  });

  it('reads back exactly what was signed, latest and by tree size', async () => {
    expect((await store.latest('data_access'))!.checkpoint).toEqual(second.checkpoint);
    expect((await store.findByTreeSize('data_access', 1024))!.checkpoint).toEqual(first.checkpoint);
    expect((await store.latestAtOrBelow('data_access', 4095))!.index).toBe(0);
    expect(await store.blockRoots('data_access', 0, 10)).toHaveLength(4);
    expect(await store.chains()).toEqual(['authentication', 'data_access']);
  });

  it('refuses a checkpoint that is not the next one of its chain (a second sealer loses)', async () => {
    await expect(store.append(entry('data_access', 1, 5000, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
    await expect(store.append(entry('data_access', 2, 5000, first.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
    await expect(store.append(entry('data_access', 2, 4096, second.checkpoint))).rejects.toBeInstanceOf(CheckpointConflictError);
    await expect(store.append(entry('data_access', 2, 5000, second.checkpoint, 1, 2))).rejects.toBeInstanceOf(CheckpointConflictError); // block 2 exists
    expect((await store.list('data_access')).map((c) => c.index)).toEqual([0, 1]);
  });

  it('refuses UPDATE and DELETE at the database level', () => {
    expect(() => db.prepare('UPDATE checkpoints SET root_hash = ?').run(hex('d'))).toThrow(/immutable/);
    expect(() => db.prepare('DELETE FROM checkpoints').run()).toThrow(/cannot be deleted/);
    expect(() => db.prepare('DELETE FROM merkle_blocks').run()).toThrow(/cannot be deleted/);
  });

  it('pages across chains with a cursor', async () => {
    const one = await store.page({ limit: 2 });
    expect(one.checkpoints.map((c) => [c.checkpoint.chain, c.index])).toEqual([
      ['authentication', 0],
      ['data_access', 0],
    ]);
    const two = await store.page({ limit: 2, after: one.next! });
    expect(two.checkpoints.map((c) => [c.checkpoint.chain, c.index])).toEqual([['data_access', 1]]);
    expect(two.next).toBeNull();
  });

  it('keeps a purged prefix that can only grow', async () => {
    const p = { chain: 'data_access', size: 1024, lastHash: hex('b'), frontier: { size: 1024, hashes: [hex('c')] }, checkpointIndex: 0, purgedAt: '2033-01-01T00:00:00Z' };
    await store.recordPurgedPrefix(p);
    expect(await store.purgedPrefix('data_access')).toEqual(p);
    await expect(store.recordPurgedPrefix({ ...p, size: 512 })).rejects.toThrow(/only grow/);
  });
});
