/**
 * The Bloom filter of a closed hot-store partition's event ids (docs/hot-store-partitioning.md):
 * the idempotency check tests a new id against each closed week's filter and probes only the weeks
 * whose filter answers "maybe", so appends never read the old weeks' id indexes. No false
 * negatives (an id that was added always answers true); false positives at about 1 % with 10 bits
 * an id (k = 7 positions by double hashing over two 32-bit hashes of the id). Serialized as a header
 * (magic, bit count, k) and the bit array, for `partition_id_filters`.
 */
const MAGIC = 0x69644632; // "idF2": positions from hashId below (idF1 filters hashed with SHA-256 are rebuilt)
const HEADER_BYTES = 12;

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

export class PartitionIdFilter {
  private constructor(
    private readonly bits: Uint8Array,
    /** Number of bits: a power of two, so `& (m - 1)` replaces the modulo. */
    private readonly m: number,
    private readonly k: number,
  ) {}

  /** An empty filter sized for `expectedIds` at `bitsPerId` (10: ~1 % false positives). */
  static forIds(expectedIds: number, bitsPerId = 10): PartitionIdFilter {
    const wanted = Math.max(64, Math.ceil(Math.max(1, expectedIds) * bitsPerId));
    // At most 2^31 bits (256 MiB, ~200 million ids at 10 bits): positions stay non-negative int32.
    const m = 2 ** Math.min(31, Math.ceil(Math.log2(wanted)));
    const k = Math.max(1, Math.round((m / Math.max(1, expectedIds)) * Math.LN2));
    return new PartitionIdFilter(new Uint8Array(m / 8), m, Math.min(k, 16));
  }

  static fromBuffer(buf: Buffer): PartitionIdFilter {
    if (buf.length < HEADER_BYTES || buf.readUInt32LE(0) !== MAGIC) throw new Error('not a partition id filter');
    const m = buf.readUInt32LE(4);
    const k = buf.readUInt32LE(8);
    if (m < 64 || m > 2 ** 31 || (m & (m - 1)) !== 0 || k < 1 || k > 16 || buf.length !== HEADER_BYTES + m / 8) throw new Error('partition id filter header does not match its size');
    return new PartitionIdFilter(new Uint8Array(buf.subarray(HEADER_BYTES)), m, k);
  }

  toBuffer(): Buffer {
    const out = Buffer.alloc(HEADER_BYTES + this.bits.length);
    out.writeUInt32LE(MAGIC, 0);
    out.writeUInt32LE(this.m, 4);
    out.writeUInt32LE(this.k, 8);
    out.set(this.bits, HEADER_BYTES);
    return out;
  }

  add(h: IdHash): void {
    const mask = this.m - 1;
    for (let i = 0; i < this.k; i++) {
      const p = (h.h1 + Math.imul(i, h.h2)) & mask;
      this.bits[p >>> 3] |= 1 << (p & 7);
    }
  }

  /** False: the id is certainly not in the partition. True: it may be (probe the partition's index). */
  mightContain(h: IdHash): boolean {
    const mask = this.m - 1;
    for (let i = 0; i < this.k; i++) {
      const p = (h.h1 + Math.imul(i, h.h2)) & mask;
      if ((this.bits[p >>> 3] & (1 << (p & 7))) === 0) return false;
    }
    return true;
  }

  /**
   * The same filter at the size `forIds(ids)` would choose (or the nearest larger), by folding the
   * bit array in halves: with m a power of two, position p of m is position p & (m/2 - 1) of m/2,
   * so the folded filter answers for every added id exactly as if it had been built at that size
   * with the same k (no false negatives). A filter sized for the row cap shrinks to its week's ids.
   */
  foldTo(ids: number, bitsPerId = 10): PartitionIdFilter {
    const wanted = Math.max(64, Math.ceil(Math.max(1, ids) * bitsPerId));
    let bits = this.bits;
    let m = this.m;
    while (m / 2 >= wanted && m > 64) {
      const half = new Uint8Array(bits.length / 2);
      for (let i = 0; i < half.length; i++) half[i] = bits[i] | bits[i + half.length];
      bits = half;
      m /= 2;
    }
    return new PartitionIdFilter(bits, m, this.k);
  }

  /** Bytes of memory the bit array takes. */
  get byteLength(): number {
    return this.bits.length;
  }
}
