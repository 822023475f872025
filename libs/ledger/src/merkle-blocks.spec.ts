import { createHash } from 'node:crypto';
import { BlockedMerkleAccumulator, MERKLE_BLOCK_LEAVES } from './merkle-blocks';
import { MerkleAccumulator, MerkleProver, leafHash, rootFromLeaves, verifyConsistency, verifyInclusion } from './merkle';

const B = MERKLE_BLOCK_LEAVES;

function recordHashes(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => createHash('sha256').update(`record ${i}`).digest());
}

describe('BlockedMerkleAccumulator', () => {
  const hashes = recordHashes(3 * B + 517);

  it('computes the same tree heads and frontiers as MerkleAccumulator, and emits each block root once', () => {
    const plain = new MerkleAccumulator();
    const blocked = new BlockedMerkleAccumulator();
    const roots: Buffer[] = [];
    for (let i = 0; i < hashes.length; i++) {
      plain.appendRecordHash(hashes[i]);
      const r = blocked.appendRecordHash(hashes[i]);
      if (r) roots.push(r);
      if (i % 97 === 0 || (i + 1) % B === 0 || i === hashes.length - 1) {
        expect(blocked.size).toBe(plain.size);
        expect(blocked.root().equals(plain.root())).toBe(true);
        expect(blocked.frontier().hashes.map((h) => Buffer.from(h).toString('hex'))).toEqual(plain.frontier().hashes.map((h) => Buffer.from(h).toString('hex')));
      }
    }
    expect(roots).toHaveLength(3);
    roots.forEach((root, b) => expect(root.equals(rootFromLeaves(hashes.slice(b * B, (b + 1) * B).map((h) => leafHash(h))))).toBe(true));
  });

  it.each([0, 1, B - 1, B, B + 1, 2 * B + 300, 3 * B])('resumes from the frontier of size %i', (k) => {
    const first = new BlockedMerkleAccumulator();
    for (let i = 0; i < k; i++) first.appendRecordHash(hashes[i]);
    const resumed = new BlockedMerkleAccumulator(first.frontier());
    expect(resumed.completeBlocks).toBe(Math.floor(k / B));
    const reference = new MerkleAccumulator();
    for (const h of hashes) reference.appendRecordHash(h);
    for (let i = k; i < hashes.length; i++) resumed.appendRecordHash(hashes[i]);
    expect(resumed.root().equals(reference.root())).toBe(true);
  });
});

describe('MerkleProver with stored block roots', () => {
  const hashes = recordHashes(5 * B + 123);
  const leaves = hashes.map((h) => leafHash(h));
  const blockRoots = [0, 1, 2, 3, 4].map((b) => rootFromLeaves(leaves.slice(b * B, (b + 1) * B)));

  /** A prover that may read only the leaves of the listed blocks; every whole block comes from its root. */
  function prover(readable: number[]): MerkleProver {
    const allowed = new Set(readable);
    return new MerkleProver(
      (i) => {
        if (!allowed.has(Math.floor(i / B))) throw new Error(`leaf ${i} read outside the allowed blocks`);
        return leaves[i];
      },
      null,
      { maxCachedNodes: 0, subtreeSource: (start, width) => (width === B ? blockRoots[start / B] : undefined) },
    );
  }

  it.each([
    [0, 5 * B + 123],
    [B + 7, 5 * B + 123],
    [4 * B + 1, 4 * B + 2],
    [5 * B + 100, 5 * B + 123],
    [2 * B - 1, 3 * B],
  ])('proves leaf %i in a tree of size %i reading at most two blocks', (m, n) => {
    const readable = [Math.floor(m / B)];
    if (n % B !== 0) readable.push(Math.floor(n / B));
    const path = prover(readable).inclusionProof(m, n);
    expect(verifyInclusion(m, n, leaves[m], path, rootFromLeaves(leaves.slice(0, n)))).toBe(true);
  });

  it.each([
    [B, 5 * B + 123],
    [B + 5, 3 * B],
    [3 * B + 700, 5 * B + 123],
    [17, 4 * B],
  ])('proves consistency from %i to %i reading at most two blocks', (m, n) => {
    const readable: number[] = [];
    if (m % B !== 0) readable.push(Math.floor(m / B));
    if (n % B !== 0) readable.push(Math.floor(n / B));
    const proof = prover(readable).consistencyProof(m, n);
    expect(verifyConsistency(m, n, rootFromLeaves(leaves.slice(0, m)), rootFromLeaves(leaves.slice(0, n)), proof)).toBe(true);
  });
});
