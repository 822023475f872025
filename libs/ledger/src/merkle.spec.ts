/**
 * Tests for the RFC 9162 Merkle tree (merkle.ts): the published Certificate Transparency test
 * vectors, proof shapes from the RFC's example trees, a small independent reference
 * implementation written straight from the RFC text, seeded property tests over random trees of
 * sizes 1..300 (every proof verifies, every one-bit change fails), and proofs computed after a
 * prefix of the tree was purged and only its frontier kept.
 */
import { createHash } from 'node:crypto';
import vectors from './testdata/rfc6962-vectors.json';
import {
  EMPTY_TREE_ROOT,
  Frontier,
  MerkleAccumulator,
  MerkleProver,
  PurgedRangeError,
  consistencyProof,
  frontierFromJSON,
  frontierRoot,
  frontierToJSON,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromInclusionProof,
  rootFromLeaves,
  verifyConsistency,
  verifyInclusion,
} from './merkle';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const hexAll = (hs: readonly string[]): Buffer[] => hs.map(hex);

// ---------------------------------------------------------------------------------------------
// Reference implementation, from the definitions in RFC 9162 section 2.1 (recursive, slow, obvious)

function sha(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}
const refLeaf = (d: Uint8Array): Buffer => sha(Buffer.from([0]), d);
const refNode = (l: Uint8Array, r: Uint8Array): Buffer => sha(Buffer.from([1]), l, r);
function refK(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
/** MTH over leaf hashes. */
function refMth(d: readonly Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return d[0];
  const k = refK(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: readonly Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = refK(d.length);
  return m < k ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))] : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: readonly Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [refMth(d)];
  const k = refK(d.length);
  return m <= k ? [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))] : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}
const refProof = (m: number, d: readonly Buffer[]): Buffer[] => (m === 0 || m === d.length ? [] : refSubproof(m, d, true));

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (xorshift32) and mutation helpers

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
function randomHashes(count: number, seed: number): Buffer[] {
  const next = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(32);
    for (let j = 0; j < 32; j += 4) b.writeUInt32LE(next(), j);
    out.push(b);
  }
  return out;
}
function flipBit(b: Uint8Array, bit: number): Buffer {
  const c = Buffer.from(b);
  c[bit >> 3] ^= 1 << (bit & 7);
  return c;
}
function withElement(list: readonly Buffer[], i: number, value: Buffer): Buffer[] {
  const c = list.slice();
  c[i] = value;
  return c;
}
const ALL_BITS = Array.from({ length: 256 }, (_, i) => i);
function someBits(next: () => number, count: number): number[] {
  return Array.from({ length: count }, () => next() % 256);
}
/** Fast list-of-hashes equality (Jest's deep equality is slow on many Buffers). */
function sameHashes(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((h, i) => Buffer.compare(h, b[i]) === 0);
}
function expectSame(actual: readonly Uint8Array[], expected: readonly Uint8Array[], what: string): void {
  if (!sameHashes(actual, expected)) throw new Error(`${what}: got [${actual.map((h) => Buffer.from(h).toString('hex'))}], want [${expected.map((h) => Buffer.from(h).toString('hex'))}]`);
}
const someHash = hex('abacaba000000000000000000000000000000000000000000060061e00123456');

// ---------------------------------------------------------------------------------------------

describe('hashing primitives', () => {
  it('hashes leaves and nodes with the RFC 9162 domain-separation prefixes', () => {
    const a = randomHashes(2, 7);
    expect(leafHash(a[0])).toEqual(refLeaf(a[0]));
    expect(leafHash(Buffer.from('abc'))).toEqual(refLeaf(Buffer.from('abc')));
    expect(leafHash(new Uint8Array(0))).toEqual(refLeaf(Buffer.alloc(0)));
    expect(nodeHash(a[0], a[1])).toEqual(refNode(a[0], a[1]));
    expect(nodeHash(a[0], a[1])).not.toEqual(nodeHash(a[1], a[0]));
    expect(leafHash(a[0])).not.toEqual(sha(a[0]));
  });

  it('returns fresh buffers, not the shared scratch space', () => {
    const a = randomHashes(3, 8);
    const h1 = nodeHash(a[0], a[1]);
    const copy = Buffer.from(h1);
    nodeHash(a[1], a[2]);
    leafHash(a[2]);
    expect(h1).toEqual(copy);
  });

  it('refuses node children that are not 32 bytes', () => {
    expect(() => nodeHash(Buffer.alloc(31), Buffer.alloc(32))).toThrow(RangeError);
    expect(() => nodeHash(Buffer.alloc(32), Buffer.alloc(33))).toThrow(RangeError);
  });

  it('uses SHA-256 of the empty string as the empty tree head', () => {
    expect(EMPTY_TREE_ROOT.toString('hex')).toBe(vectors.emptyTreeRoot);
    expect(rootFromLeaves([])).toEqual(EMPTY_TREE_ROOT);
    expect(new MerkleAccumulator().root()).toEqual(EMPTY_TREE_ROOT);
  });
});

