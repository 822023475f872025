/**
 * The Bloom filter of a closed hot-store partition's event ids (docs/hot-store-partitioning.md):
 * the idempotency check tests a new id against each closed partition's filter and probes only the
 * partitions whose filter answers "maybe", so appends do not read the old partitions' id indexes.
 * No false negatives (an id that was added always answers true).
 *
 * Layout written (idF3): a blocked Bloom filter. The id's first hash picks one 512-bit block (one
 * 64-byte cache line) and its second sets k = 8 bits inside that block, at 16 bits an id: about
 * 0.1 % false positives, and a test reads one cache line instead of up to k scattered ones (with
 * dozens of closed partitions a new id is tested against each, so the memory reads are the cost).
 * Layout read too (idF2, written by earlier builds): the classic filter, k positions over the whole
 * bit array by double hashing, 10 bits an id, ~1 % false positives. Serialized as a header (magic,
 * bit count, k) and the bit array, for `event_partition_filters`.
 */
const MAGIC_BLOCKED = 0x69644633; // "idF3": blocked, positions from hashId below
const MAGIC_CLASSIC = 0x69644632; // "idF2": classic, positions from hashId below (idF1 filters hashed with SHA-256 are rebuilt)
const HEADER_BYTES = 12;
/** Bits of a block of the blocked layout (a cache line), and words of 32 bits in it. */
const BLOCK_BITS = 512;
const BLOCK_WORDS = BLOCK_BITS / 32;
/** Bits set per id inside its block, and bits an id the blocked layout is sized for. */
const BLOCKED_K = 8;
export const BLOCKED_BITS_PER_ID = 16;
/** The two 32-bit hashes every filter derives its positions from (one pass over the id, shared by all filters). */
export interface IdHash {
  h1: number;
  h2: number;
}

/** MurmurHash3's 32-bit finalizer: every input bit moves every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Two independent 32-bit hashes of the id's UTF-16 code units (FNV-1a and a multiply-rotate
 * mix, each finalized): a filter needs well-spread positions, not a cryptographic hash, and
 * SHA-256 through node:crypto cost ~10 µs an id under load against well under 1 µs here. Ids an
 * attacker crafts to collide only cost probes of the partition's index (the answer stays exact).
 */
export function hashId(id: string): IdHash {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0xcc9e2d51);
    b = (b << 15) | (b >>> 17);
    b = Math.imul(b, 0x1b873593);
  }
  // h2 odd: the k positions h1 + i*h2 (mod m) are then distinct whenever m is a power of two.
  return { h1: fmix32(a), h2: fmix32(b) | 1 };
}

type Layout = 'blocked' | 'classic';

export class PartitionIdFilter {
  private constructor(
    /** The bit array as 32-bit words (little-endian on disk, as the bytes of the array). */
    private readonly words: Uint32Array,
    /** Number of bits: a power of two, so `& (m - 1)` replaces the modulo. */
    private readonly m: number,
    private readonly k: number,
    private readonly layout: Layout,
  ) {}

  /** An empty (blocked) filter sized for `expectedIds` at 16 bits an id, the bit count a power of two. */
  static forIds(expectedIds: number): PartitionIdFilter {
    return new PartitionIdFilter(new Uint32Array(blockedBits(expectedIds) / 32), blockedBits(expectedIds), BLOCKED_K, 'blocked');
  }

  /** A blocked filter over `words` (its bit array, a power-of-two number of 512-bit blocks). */
  static blockedFromWords(words: Uint32Array): PartitionIdFilter {
    return new PartitionIdFilter(words, words.length * 32, BLOCKED_K, 'blocked');
  }

  /** An empty filter of the classic layout (10 bits an id), as builds before idF3 wrote them. */
  static classicForIds(expectedIds: number, bitsPerId = 10): PartitionIdFilter {
    const wanted = Math.max(64, Math.ceil(Math.max(1, expectedIds) * bitsPerId));
    // At most 2^31 bits (256 MiB, ~200 million ids at 10 bits): positions stay non-negative int32.
    const m = 2 ** Math.min(31, Math.ceil(Math.log2(wanted)));
    const k = Math.max(1, Math.round((m / Math.max(1, expectedIds)) * Math.LN2));
    return new PartitionIdFilter(new Uint32Array(Math.max(2, m / 32)), m, Math.min(k, 16), 'classic');
  }

