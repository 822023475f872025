/**
 * RFC 9162 (Certificate Transparency v2) Merkle tree over one chain's record hashes: leaf and node
 * hashing, tree heads, inclusion and consistency proofs (generation and verification), and the
 * retention-safe state that keeps the tree provable after a prefix of the chain has been purged.
 *
 * Leaves are in sequence order and the leaf input is the record's 32-byte hash (CONTRACT,
 * "Inclusion proof"):
 *   leaf hash  = SHA-256(0x00 || recordHash)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")          (the empty tree)
 *   MTH(D[n])  = node hash of MTH(D[0:k]) and MTH(D[k:n]), k the largest power of two below n
 *
 * Retention-safe state. The "frontier" (compact range) of a tree of size k is the list of perfect
 * subtree roots that cover [0, k), one per set bit of k, largest (leftmost) first: for k = 6 the
 * subtrees [0,4) and [4,6). It is all the {@link MerkleAccumulator} keeps, it is enough to compute
 * every later tree head, and it is what a retention purge of the records [0, k) leaves behind (a
 * few 32-byte hashes, no PHI). {@link MerkleProver} works from a frontier plus the leaf hashes of
 * [k, n) and can prove:
 *   - the tree head of every size n >= k;
 *   - the inclusion of every leaf m >= k in every tree of size n > m;
 *   - the consistency of every tree of size m >= k with every tree of size n >= m.
 * Why: every node such a proof needs either lies at or after k (computed from the kept leaves),
 * straddles k (its part before k is a run of trailing frontier subtrees, because a node starting
 * at a multiple of 2^h that straddles k starts at k with its low h bits cleared), or lies before k
 * and is the left sibling of a straddling node, which is exactly one frontier subtree. What cannot
 * be proven any more is anything strictly inside a frontier subtree: the inclusion of a purged
 * leaf, the tree head of a size below k, or consistency from a size below k. Such requests throw
 * {@link PurgedRangeError}.
 *
 * Pure: no I/O, no clock. Sizes and indexes are JavaScript numbers (safe integers, up to 2^53).
 */
import * as nodeCrypto from 'node:crypto';
import { HASH_BYTES } from './record-hash';

// ---------------------------------------------------------------------------------------------
// Hashing primitives

type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: 'buffer') => Buffer;

/**
 * `crypto.hash` (Node >= 20.12) skips the Hash object and is about 40% faster than createHash on
 * 65-byte inputs; older runtimes fall back to createHash. Both are node:crypto (OpenSSL).
 */
const oneShot: OneShotHash | undefined =
  typeof (nodeCrypto as { hash?: unknown }).hash === 'function' ? ((nodeCrypto as unknown as { hash: OneShotHash }).hash) : undefined;

function sha256(data: Uint8Array): Buffer {
  return oneShot ? oneShot('sha256', data, 'buffer') : nodeCrypto.createHash('sha256').update(data).digest();
}

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

// Scratch buffers: the prefix byte is written once; hashing is synchronous, so reuse is safe.
const leafScratch = Buffer.alloc(1 + HASH_BYTES, LEAF_PREFIX);
const nodeScratch = Buffer.alloc(1 + 2 * HASH_BYTES, NODE_PREFIX);

/** Root of the empty tree: SHA-256 of the empty string (RFC 9162 section 2.1.1). */
export const EMPTY_TREE_ROOT: Buffer = sha256(Buffer.alloc(0));

/**
 * RFC 9162 leaf hash, SHA-256(0x00 || leafInput). Here the leaf input is a record's 32-byte
 * hash; other lengths are accepted (the published test vectors use them).
 */
export function leafHash(leafInput: Uint8Array): Buffer {
  if (leafInput.length === HASH_BYTES) {
    leafScratch.set(leafInput, 1);
    return sha256(leafScratch);
  }
  const data = Buffer.allocUnsafe(1 + leafInput.length);
  data[0] = LEAF_PREFIX;
  data.set(leafInput, 1);
  return sha256(data);
}