describe('published RFC 6962 / Certificate Transparency test vectors', () => {
  const leaves = vectors.leaves.map((d) => leafHash(hex(d)));
  const roots = hexAll(vectors.roots);
  const prover = new MerkleProver(leaves);

  it('computes the tree heads of sizes 1..8', () => {
    const acc = new MerkleAccumulator();
    for (let n = 1; n <= 8; n++) {
      acc.appendLeafHash(leaves[n - 1]);
      expect(rootFromLeaves(leaves.slice(0, n)).toString('hex')).toBe(vectors.roots[n - 1]);
      expect(acc.root().toString('hex')).toBe(vectors.roots[n - 1]);
      expect(prover.root(n).toString('hex')).toBe(vectors.roots[n - 1]);
    }
  });

  describe.each(vectors.inclusion)('inclusion of leaf $leafIndex in tree of size $treeSize', ({ leafIndex, treeSize, path }) => {
    const proof = hexAll(path);
    const root = roots[treeSize - 1];
    const leaf = leaves[leafIndex];

    it('generates the published audit path', () => {
      expect(prover.inclusionProof(leafIndex, treeSize).map((h) => h.toString('hex'))).toEqual(path);
      expect(inclusionProof(leafIndex, treeSize, leaves).map((h) => h.toString('hex'))).toEqual(path);
    });

    it('verifies it', () => {
      expect(rootFromInclusionProof(leafIndex, treeSize, leaf, proof)).toEqual(root);
      expect(verifyInclusion(leafIndex, treeSize, leaf, proof, root)).toBe(true);
    });

    it('rejects every corruption the reference test suite probes', () => {
      const probes: Array<[string, number, number, Uint8Array, Uint8Array[], Uint8Array]> = [
        ['leafIndex - 1', leafIndex - 1, treeSize, leaf, proof, root],
        ['leafIndex + 1', leafIndex + 1, treeSize, leaf, proof, root],
        ['leafIndex ^ 2', leafIndex ^ 2, treeSize, leaf, proof, root],
        ['treeSize * 2', leafIndex, treeSize * 2, leaf, proof, root],
        ['treeSize / 2', leafIndex, Math.floor(treeSize / 2), leaf, proof, root],
        ['wrong leaf', leafIndex, treeSize, Buffer.from('WrongLeaf'), proof, root],
        ['empty root', leafIndex, treeSize, leaf, proof, EMPTY_TREE_ROOT],
        ['random root', leafIndex, treeSize, leaf, proof, someHash],
        ['trailing garbage', leafIndex, treeSize, leaf, [...proof, Buffer.alloc(0)], root],
        ['trailing root', leafIndex, treeSize, leaf, [...proof, root], root],
        ['preceding garbage', leafIndex, treeSize, leaf, [Buffer.alloc(0), ...proof], root],
        ['preceding root', leafIndex, treeSize, leaf, [root, ...proof], root],
      ];
      proof.forEach((p, i) => probes.push([`proof[${i}] bit 3`, leafIndex, treeSize, leaf, withElement(proof, i, flipBit(p, 3)), root]));
      if (proof.length > 0) probes.push(['removed component', leafIndex, treeSize, leaf, proof.slice(0, -1), root]);
      if (proof.length > 1) probes.push(['inserted component', leafIndex, treeSize, leaf, [proof[0], someHash, ...proof.slice(1)], root]);
      const accepted = probes.filter(([, i, n, l, p, r]) => verifyInclusion(i, n, l, p, r)).map(([desc]) => desc);
      expect(accepted).toEqual([]);
    });
  });

  describe.each(vectors.consistency)('consistency from size $size1 to size $size2', ({ size1, size2, proof: proofHex }) => {
    const proof = hexAll(proofHex);
    const root1 = roots[size1 - 1];
    const root2 = roots[size2 - 1];

    it('generates the published proof', () => {
      expect(prover.consistencyProof(size1, size2).map((h) => h.toString('hex'))).toEqual(proofHex);
      expect(consistencyProof(size1, size2, leaves).map((h) => h.toString('hex'))).toEqual(proofHex);
    });

    it('verifies it', () => {
      expect(verifyConsistency(size1, size2, root1, root2, proof)).toBe(true);
    });

    it('rejects every corruption the reference test suite probes', () => {
      if (proof.length === 0) return; // same size: covered below
      const wrong = Buffer.from('WrongRoot');
      const probes: Array<[string, number, number, Uint8Array, Uint8Array, Uint8Array[]]> = [
        ['size1 - 1', size1 - 1, size2, root1, root2, proof],
        ['size1 + 1', size1 + 1, size2, root1, root2, proof],
        ['size1 ^ 2', size1 ^ 2, size2, root1, root2, proof],
        ['size2 * 2', size1, size2 * 2, root1, root2, proof],
        ['size2 / 2', size1, Math.floor(size2 / 2), root1, root2, proof],
        ['wrong root1', size1, size2, wrong, root2, proof],
        ['wrong root2', size1, size2, root1, wrong, proof],
        ['swapped roots', size1, size2, root2, root1, proof],
        ['empty proof', size1, size2, root1, root2, []],
        ['trailing garbage', size1, size2, root1, root2, [...proof, Buffer.alloc(0)]],
        ['trailing root1', size1, size2, root1, root2, [...proof, root1]],
        ['trailing root2', size1, size2, root1, root2, [...proof, root2]],
        ['preceding garbage', size1, size2, root1, root2, [Buffer.alloc(0), ...proof]],
        ['preceding root1', size1, size2, root1, root2, [root1, ...proof]],
        ['preceding root2', size1, size2, root1, root2, [root2, ...proof]],
        ['preceding proof[0]', size1, size2, root1, root2, [proof[0], ...proof]],
        ['truncated proof', size1, size2, root1, root2, proof.slice(0, -1)],
      ];
      proof.forEach((p, i) => probes.push([`proof[${i}] bit 4`, size1, size2, root1, root2, withElement(proof, i, flipBit(p, 4))]));
      const accepted = probes.filter(([, s1, s2, r1, r2, p]) => verifyConsistency(s1, s2, r1, r2, p)).map(([desc]) => desc);
      expect(accepted).toEqual([]);
    });
  });

  it('handles the trivial consistency cases', () => {
    const [r1, r2] = randomHashes(2, 11);
    expect(verifyConsistency(0, 0, EMPTY_TREE_ROOT, EMPTY_TREE_ROOT, [])).toBe(true);
    expect(verifyConsistency(0, 0, r1, r1, [])).toBe(true); // equal sizes: equal heads
    expect(verifyConsistency(1, 1, r2, r2, [])).toBe(true);
    expect(verifyConsistency(0, 1, EMPTY_TREE_ROOT, r2, [])).toBe(true);
    expect(verifyConsistency(0, 1, r1, r2, [])).toBe(false); // size 0 has one head only
    expect(verifyConsistency(0, 0, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 0, r1, r2, [])).toBe(false); // time travel
    expect(verifyConsistency(2, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(1, 2, r1, r2, [])).toBe(false); // empty proof
    expect(verifyConsistency(0, 0, EMPTY_TREE_ROOT, EMPTY_TREE_ROOT, [EMPTY_TREE_ROOT])).toBe(false);
    expect(verifyConsistency(0, 1, EMPTY_TREE_ROOT, EMPTY_TREE_ROOT, [EMPTY_TREE_ROOT])).toBe(false);
    expect(verifyConsistency(1, 1, EMPTY_TREE_ROOT, EMPTY_TREE_ROOT, [EMPTY_TREE_ROOT])).toBe(false);
    expect(prover.consistencyProof(0, 5)).toEqual([]);
    expect(prover.consistencyProof(5, 5)).toEqual([]);
  });

  it('refuses impossible inclusion queries', () => {
    const leaf = leaves[0];
    for (const [i, n] of [[0, 0], [1, 0], [2, 1], [-1, 4], [0.5, 4]]) {
      expect(verifyInclusion(i, n, leaf, [], EMPTY_TREE_ROOT)).toBe(false);
      expect(verifyInclusion(i, n, leaf, [], leaf)).toBe(false);
    }
    expect(verifyInclusion(0, 1, leaf, [], leaf)).toBe(true);
    expect(verifyInclusion(0, 1, Buffer.alloc(0), [], Buffer.alloc(0))).toBe(false);
    expect(() => prover.inclusionProof(8, 8)).toThrow(RangeError);
    expect(() => prover.inclusionProof(0, 0)).toThrow(RangeError);
  });
});

describe('proof shapes from the RFC 9162 example trees', () => {
  // Expected nodes as leaf ranges [a, b); sizes and shapes from the CT reference proof tests.
  const leaves = randomHashes(95, 95);
  const prover = new MerkleProver(leaves);
  const ranges = (rs: Array<[number, number]>): string[] => rs.map(([a, b]) => refMth(leaves.slice(a, b)).toString('hex'));
  const asHex = (hs: Buffer[]): string[] => hs.map((h) => h.toString('hex'));

  it.each([
    [0, 7, [[1, 2], [2, 4], [4, 7]]],
    [2, 7, [[3, 4], [0, 2], [4, 7]]],
    [4, 7, [[5, 6], [6, 7], [0, 4]]],
    [6, 7, [[4, 6], [0, 4]]],
    [2, 4, [[3, 4], [0, 2]]],
    [3, 5, [[2, 3], [0, 2], [4, 5]]],
    [3, 6, [[2, 3], [0, 2], [4, 6]]],
    [4, 6, [[5, 6], [0, 4]]],
    [10, 15, [[11, 12], [8, 10], [12, 15], [0, 8]]],
    [24, 31, [[25, 26], [26, 28], [28, 31], [16, 24], [0, 16]]],
    [81, 95, [[80, 81], [82, 84], [84, 88], [88, 95], [64, 80], [0, 64]]],
  ] as Array<[number, number, Array<[number, number]>]>)('inclusion of leaf %i in size %i', (m, n, expected) => {
    expect(asHex(prover.inclusionProof(m, n))).toEqual(ranges(expected));
  });

  it.each([
    [1, 2, [[1, 2]]],
    [1, 4, [[1, 2], [2, 4]]],
    [1, 6, [[1, 2], [2, 4], [4, 6]]],
    [2, 3, [[2, 3]]],
    [2, 8, [[2, 4], [4, 8]]],
    [3, 7, [[2, 3], [3, 4], [0, 2], [4, 7]]],
    [4, 7, [[4, 7]]],
    [5, 7, [[4, 5], [5, 6], [6, 7], [0, 4]]],
    [6, 7, [[4, 6], [6, 7], [0, 4]]],
    [7, 8, [[6, 7], [7, 8], [4, 6], [0, 4]]],
    [2, 4, [[2, 4]]],
    [3, 5, [[2, 3], [3, 4], [0, 2], [4, 5]]],
    [4, 6, [[4, 6]]],
    [1, 7, [[1, 2], [2, 4], [4, 7]]],
    [10, 15, [[8, 10], [10, 12], [12, 15], [0, 8]]],
    [24, 31, [[16, 24], [24, 31], [0, 16]]],
    [81, 95, [[80, 81], [81, 82], [82, 84], [84, 88], [88, 95], [64, 80], [0, 64]]],
  ] as Array<[number, number, Array<[number, number]>]>)('consistency from size %i to size %i', (m, n, expected) => {
    expect(asHex(prover.consistencyProof(m, n))).toEqual(ranges(expected));
  });
});

describe('random trees of sizes 1..300 (seeded)', () => {
  const N = 300;
  const leaves = randomHashes(N, 0x5eed);
  const refRoots = [sha(), ...Array.from({ length: N }, (_, i) => refMth(leaves.slice(0, i + 1)))];
  const prover = new MerkleProver(leaves, null, { cacheMinWidth: 2 });
  // Sizes whose proofs get every single bit of every input flipped; the rest get a sample.
  const EXHAUSTIVE = new Set([1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 32, 33, 64, 100, 127, 128, 129, 255, 256, 257, 300]);

  it('accumulator, rootFromLeaves and prover agree with the reference at every size 0..300', () => {
    const acc = new MerkleAccumulator();
    for (let n = 0; n <= N; n++) {
      if (n > 0) acc.appendLeafHash(leaves[n - 1]);
      expect(acc.size).toBe(n);
      expect(acc.root()).toEqual(refRoots[n]);
      expect(rootFromLeaves(leaves.slice(0, n))).toEqual(refRoots[n]);
      expect(prover.root(n)).toEqual(refRoots[n]);
      // Its stored form resumes to the same state.
      const resumed = MerkleAccumulator.fromJSON(JSON.parse(JSON.stringify(acc)));
      expect(resumed.root()).toEqual(refRoots[n]);
      expect(frontierRoot(acc.frontier())).toEqual(refRoots[n]);
      if (n < N) {
        resumed.appendLeafHash(leaves[n]);
        expect(resumed.root()).toEqual(refRoots[n + 1]);
      }
    }
  });

  it('appendRecordHash is appendLeafHash of the leaf hash', () => {
    const a = new MerkleAccumulator();
    const b = new MerkleAccumulator();
    for (const h of leaves.slice(0, 37)) {
      a.appendRecordHash(h);
      b.appendLeafHash(leafHash(h));
    }
    expect(a.root()).toEqual(b.root());
    expect(a.clone().root()).toEqual(a.root());
  });

  it('accumulator copies its inputs', () => {
    const acc = new MerkleAccumulator();
    const leaf = Buffer.from(leaves[0]);
    acc.appendLeafHash(leaf);
    leaf.fill(0);
    expect(acc.root()).toEqual(refRoots[1]);
  });

  it('generates the reference audit path for every leaf of every tree up to 64, and every proof verifies up to 300', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        const proof = prover.inclusionProof(m, n);
        if (n <= 64) expectSame(proof, refPath(m, leaves.slice(0, n)), `path ${m}/${n}`);
        if (!verifyInclusion(m, n, leaves[m], proof, refRoots[n])) throw new Error(`inclusion ${m}/${n} does not verify`);
      }
    }
  });

  it('rejects every single-bit change of a proof element, the leaf, the root and the leaf index', () => {
    const next = prng(42);
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      const ms = EXHAUSTIVE.has(n) ? [0, n - 1, next() % n] : [next() % n];
      const bits = EXHAUSTIVE.has(n) ? ALL_BITS : someBits(next, 6);
      for (const m of ms) {
        const proof = prover.inclusionProof(m, n);
        const root = refRoots[n];
        const leaf = leaves[m];
        for (const bit of bits) {
          for (let i = 0; i < proof.length; i++) {
            if (verifyInclusion(m, n, leaf, withElement(proof, i, flipBit(proof[i], bit)), root)) throw new Error(`accepted proof[${i}] bit ${bit} (${m}/${n})`);
            checked++;
          }
          if (verifyInclusion(m, n, flipBit(leaf, bit), proof, root)) throw new Error(`accepted leaf bit ${bit} (${m}/${n})`);
          if (verifyInclusion(m, n, leaf, proof, flipBit(root, bit))) throw new Error(`accepted root bit ${bit} (${m}/${n})`);
          checked += 2;
        }
        for (let bit = 0; bit < 53; bit++) {
          const other = Math.floor(m / 2 ** bit) % 2 === 1 ? m - 2 ** bit : m + 2 ** bit;
          if (verifyInclusion(other, n, leaf, proof, root)) throw new Error(`accepted index ${other} for ${m} (size ${n})`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(100000);
  });

  it('generates the reference consistency proof for every pair of sizes up to 64, and every proof verifies up to 300', () => {
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = prover.consistencyProof(m, n);
        if (n <= 64) expectSame(proof, refProof(m, leaves.slice(0, n)), `proof ${m}->${n}`);
        if (!verifyConsistency(m, n, refRoots[m], refRoots[n], proof)) throw new Error(`consistency ${m}->${n} does not verify`);
      }
    }
  });

  it('rejects every single-bit change of a consistency proof element and of either root', () => {
    const next = prng(4242);
    let checked = 0;
    for (let n = 2; n <= N; n++) {
      const ms = EXHAUSTIVE.has(n) ? [1, n - 1, 1 + (next() % (n - 1))] : [1 + (next() % (n - 1))];
      const bits = EXHAUSTIVE.has(n) ? ALL_BITS : someBits(next, 6);
      for (const m of ms) {
        const proof = prover.consistencyProof(m, n);
        const [r1, r2] = [refRoots[m], refRoots[n]];
        for (const bit of bits) {
          for (let i = 0; i < proof.length; i++) {
            if (verifyConsistency(m, n, r1, r2, withElement(proof, i, flipBit(proof[i], bit)))) throw new Error(`accepted proof[${i}] bit ${bit} (${m}->${n})`);
            checked++;
          }
          if (verifyConsistency(m, n, flipBit(r1, bit), r2, proof)) throw new Error(`accepted root1 bit ${bit} (${m}->${n})`);
          if (verifyConsistency(m, n, r1, flipBit(r2, bit), proof)) throw new Error(`accepted root2 bit ${bit} (${m}->${n})`);
          checked += 2;
        }
        // A proof element dropped, repeated or appended is refused too.
        if (verifyConsistency(m, n, r1, r2, proof.slice(1))) throw new Error(`accepted a shortened proof (${m}->${n})`);
        if (verifyConsistency(m, n, r1, r2, [...proof, proof[proof.length - 1]])) throw new Error(`accepted a lengthened proof (${m}->${n})`);
      }
    }
    expect(checked).toBeGreaterThan(100000);
  });

  it('a rewritten history fails consistency with the old tree head', () => {
    const rewritten = leaves.slice();
    rewritten[17] = flipBit(rewritten[17], 0);
    const forged = new MerkleProver(rewritten);
    for (const [m, n] of [[18, 40], [20, 300], [64, 65], [100, 200]]) {
      expect(verifyConsistency(m, n, refRoots[m], forged.root(n), forged.consistencyProof(m, n))).toBe(false);
      expect(verifyConsistency(m, n, forged.root(m), forged.root(n), forged.consistencyProof(m, n))).toBe(true);
    }
  });
});