  static fromBuffer(buf: Buffer): PartitionIdFilter {
    const magic = buf.length < HEADER_BYTES ? 0 : buf.readUInt32LE(0);
    if (magic !== MAGIC_BLOCKED && magic !== MAGIC_CLASSIC) throw new Error('not a partition id filter');
    const m = buf.readUInt32LE(4);
    const k = buf.readUInt32LE(8);
    const minBits = magic === MAGIC_BLOCKED ? BLOCK_BITS : 64;
    if (m < minBits || m > 2 ** 31 || (m & (m - 1)) !== 0 || k < 1 || k > 16 || buf.length !== HEADER_BYTES + m / 8) throw new Error('partition id filter header does not match its size');
    // Copied into a fresh (aligned) array; a little-endian machine reads the words as written.
    const words = new Uint32Array(Math.max(2, m / 32));
    new Uint8Array(words.buffer).set(buf.subarray(HEADER_BYTES));
    return new PartitionIdFilter(words, m, k, magic === MAGIC_BLOCKED ? 'blocked' : 'classic');
  }

  toBuffer(): Buffer {
    const out = Buffer.alloc(HEADER_BYTES + this.m / 8);
    out.writeUInt32LE(this.layout === 'blocked' ? MAGIC_BLOCKED : MAGIC_CLASSIC, 0);
    out.writeUInt32LE(this.m, 4);
    out.writeUInt32LE(this.k, 8);
    out.set(new Uint8Array(this.words.buffer, 0, this.m / 8), HEADER_BYTES);
    return out;
  }

  add(h: IdHash): void {
    const words = this.words;
    if (this.layout === 'classic') {
      const mask = this.m - 1;
      for (let i = 0; i < this.k; i++) {
        const p = (h.h1 + Math.imul(i, h.h2)) & mask;
        words[p >>> 5] |= 1 << (p & 31);
      }
      return;
    }
    const base = (h.h1 & (this.m / BLOCK_BITS - 1)) * BLOCK_WORDS;
    // Positions inside the block by enhanced double hashing over bits of h2 (h1 chose the block).
    let a = (h.h2 >>> 1) & 511;
    let b = ((h.h2 >>> 10) & 511) | 1;
    const c = (h.h2 >>> 19) & 511;
    for (let i = 0; i < this.k; i++) {
      words[base + (a >>> 5)] |= 1 << (a & 31);
      a = (a + b) & 511;
      b = (b + c) & 511;
    }
  }

  /** False: the id is certainly not in the partition. True: it may be (probe the partition's index). */
  mightContain(h: IdHash): boolean {
    const words = this.words;
    if (this.layout === 'classic') {
      const mask = this.m - 1;
      for (let i = 0; i < this.k; i++) {
        const p = (h.h1 + Math.imul(i, h.h2)) & mask;
        if ((words[p >>> 5] & (1 << (p & 31))) === 0) return false;
      }
      return true;
    }
    const base = (h.h1 & (this.m / BLOCK_BITS - 1)) * BLOCK_WORDS;
    let a = (h.h2 >>> 1) & 511;
    let b = ((h.h2 >>> 10) & 511) | 1;
    const c = (h.h2 >>> 19) & 511;
    for (let i = 0; i < this.k; i++) {
      if ((words[base + (a >>> 5)] & (1 << (a & 31))) === 0) return false;
      a = (a + b) & 511;
      b = (b + c) & 511;
    }
    return true;
  }

  /**
   * The same filter at the size `forIds(ids)` would choose (or the nearest larger), by folding the
   * bit array in halves: with m a power of two, position p of m is position p & (m/2 - 1) of m/2
   * (block b of the blocked layout is block b & (blocks/2 - 1)), so the folded filter answers for
   * every added id exactly as if it had been built at that size with the same k (no false
   * negatives). A filter sized for the row cap shrinks to its partition's ids.
   */
  foldTo(ids: number): PartitionIdFilter {
    const wanted = this.layout === 'blocked' ? blockedBits(ids) : Math.max(64, Math.ceil(Math.max(1, ids) * 10));
    let words = this.words;
    let m = this.m;
    const min = this.layout === 'blocked' ? BLOCK_BITS : 64;
    while (m / 2 >= wanted && m / 2 >= min) {
      const half = new Uint32Array(Math.max(2, m / 64));
      for (let i = 0; i < m / 64; i++) half[i] = words[i] | words[i + m / 64];
      words = half;
      m /= 2;
    }
    return new PartitionIdFilter(words, m, this.k, this.layout);
  }

  /** Bytes of memory the bit array takes. */
  get byteLength(): number {
    return this.m / 8;
  }

  /** Whether the filter has the blocked layout (PartitionFilterSet takes only those). */
  get isBlocked(): boolean {
    return this.layout === 'blocked';
  }

  /** Blocks of 512 bits (blocked layout). */
  get blockCount(): number {
    return this.m / BLOCK_BITS;
  }