/** RFC 9162 interior node hash, SHA-256(0x01 || left || right); both children are 32 bytes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) {
    throw new RangeError(`Merkle node children must be ${HASH_BYTES} bytes`);
  }
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_BYTES);
  return sha256(nodeScratch);
}

// ---------------------------------------------------------------------------------------------
// Size arithmetic (safe integers, so no 32-bit shifts)

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Largest power of two strictly below n (n >= 2): the split point k of RFC 9162. */
function splitPoint(n: number): number {
  if (n <= 0x100000000) return 2 ** (31 - Math.clz32(n - 1));
  let k = 0x100000000;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && splitPoint(n + 1) === n;
}

/** Number of set bits of a safe integer: the number of subtrees in a frontier of that size. */
function popCount(n: number): number {
  let c = 0;
  while (n > 0) {
    c += n % 2;
    n = Math.floor(n / 2);
  }
  return c;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkHash(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== HASH_BYTES) throw new RangeError(`${what} must be ${HASH_BYTES} bytes`);
}

// ---------------------------------------------------------------------------------------------
// Frontier and incremental accumulator

/**
 * The perfect subtree roots covering leaves [0, size), one per set bit of `size`, largest first.
 * This is the whole retention-safe Merkle state of a chain purged up to `size`.
 */
export interface Frontier {
  readonly size: number;
  readonly hashes: readonly Uint8Array[];
}

/** A frontier as stored (hex strings, lower case). */
export interface FrontierJSON {
  size: number;
  hashes: string[];
}

/** Thrown when a proof or tree head would need a node that lies inside a purged prefix. */
export class PurgedRangeError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'PurgedRangeError';
  }
}

function checkFrontier(frontier: Frontier): void {
  if (!isCount(frontier.size)) throw new RangeError('frontier size must be a non-negative safe integer');
  if (!Array.isArray(frontier.hashes) || frontier.hashes.length !== popCount(frontier.size)) {
    throw new RangeError(`a frontier of size ${frontier.size} has ${popCount(frontier.size)} subtree hashes`);
  }
  for (const h of frontier.hashes) checkHash(h, 'frontier subtree hash');
}

/** Folds subtree roots from the right: the RFC 9162 head of the range they cover, left to right. */
function foldRight(hashes: readonly Uint8Array[], from: number, to: number): Buffer {
  let r = toBuffer(hashes[to - 1]);
  for (let i = to - 2; i >= from; i--) r = nodeHash(hashes[i], r);
  return r;
}

/** The tree head of a frontier's size: its subtree roots folded from the right. */
export function frontierRoot(frontier: Frontier): Buffer {
  checkFrontier(frontier);
  return frontier.size === 0 ? Buffer.from(EMPTY_TREE_ROOT) : Buffer.from(foldRight(frontier.hashes, 0, frontier.hashes.length));
}

/** Decodes a stored frontier, checking its shape (count of hashes matches the size). */
export function frontierFromJSON(json: FrontierJSON): Frontier {
  if (json === null || typeof json !== 'object' || !Array.isArray(json.hashes)) throw new RangeError('frontier JSON must be { size, hashes[] }');
  const hashes = json.hashes.map((h) => {
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/.test(h)) throw new RangeError('frontier hashes must be 64 lower-case hex digits');
    return Buffer.from(h, 'hex');
  });
  const frontier: Frontier = { size: json.size, hashes };
  checkFrontier(frontier);
  return frontier;
}

/** Encodes a frontier for storage. */
export function frontierToJSON(frontier: Frontier): FrontierJSON {
  checkFrontier(frontier);
  return { size: frontier.size, hashes: frontier.hashes.map((h) => toBuffer(h).toString('hex')) };
}

/**
 * Appends a leaf hash to a frontier stack of `count` leaves, in place: like a binary counter, each
 * trailing one bit of `count` merges the last subtree with the new one. Amortized one node hash.
 */
function pushLeaf(stack: Buffer[], count: number, leaf: Buffer): void {
  let h = leaf;
  let c = count;
  while (c % 2 === 1) {
    h = nodeHash(stack.pop() as Buffer, h);
    c = (c - 1) / 2;
  }
  stack.push(h);
}

