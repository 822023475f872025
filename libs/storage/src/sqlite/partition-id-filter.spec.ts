/**
 * The partition id filter: every added id answers "maybe" (no false negatives, or a repeated id
 * would be stored twice), other ids answer "no" at about the designed rate, and a filter read back
 * from its bytes answers exactly as before.
 */
import { randomUUID } from 'node:crypto';
import { PartitionIdFilter, hashId } from './partition-id-filter';

describe('PartitionIdFilter', () => {
  const stored = Array.from({ length: 50_000 }, () => randomUUID());
  const others = Array.from({ length: 50_000 }, () => randomUUID());

  it('answers maybe for every stored id and no for about 99 % of the others (10 bits an id)', () => {
    const f = PartitionIdFilter.forIds(stored.length);
    for (const id of stored) f.add(hashId(id));
    expect(stored.every((id) => f.mightContain(hashId(id)))).toBe(true);
    const falsePositives = others.filter((id) => f.mightContain(hashId(id))).length;
    expect(falsePositives / others.length).toBeLessThan(0.02);
    expect(f.byteLength).toBeLessThanOrEqual((stored.length * 10 * 2) / 8);
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
    expect(falsePositives / 50_000).toBeLessThan(0.02);
  });

  it('folded to the ids it holds, answers maybe for each of them and keeps about the designed rate', () => {
    const big = PartitionIdFilter.forIds(2_000_000);
    for (const id of stored) big.add(hashId(id));
    const f = big.foldTo(stored.length);
    expect(f.byteLength).toBeLessThanOrEqual((stored.length * 10 * 2) / 8);
    expect(f.byteLength).toBeLessThan(big.byteLength);
    expect(stored.every((id) => f.mightContain(hashId(id)))).toBe(true);
    expect(others.filter((id) => f.mightContain(hashId(id))).length / others.length).toBeLessThan(0.02);
    const g = PartitionIdFilter.fromBuffer(f.toBuffer());
    expect(stored.every((id) => g.mightContain(hashId(id)))).toBe(true);
  });

  it('an empty filter says no to everything', () => {
    const f = PartitionIdFilter.forIds(0);
    expect(others.slice(0, 1000).some((id) => f.mightContain(hashId(id)))).toBe(false);
  });
});
