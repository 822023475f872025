/**
 * The embedded checkpoint store's own promise: append-only at the database level (triggers), whatever
 * connection writes. What every CheckpointStore does (reads, paging, fencing a second sealer, purged
 * prefixes) is the contract in test/contracts/checkpoint-store.contract.ts, run on this adapter too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { Checkpoint, checkpointHash, signCheckpoint } from '@app/ledger';
import { NewCheckpoint } from '../checkpoint-store.port';
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

  beforeAll(async () => {
    const first = entry('data_access', 0, 1024, null, 1);
    await store.append(first);
    await store.append(entry('data_access', 1, 4096, first.checkpoint, 3, 1));
    await store.recordPurgedPrefix({ chain: 'data_access', size: 1024, lastHash: hex('b'), frontier: { size: 1024, hashes: [hex('c')] }, checkpointIndex: 0, purgedAt: '2033-01-01T00:00:00Z' });
  });
  afterAll(() => db.close());

  it('refuses UPDATE and DELETE at the database level', () => {
    expect(() => db.prepare('UPDATE checkpoints SET root_hash = ?').run(hex('d'))).toThrow(/immutable/);
    expect(() => db.prepare('DELETE FROM checkpoints').run()).toThrow(/cannot be deleted/);
    expect(() => db.prepare('DELETE FROM merkle_blocks').run()).toThrow(/cannot be deleted/);
  });

  it('refuses a shrinking purged prefix and its deletion at the database level', () => {
    expect(() => db.prepare('UPDATE purged_prefixes SET size = 512').run()).toThrow(/only grow/);
    expect(() => db.prepare('DELETE FROM purged_prefixes').run()).toThrow(/cannot be deleted/);
  });
});