/**
 * Incremental Merkle tree head: append leaf hashes one at a time and read the RFC 9162 root at
 * the current size, in O(log n) memory (the frontier). It can start from a stored frontier, which
 * is how a chain resumes after a restart or after its prefix was purged.
 */
export class MerkleAccumulator {
  private readonly stack: Buffer[];
  private count: number;

  constructor(frontier?: Frontier) {
    if (frontier) {
      checkFrontier(frontier);
      this.stack = frontier.hashes.map((h) => Buffer.from(h));
      this.count = frontier.size;
    } else {
      this.stack = [];
      this.count = 0;
    }
  }

  /** Resumes from a stored frontier. */
  static fromJSON(json: FrontierJSON): MerkleAccumulator {
    return new MerkleAccumulator(frontierFromJSON(json));
  }

  /** Number of leaves appended so far (including those covered by the starting frontier). */
  get size(): number {
    return this.count;
  }

  /** Appends one leaf hash (already `leafHash(recordHash)`). The bytes are copied. */
  appendLeafHash(leaf: Uint8Array): void {
    checkHash(leaf, 'leaf hash');
    if (this.count === Number.MAX_SAFE_INTEGER) throw new RangeError('tree size limit reached');
    // A leaf that merges is consumed by nodeHash; one that stays on the stack is copied.
    pushLeaf(this.stack, this.count, this.count % 2 === 1 ? toBuffer(leaf) : Buffer.from(leaf));
    this.count++;
  }

  /** Appends the leaf for a record hash: `appendLeafHash(leafHash(recordHash))`. */
  appendRecordHash(recordHash: Uint8Array): void {
    checkHash(recordHash, 'record hash');
    pushLeaf(this.stack, this.count, leafHash(recordHash));
    this.count++;
  }

  /** RFC 9162 tree head at the current size (the empty-tree hash at size 0). */
  root(): Buffer {
    return this.count === 0 ? Buffer.from(EMPTY_TREE_ROOT) : Buffer.from(foldRight(this.stack, 0, this.stack.length));
  }

  /** A copy of the current frontier (the retention-safe state). */
  frontier(): Frontier {
    return { size: this.count, hashes: this.stack.map((h) => Buffer.from(h)) };
  }

  toJSON(): FrontierJSON {
    return { size: this.count, hashes: this.stack.map((h) => h.toString('hex')) };
  }

  clone(): MerkleAccumulator {
    return new MerkleAccumulator({ size: this.count, hashes: this.stack });
  }
}

/** RFC 9162 tree head MTH(D[n]) of a list of leaf hashes (the empty-tree hash for none). */
export function rootFromLeaves(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return Buffer.from(EMPTY_TREE_ROOT);
  const stack: Buffer[] = [];
  for (let i = 0; i < leafHashes.length; i++) {
    const leaf = leafHashes[i];
    checkHash(leaf, 'leaf hash');
    pushLeaf(stack, i, i % 2 === 1 ? toBuffer(leaf) : Buffer.from(leaf));
  }
  return foldRight(stack, 0, stack.length);
}

// ---------------------------------------------------------------------------------------------
// Proof generation

/**
 * Where leaf hashes come from. A function receives absolute leaf indexes. An array holds the
 * leaves from the first one not covered by the prover's frontier: element 0 is leaf
 * `frontier.size` (leaf 0 when there is no frontier).
 */
export type LeafHashSource = readonly Uint8Array[] | ((index: number) => Uint8Array);

export interface MerkleProverOptions {
  /**
   * How many perfect subtree hashes the prover may memoize (default 131072, about 12 MB), so that
   * one prover can answer many proofs over the same leaves: after the first proof of a tree of n
   * leaves (O(n) hashes), each further proof costs at most cacheMinWidth hashes per level. Once
   * full, the cache keeps what it has. 0 disables it.
   */
  maxCachedNodes?: number;
  /**
   * Smallest subtree (in leaves, a power of two) worth memoizing; default 16, which lets the
   * default cache hold every such subtree of a tree of up to a million leaves.
   */
  cacheMinWidth?: number;
  /**
   * Precomputed hashes of perfect aligned subtrees [start, start + width), e.g. the stored roots
   * of fixed 1024-leaf blocks: consulted before any leaf is read, so a proof over a large tree
   * reads only the leaves of the one or two blocks it cuts through. Undefined means "compute".
   */
  subtreeSource?: (start: number, width: number) => Uint8Array | undefined;
}