describe('after a retention purge of the prefix [0, k): frontier plus the remaining leaves', () => {
  const N = 300;
  const leaves = randomHashes(N, 0xfeed);
  const full = new MerkleProver(leaves, null, { cacheMinWidth: 2 });
  const frontierAt = (k: number): Frontier => {
    const acc = new MerkleAccumulator();
    for (let i = 0; i < k; i++) acc.appendLeafHash(leaves[i]);
    // Through its stored form, as a purge would keep it.
    return frontierFromJSON(JSON.parse(JSON.stringify(frontierToJSON(acc.frontier()))));
  };
  /** A leaf source that fails the test if a purged leaf is ever read. */
  const retainedOnly = (k: number) => (i: number): Buffer => {
    if (i < k || i >= N) throw new Error(`read leaf ${i}, which is not retained`);
    return leaves[i];
  };

  it('a frontier has one subtree hash per set bit of its size', () => {
    expect(frontierAt(0).hashes).toHaveLength(0);
    expect(frontierAt(6).hashes).toEqual([full.subtreeHash(0, 4), full.subtreeHash(4, 6)]);
    expect(frontierAt(255).hashes).toHaveLength(8);
    expect(frontierAt(256).hashes).toEqual([full.subtreeHash(0, 256)]);
    expect(() => frontierFromJSON({ size: 6, hashes: [leaves[0].toString('hex')] })).toThrow(RangeError);
    expect(() => frontierFromJSON({ size: 1, hashes: ['XYZ'] })).toThrow(RangeError);
    expect(() => new MerkleAccumulator({ size: 3, hashes: [leaves[0]] })).toThrow(RangeError);
  });

  it('proves every retained leaf and every consistency from a size >= k, for every k and size up to 64', () => {
    for (let k = 0; k <= 64; k++) {
      const pruned = new MerkleProver(retainedOnly(k), frontierAt(k), { cacheMinWidth: 2 });
      expect(pruned.firstLeaf).toBe(k);
      for (let n = k; n <= 64; n++) {
        expectSame([pruned.root(n)], [full.root(n)], `root ${n} after purge ${k}`);
        for (let m = k; m < n; m++) expectSame(pruned.inclusionProof(m, n), full.inclusionProof(m, n), `path ${m}/${n} after purge ${k}`);
        for (let m = Math.max(k, 1); m <= n; m++) expectSame(pruned.consistencyProof(m, n), full.consistencyProof(m, n), `proof ${m}->${n} after purge ${k}`);
      }
    }
  });

  it.each([100, 127, 128, 129, 200, 255, 256, 257, 299, 300])('works the same with k = %i on trees up to 300, with an array of the remaining leaves', (k) => {
    const frontier = frontierAt(k);
    const next = prng(k);
    const sizes = new Set([k, Math.min(k + 1, N), Math.min(k + 2, N), N, ...Array.from({ length: 4 }, () => k + (next() % (N - k + 1)))]);
    const pruned = new MerkleProver(leaves.slice(k), frontier, { cacheMinWidth: 4 });
    for (const n of sizes) {
      expect(pruned.root(n)).toEqual(full.root(n));
      for (let m = k; m < n; m++) {
        const proof = pruned.inclusionProof(m, n);
        expectSame(proof, full.inclusionProof(m, n), `path ${m}/${n} after purge ${k}`);
        if (!verifyInclusion(m, n, leaves[m], proof, full.root(n))) throw new Error(`path ${m}/${n} after purge ${k} does not verify`);
      }
      for (let m = Math.max(k, 1); m <= n; m++) {
        const proof = consistencyProof(m, n, leaves.slice(k), frontier);
        if (!verifyConsistency(m, n, full.root(m), full.root(n), proof)) throw new Error(`proof ${m}->${n} after purge ${k} does not verify`);
      }
    }
    if (k < N) expect(inclusionProof(k, N, retainedOnly(k), frontier)).toEqual(full.inclusionProof(k, N));
  });

  it('refuses what the purge made unprovable: purged leaves, heads and consistency from sizes below k', () => {
    for (const k of [1, 2, 3, 5, 6, 8, 13, 64, 100]) {
      const pruned = new MerkleProver(retainedOnly(k), frontierAt(k));
      for (let m = 0; m < k; m++) {
        expect(() => pruned.inclusionProof(m, k + 3)).toThrow(PurgedRangeError);
        expect(() => pruned.leafHash(m)).toThrow(PurgedRangeError);
      }
      for (let s = 1; s < k; s++) {
        expect(() => pruned.root(s)).toThrow(PurgedRangeError);
        expect(() => pruned.consistencyProof(s, k + 3)).toThrow(PurgedRangeError);
      }
      expect(pruned.root(0)).toEqual(EMPTY_TREE_ROOT);
      expect(pruned.consistencyProof(0, k + 3)).toEqual([]);
    }
    // A range strictly inside a frontier subtree ([0, 4) covers [1, 3)) cannot be rebuilt.
    const pruned = new MerkleProver(retainedOnly(6), frontierAt(6));
    expect(() => pruned.subtreeHash(0, 2)).toThrow(PurgedRangeError);
    expect(() => pruned.subtreeHash(1, 5)).toThrow(PurgedRangeError);
    expect(pruned.subtreeHash(0, 4)).toEqual(full.subtreeHash(0, 4));
    expect(pruned.subtreeHash(4, 8)).toEqual(full.subtreeHash(4, 8));
    expect(pruned.subtreeHash(0, 8)).toEqual(full.subtreeHash(0, 8));
  });

  it('an accumulator resumed from the frontier at k reaches the same heads as the full tree', () => {
    for (const k of [0, 1, 7, 64, 150, 299]) {
      const acc = new MerkleAccumulator(frontierAt(k));
      expect(acc.root()).toEqual(full.root(k));
      for (let n = k + 1; n <= N; n++) {
        acc.appendLeafHash(leaves[n - 1]);
        expect(acc.root()).toEqual(full.root(n));
      }
    }
  });
});