  /** The bit array (read by PartitionFilterSet). */
  get wordArray(): Uint32Array {
    return this.words;
  }
}

/** Bits of a blocked filter for `ids` ids: 16 an id rounded up to a power of two, one block at least, 2^31 at most. */
function blockedBits(ids: number): number {
  const wanted = Math.max(BLOCK_BITS, Math.ceil(Math.max(1, ids) * BLOCKED_BITS_PER_ID));
  return 2 ** Math.min(31, Math.ceil(Math.log2(wanted)));
}

/**
 * The blocked filters of many closed partitions in one array, block-interleaved: block b of every
 * partition side by side (partition order), so testing an id against all of them reads one run of
 * consecutive cache lines instead of one line in each partition's own array (with dozens of closed
 * partitions, those scattered reads were the cost of the idempotency check). The id's bit pattern
 * inside a block depends only on its second hash, so it is computed once and compared with each
 * partition's block. A partition whose filter has fewer blocks than the largest is stored unfolded
 * (its blocks repeated: block b of the larger size is block b & (blocks - 1) of its own), which
 * answers exactly as its own filter: no false negative, the same false positives.
 */
export class PartitionFilterSet {
  private constructor(
    /** The partitions in the order of their blocks inside each run. */
    readonly partitions: readonly number[],
    private readonly words: Uint32Array,
    private readonly blocks: number,
    /** Each partition's own block count (its filter, before unfolding). */
    private readonly ownBlocks: readonly number[],
  ) {}

  static empty(): PartitionFilterSet {
    return new PartitionFilterSet([], new Uint32Array(0), 1, []);
  }

  /** The set of `filters` (blocked layout only; the caller tests classic ones on their own). */
  static of(filters: readonly { n: number; filter: PartitionIdFilter }[]): PartitionFilterSet {
    const blocked = filters.filter((f) => f.filter.isBlocked);
    const blocks = blocked.reduce((max, f) => Math.max(max, f.filter.blockCount), 1);
    const count = blocked.length;
    const words = new Uint32Array(blocks * count * BLOCK_WORDS);
    blocked.forEach(({ filter }, p) => {
      const own = filter.blockCount;
      const src = filter.wordArray;
      for (let b = 0; b < blocks; b++) {
        const from = (b & (own - 1)) * BLOCK_WORDS;
        words.set(src.subarray(from, from + BLOCK_WORDS), (b * count + p) * BLOCK_WORDS);
      }
    });
    return new PartitionFilterSet(
      blocked.map((f) => f.n),
      words,
      blocks,
      blocked.map((f) => f.filter.blockCount),
    );
  }

  /** Partition n's own filter, as it was added (its blocks read back out of the runs). */
  filterOf(n: number): PartitionIdFilter | null {
    const p = this.partitions.indexOf(n);
    if (p < 0) return null;
    const count = this.partitions.length;
    const own = new Uint32Array(this.ownBlocks[p] * BLOCK_WORDS);
    for (let b = 0; b < this.ownBlocks[p]; b++) {
      const from = (b * count + p) * BLOCK_WORDS;
      own.set(this.words.subarray(from, from + BLOCK_WORDS), b * BLOCK_WORDS);
    }
    return PartitionIdFilter.blockedFromWords(own);
  }

  /** Appends to `out` the partitions whose filter answers "maybe" for the id (exact for each filter). */
  maybe(h: IdHash, out: number[]): void {
    const count = this.partitions.length;
    if (count === 0) return;
    // The id's k bits inside a block, as (word, mask) pairs (same positions as PartitionIdFilter.add).
    let a = (h.h2 >>> 1) & 511;
    let b = ((h.h2 >>> 10) & 511) | 1;
    const c = (h.h2 >>> 19) & 511;
    const w = SCRATCH_WORDS;
    const m = SCRATCH_MASKS;
    for (let i = 0; i < BLOCKED_K; i++) {
      w[i] = a >>> 5;
      m[i] = 1 << (a & 31);
      a = (a + b) & 511;
      b = (b + c) & 511;
    }
    const words = this.words;
    let base = (h.h1 & (this.blocks - 1)) * count * BLOCK_WORDS;
    for (let p = 0; p < count; p++, base += BLOCK_WORDS) {
      let i = 0;
      while (i < BLOCKED_K && (words[base + w[i]] & m[i]) !== 0) i++;
      if (i === BLOCKED_K) out.push(this.partitions[p]);
    }
  }

  /** Bytes of memory the interleaved array takes. */
  get byteLength(): number {
    return this.words.byteLength;
  }
}
const SCRATCH_WORDS = new Int32Array(BLOCKED_K);
const SCRATCH_MASKS = new Int32Array(BLOCKED_K);