/** Proofs are collected top-down and returned bottom-up, as copies (internal hashes are shared). */
function copyReversed(hashes: readonly Buffer[]): Buffer[] {
  const out = new Array<Buffer>(hashes.length);
  for (let i = 0; i < hashes.length; i++) out[hashes.length - 1 - i] = Buffer.from(hashes[i]);
  return out;
}

/** Index of the perfect aligned subtree [start, start + width) in in-order numbering: unique. */
function nodeKey(start: number, width: number): number {
  return 2 * start + width - 1;
}

/**
 * Computes tree heads, subtree hashes, inclusion proofs and consistency proofs from leaf hashes,
 * optionally on top of the frontier of a purged prefix [0, frontier.size) (see the file header
 * for what remains provable). Leaves before `frontier.size` are never read.
 */
export class MerkleProver {
  /** First leaf that is not covered by the frontier: leaves below it were purged. */
  readonly firstLeaf: number;
  private readonly getLeaf: (index: number) => Uint8Array;
  /** Frontier subtrees of the purged prefix, keyed by their start leaf. */
  private readonly prefixStarts: number[] = [];
  private readonly prefixEnds: number[] = [];
  private readonly prefixHashes: Buffer[] = [];
  private readonly cache = new Map<number, Buffer>();
  private readonly maxCachedNodes: number;
  private readonly cacheMinWidth: number;
  private readonly subtreeSource?: (start: number, width: number) => Uint8Array | undefined;

  constructor(leaves: LeafHashSource, prefix?: Frontier | null, options: MerkleProverOptions = {}) {
    this.firstLeaf = 0;
    if (prefix) {
      checkFrontier(prefix);
      this.firstLeaf = prefix.size;
      let start = 0;
      let width = prefix.size > 0 ? splitPoint(prefix.size + 1) : 0; // highest set bit
      for (const h of prefix.hashes) {
        while (start + width > prefix.size) width /= 2;
        this.prefixStarts.push(start);
        this.prefixEnds.push(start + width);
        this.prefixHashes.push(Buffer.from(h));
        start += width;
      }
    }
    const offset = this.firstLeaf;
    this.getLeaf = typeof leaves === 'function' ? leaves : (i: number) => leaves[i - offset];
    this.maxCachedNodes = options.maxCachedNodes ?? 131072;
    this.cacheMinWidth = Math.max(2, options.cacheMinWidth ?? 16);
    this.subtreeSource = options.subtreeSource;
  }

  /** The leaf hash at an absolute index (>= firstLeaf). */
  leafHash(index: number): Buffer {
    return Buffer.from(this.readLeaf(index));
  }

