/**
 * The partition id filter: every added id answers "maybe" (no false negatives, or a repeated id
 * would be stored twice), other ids answer "no" at about the designed rate (blocked layout, 16
 * bits an id: ~0.1 %), a filter read back from its bytes answers exactly as before, a filter of the
 * previous (classic) layout is still read, and the interleaved set of many partitions' filters
 * answers for each partition exactly as that partition's filter does.
 */
import { randomUUID } from 'node:crypto';
import { PartitionFilterSet, PartitionIdFilter, hashId } from './partition-id-filter';

describe('PartitionIdFilter', () => {
  const stored = Array.from({ length: 50_000 }, () => randomUUID());
  const others = Array.from({ length: 50_000 }, () => randomUUID());

  it('answers maybe for every stored id and no for over 99.5 % of the others (16 bits an id, blocked)', () => {
    const f = PartitionIdFilter.forIds(stored.length);
    for (const id of stored) f.add(hashId(id));
    expect(stored.every((id) => f.mightContain(hashId(id)))).toBe(true);
    const falsePositives = others.filter((id) => f.mightContain(hashId(id))).length;
    expect(falsePositives / others.length).toBeLessThan(0.005);
    // 16 bits an id, rounded up to a power of two.
    expect(f.byteLength).toBeLessThanOrEqual((stored.length * 16 * 2) / 8);
  });

  it('reads back from its bytes with the same answers, and refuses bytes that are not a filter', () => {
    const f = PartitionIdFilter.forIds(1000);
    for (const id of stored.slice(0, 1000)) f.add(hashId(id));
    const g = PartitionIdFilter.fromBuffer(f.toBuffer());
    for (const id of [...stored.slice(0, 1000), ...others.slice(0, 5000)]) expect(g.mightContain(hashId(id))).toBe(f.mightContain(hashId(id)));
    expect(() => PartitionIdFilter.fromBuffer(Buffer.from('not a filter at all'))).toThrow(/not a partition id filter/);
    expect(() => PartitionIdFilter.fromBuffer(f.toBuffer().subarray(0, 100))).toThrow(/does not match its size/);
  });

  it('keeps the rate for ids that differ in a few characters only (sequential ids)', () => {
    const f = PartitionIdFilter.forIds(50_000);
    for (let i = 0; i < 50_000; i++) f.add(hashId(`evt-${String(i).padStart(8, '0')}`));
    for (let i = 0; i < 50_000; i++) expect(f.mightContain(hashId(`evt-${String(i).padStart(8, '0')}`))).toBe(true);
    let falsePositives = 0;
    for (let i = 50_000; i < 100_000; i++) if (f.mightContain(hashId(`evt-${String(i).padStart(8, '0')}`))) falsePositives++;
    expect(falsePositives / 50_000).toBeLessThan(0.005);
  });

  it('folded to the ids it holds, answers maybe for each of them and keeps about the designed rate', () => {
    const big = PartitionIdFilter.forIds(2_000_000);
    for (const id of stored) big.add(hashId(id));
    const f = big.foldTo(stored.length);
    expect(f.byteLength).toBeLessThanOrEqual((stored.length * 16 * 2) / 8);
    expect(f.byteLength).toBeLessThan(big.byteLength);
    expect(stored.every((id) => f.mightContain(hashId(id)))).toBe(true);
    expect(others.filter((id) => f.mightContain(hashId(id))).length / others.length).toBeLessThan(0.005);
    const g = PartitionIdFilter.fromBuffer(f.toBuffer());
    expect(stored.every((id) => g.mightContain(hashId(id)))).toBe(true);
  });

  it('an empty filter says no to everything', () => {
    const f = PartitionIdFilter.forIds(0);
    expect(others.slice(0, 1000).some((id) => f.mightContain(hashId(id)))).toBe(false);
  });

  it('reads a filter of the classic layout the previous build wrote (idF2), with its answers', () => {
    // The previous build's writer: k positions h1 + i*h2 over the whole bit array, 10 bits an id.
    const ids = stored.slice(0, 5000);
    const m = 2 ** Math.ceil(Math.log2(ids.length * 10));
    const k = Math.round((m / ids.length) * Math.LN2);
    const bits = new Uint8Array(m / 8);
    const positions = (id: string) => Array.from({ length: k }, (_, i) => (hashId(id).h1 + Math.imul(i, hashId(id).h2)) & (m - 1));
    for (const id of ids) for (const p of positions(id)) bits[p >>> 3] |= 1 << (p & 7);
    const header = Buffer.alloc(12);
    header.writeUInt32LE(0x69644632, 0);
    header.writeUInt32LE(m, 4);
    header.writeUInt32LE(k, 8);
    const f = PartitionIdFilter.fromBuffer(Buffer.concat([header, bits]));
    expect(f.isBlocked).toBe(false);
    expect(ids.every((id) => f.mightContain(hashId(id)))).toBe(true);
    for (const id of others.slice(0, 5000)) expect(f.mightContain(hashId(id))).toBe(positions(id).every((p) => (bits[p >>> 3] & (1 << (p & 7))) !== 0));
    expect(PartitionIdFilter.fromBuffer(f.toBuffer()).toBuffer().equals(Buffer.concat([header, bits]))).toBe(true);
  });

  it('a set of partitions of different sizes answers for each exactly as its own filter, and gives each filter back', () => {
    // Partition 3 folded to 20,000 ids, 7 to 2,000, 9 never folded (sized for the row cap).
    const sizes: [number, number, number][] = [
      [3, 20_000, 20_000],
      [7, 2_000, 2_000],
      [9, 5_000, 200_000],
    ];
    let next = 0;
    const parts = sizes.map(([n, count, cap]) => {
      const ids = stored.slice(next, (next += count));
      const f = PartitionIdFilter.forIds(cap);
      for (const id of ids) f.add(hashId(id));
      return { n, ids, filter: cap === count ? f : f.foldTo(count) };
    });
    parts[2].filter = PartitionIdFilter.fromBuffer(parts[2].filter.toBuffer());
    const set = PartitionFilterSet.of(parts);
    expect(set.partitions).toEqual([3, 7, 9]);
    const maybe = (id: string) => {
      const out: number[] = [];
      set.maybe(hashId(id), out);
      return out;
    };
    // No false negative: every stored id names its partition.
    for (const p of parts) expect(p.ids.every((id) => maybe(id).includes(p.n))).toBe(true);
    // Exactly the partitions whose own filter says maybe, for stored and new ids alike.
    const differ = [...stored.slice(0, 30_000), ...others].filter((id) => maybe(id).join() !== parts.filter((p) => p.filter.mightContain(hashId(id))).map((p) => p.n).join());
    expect(differ).toEqual([]);
    expect(others.filter((id) => maybe(id).length > 0).length / others.length).toBeLessThan(0.01);
    for (const p of parts) expect(set.filterOf(p.n)!.toBuffer().equals(p.filter.toBuffer())).toBe(true);
    expect(set.filterOf(4)).toBeNull();
    expect(maybe(stored[0])).toEqual([3]);
    const empty = PartitionFilterSet.empty();
    const out: number[] = [];
    empty.maybe(hashId(stored[0]), out);
    expect(out).toEqual([]);
  });
});