  private readLeaf(index: number): Buffer {
    if (!isCount(index)) throw new RangeError('leaf index must be a non-negative safe integer');
    if (index < this.firstLeaf) throw new PurgedRangeError(`leaf ${index} was purged (first retained leaf is ${this.firstLeaf})`);
    const leaf = this.getLeaf(index);
    if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_BYTES) throw new RangeError(`no ${HASH_BYTES}-byte leaf hash for leaf ${index}`);
    return toBuffer(leaf);
  }

  /**
   * MTH(D[start:end]), the RFC 9162 hash of the leaves [start, end) taken as a list. Ranges that
   * reach into the purged prefix must be nodes of some tree of size >= firstLeaf.
   */
  subtreeHash(start: number, end: number): Buffer {
    if (!isCount(start) || !isCount(end) || start >= end) throw new RangeError(`bad leaf range [${start}, ${end})`);
    return Buffer.from(this.hashRange(start, end));
  }

  /** Tree head at `treeSize` (needs treeSize >= firstLeaf, or 0). */
  root(treeSize: number): Buffer {
    if (!isCount(treeSize)) throw new RangeError('tree size must be a non-negative safe integer');
    if (treeSize === 0) return Buffer.from(EMPTY_TREE_ROOT);
    if (treeSize < this.firstLeaf) throw new PurgedRangeError(`the tree head of size ${treeSize} lies inside the purged prefix [0, ${this.firstLeaf})`);
    return Buffer.from(this.hashRange(0, treeSize));
  }

  /** RFC 9162 section 2.1.3.1 PATH(m, D[n]): the audit path of leaf m in the tree of size n, bottom up. */
  inclusionProof(leafIndex: number, treeSize: number): Buffer[] {
    if (!isCount(leafIndex) || !isCount(treeSize) || leafIndex >= treeSize) {
      throw new RangeError(`leaf index ${leafIndex} is not in a tree of size ${treeSize}`);
    }
    if (leafIndex < this.firstLeaf) throw new PurgedRangeError(`leaf ${leafIndex} was purged (first retained leaf is ${this.firstLeaf})`);
    const path: Buffer[] = [];
    let lo = 0;
    let hi = treeSize;
    while (hi - lo > 1) {
      const mid = lo + splitPoint(hi - lo);
      if (leafIndex < mid) {
        path.push(this.hashRange(mid, hi));
        hi = mid;
      } else {
        path.push(this.hashRange(lo, mid));
        lo = mid;
      }
    }
    return copyReversed(path);
  }

  /**
   * RFC 9162 section 2.1.4.1 PROOF(m, D[n]): proves that the tree of size `size1` is a prefix of
   * the tree of size `size2`. Empty when size1 is 0 or equals size2.
   */
  consistencyProof(size1: number, size2: number): Buffer[] {
    if (!isCount(size1) || !isCount(size2) || size1 > size2) throw new RangeError(`no consistency proof from size ${size1} to size ${size2}`);
    if (size1 === 0 || size1 === size2) return [];
    if (size1 < this.firstLeaf) throw new PurgedRangeError(`a tree of size ${size1} lies inside the purged prefix [0, ${this.firstLeaf})`);
    const proof: Buffer[] = [];
    let lo = 0;
    let hi = size2;
    let whole = true; // SUBPROOF's b: the current subtree is the whole old tree's root
    for (;;) {
      const width = hi - lo;
      const m = size1 - lo;
      if (m === width) {
        if (!whole) proof.push(this.hashRange(lo, hi));
        break;
      }
      const k = splitPoint(width);
      if (m <= k) {
        proof.push(this.hashRange(lo + k, hi));
        hi = lo + k;
      } else {
        proof.push(this.hashRange(lo, lo + k));
        lo += k;
        whole = false;
      }
    }
    return copyReversed(proof);
  }

  private hashRange(start: number, end: number): Buffer {
    if (start >= this.firstLeaf) return this.retainedRange(start, end);
    if (end <= this.firstLeaf) return this.prefixRange(start, end);
    // Straddles the purge point: split as RFC 9162 does; each side is one of the other cases.
    const mid = start + splitPoint(end - start);
    return nodeHash(this.hashRange(start, mid), this.hashRange(mid, end));
  }

  /**
   * A range inside the purged prefix: it must be one frontier subtree, or (for the head of the
   * tree of size firstLeaf and the straddling splits) a run of frontier subtrees ending there.
   */
  private prefixRange(start: number, end: number): Buffer {
    const i = this.prefixStarts.indexOf(start);
    if (i >= 0) {
      if (this.prefixEnds[i] === end) return this.prefixHashes[i];
      if (end === this.firstLeaf) return foldRight(this.prefixHashes, i, this.prefixHashes.length);
    }
    throw new PurgedRangeError(`leaves [${start}, ${end}) lie inside the purged prefix [0, ${this.firstLeaf})`);
  }

  /** A range of retained leaves, split top-down; perfect aligned subtrees are memoized. */
  private retainedRange(start: number, end: number): Buffer {
    const width = end - start;
    if (width === 1) return this.readLeaf(start);
    if (this.subtreeSource && start % width === 0 && isPowerOfTwo(width)) {
      const known = this.subtreeSource(start, width);
      if (known !== undefined) {
        checkHash(known, 'precomputed subtree hash');
        return toBuffer(known);
      }
    }
    const perfect = width >= this.cacheMinWidth && isPowerOfTwo(width) && start % width === 0;
    if (perfect) {
      const hit = this.cache.get(nodeKey(start, width));
      if (hit) return hit;
    }
    const mid = start + splitPoint(width);
    const h = nodeHash(this.retainedRange(start, mid), this.retainedRange(mid, end));
    if (perfect && this.cache.size < this.maxCachedNodes) this.cache.set(nodeKey(start, width), h);
    return h;
  }
}

/**
 * Audit path for leaf `leafIndex` in the tree of size `treeSize`. With `prefix`, the leaves
 * [0, prefix.size) were purged and only their frontier is kept (see {@link LeafHashSource} for
 * how an array is indexed then).
 */
export function inclusionProof(leafIndex: number, treeSize: number, leaves: LeafHashSource, prefix?: Frontier | null): Buffer[] {
  return new MerkleProver(leaves, prefix, { maxCachedNodes: 0 }).inclusionProof(leafIndex, treeSize);
}

/** Consistency proof from the tree of size `size1` to the tree of size `size2` (see {@link inclusionProof}). */
export function consistencyProof(size1: number, size2: number, leaves: LeafHashSource, prefix?: Frontier | null): Buffer[] {
  return new MerkleProver(leaves, prefix, { maxCachedNodes: 0 }).consistencyProof(size1, size2);
}

// ---------------------------------------------------------------------------------------------
// Proof verification

/**
 * RFC 9162 section 2.1.3.2: the root an audit path leads to from the leaf hash `leaf` at `leafIndex` in a
 * tree of size `treeSize`, or null when the path cannot be one (wrong length, bad element size).
 */
export function rootFromInclusionProof(leafIndex: number, treeSize: number, leaf: Uint8Array, auditPath: readonly Uint8Array[]): Buffer | null {
  if (!isCount(leafIndex) || !isCount(treeSize) || leafIndex >= treeSize) return null;
  if (!(leaf instanceof Uint8Array) || leaf.length !== HASH_BYTES) return null;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r: Uint8Array = leaf;
  for (let i = 0; i < auditPath.length; i++) {
    const p = auditPath[i];
    if (sn === 0 || !(p instanceof Uint8Array) || p.length !== HASH_BYTES) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // On the right edge of the tree: skip the levels where this node has no sibling.
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return null;
  return Buffer.from(r);
}

/** RFC 9162 section 2.1.3.2: does the audit path prove the leaf hash `leaf` at `leafIndex` under `rootHash`? */
export function verifyInclusion(leafIndex: number, treeSize: number, leaf: Uint8Array, auditPath: readonly Uint8Array[], rootHash: Uint8Array): boolean {
  const r = rootFromInclusionProof(leafIndex, treeSize, leaf, auditPath);
  return r !== null && rootHash instanceof Uint8Array && bytesEqual(r, rootHash);
}

/**
 * RFC 9162 section 2.1.4.2: does `proof` show that the tree of size `size1` with head `root1` is a
 * prefix of the tree of size `size2` with head `root2`? Equal sizes need equal roots and an empty
 * proof; size1 = 0 needs root1 to be the empty-tree hash and an empty proof.
 */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!isCount(size1) || !isCount(size2) || size1 > size2) return false;
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array) || root1.length !== HASH_BYTES || root2.length !== HASH_BYTES) return false;
  if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
  if (size1 === 0) return proof.length === 0 && bytesEqual(root1, EMPTY_TREE_ROOT);
  if (proof.length === 0) return false;
  for (let i = 0; i < proof.length; i++) {
    const c = proof[i];
    if (!(c instanceof Uint8Array) || c.length !== HASH_BYTES) return false;
  }
  // When size1 is a power of two the old root is a node of the new tree and heads the path.
  const seeded = isPowerOfTwo(size1);
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr: Uint8Array = seeded ? root1 : proof[0];
  let sr: Uint8Array = fr;
  for (let i = seeded ? 0 : 1; i < proof.length; i++) {
    const c = proof[i];
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
}
