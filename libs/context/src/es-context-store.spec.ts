/**
 * The Elasticsearch ContextStore on the client's official test double (EsFake): its own index with
 * strict mappings, one bulk of `create`s per request, records sealed whole (no id, token or
 * department readable in any request), and a request that fails in part leaves nothing behind
 * (reading everything back in the order received, across pages, is the ContextStore contract:
 * test/contracts/context-store.contract.ts). Other instances' writes are read once
 * each (own writes and what was loaded never), late-visible ones inside the look-back included.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { EsFake } from '@app/storage/elasticsearch/es-fake';
import { ContextVersion } from './context-records';
import { CONTEXT_MAPPINGS, EsContextStore } from './es-context-store';

function sealer(): SealedText {
  const key = createSecretKey(randomBytes(32));
  return new SealedText({ current: () => ({ keyId: 'dk-1', key }), byId: (id) => (id === 'dk-1' ? key : undefined), lists: (id) => id === 'dk-1' });
}

const v = (i: number): ContextVersion => ({
  kind: i % 2 ? 'users' : 'patients',
  validFromMs: 1_700_000_000_000 + i,
  receivedAtMs: 1_700_000_000_000 + Math.floor(i / 3),
  record: i % 2 ? { id: `u-es-${i}`, status: 'active', department: 'oncology-secret' } : { id: `MRN-ES-${i}`, relatedPersons: [], vip: false, deceased: false },
});

describe('EsContextStore', () => {
  it('keeps versions in its own strict index, one bulk of creates per request, sealed', async () => {
    const fake = new EsFake();
    const store = new EsContextStore(fake.client(), { index: 'audit-context', sealer: sealer(), sleep: async () => undefined });
    const versions = Array.from({ length: 25 }, (_, i) => v(i));
    await store.append(versions.slice(0, 10));
    await store.append(versions.slice(10));
    expect(fake.requests[0]).toMatchObject({ method: 'PUT', path: '/audit-context', body: { settings: { number_of_shards: 1 }, mappings: CONTEXT_MAPPINGS } });
    expect(fake.bulks()).toHaveLength(2);
    expect(fake.bulks()[0]![0]!.action).toEqual({ create: { _index: 'audit-context', _id: expect.any(String) } });
    expect(JSON.stringify(fake.requests)).not.toMatch(/u-es-|MRN-ES-|oncology-secret/);
  });

  it('leaves nothing behind when part of a request is refused', async () => {
    const fake = new EsFake();
    const store = new EsContextStore(fake.client(), { index: 'audit-context', sealer: sealer(), sleep: async () => undefined });
    await store.append([v(0)]);
    let n = 0;
    fake.itemStatus = (action) => (action === 'create' && ++n === 2 ? 500 : undefined);
    await expect(store.append([v(1), v(2), v(3)])).rejects.toThrow(/none were kept/);
    fake.itemStatus = null;
    const read: ContextVersion[] = [];
    await store.scan((batch) => read.push(...batch));
    expect(read).toEqual([v(0)]);
  });

  it('reads what other instances stored since the load, each version once, never its own', async () => {
    const fake = new EsFake();
    const seal = sealer();
    let clock = 1_800_000_000_000;
    const now = () => clock;
    const a = new EsContextStore(fake.client(), { index: 'audit-context', sealer: seal, sleep: async () => undefined, lookbackMs: 30_000, now });
    const b = new EsContextStore(fake.client(), { index: 'audit-context', sealer: seal, sleep: async () => undefined, lookbackMs: 30_000, now });
    await b.append([v(0)]);
    const loaded: ContextVersion[] = [];
    await a.scan((batch) => loaded.push(...batch));
    expect(loaded).toEqual([v(0)]);
    expect(await a.othersSince()).toEqual([]); // loaded already

    clock += 1000;
    await b.append([v(1), v(2)]);
    await a.append([v(3)]);
    expect(await a.othersSince()).toEqual([v(1), v(2)]);
    expect(await a.othersSince()).toEqual([]);

    // A write stored 10 s before the newest seen (slow bulk, clock behind) that becomes visible only now.
    clock += 20_000;
    await b.append([v(4)]);
    expect(await a.othersSince()).toEqual([v(4)]);
    clock -= 10_000;
    await b.append([v(5)]);
    expect(await a.othersSince()).toEqual([v(5)]);
    // B reads A's write, and a fresh instance's first read after its load returns nothing twice.
    expect(await b.othersSince()).toEqual([v(3)]);
    const c = new EsContextStore(fake.client(), { index: 'audit-context', sealer: seal, sleep: async () => undefined, lookbackMs: 30_000, now });
    const all: ContextVersion[] = [];
    await c.scan((batch) => all.push(...batch));
    expect(all).toHaveLength(6);
    expect(await c.othersSince()).toEqual([]);
  });

  it('a writer whose clock runs ahead does not hide the others\' writes', async () => {
    const fake = new EsFake();
    const seal = sealer();
    const clock = 1_800_000_000_000;
    const store = (now: () => number) => new EsContextStore(fake.client(), { index: 'audit-context', sealer: seal, sleep: async () => undefined, lookbackMs: 30_000, now });
    const reader = store(() => clock);
    await reader.scan(() => undefined);
    await store(() => clock + 120_000).append([v(0)]); // two minutes ahead
    expect(await reader.othersSince()).toEqual([v(0)]);
    await store(() => clock).append([v(1)]);
    expect(await reader.othersSince()).toEqual([v(1)]);
    expect(await reader.othersSince()).toEqual([]);
  });

  it('applies another instance\'s request only once all its documents are visible, and never one undone', async () => {
    const fake = new EsFake();
    const seal = sealer();
    const a = new EsContextStore(fake.client(), { index: 'audit-context', sealer: seal, sleep: async () => undefined });
    const b = new EsContextStore(fake.client(), { index: 'audit-context', sealer: seal, sleep: async () => undefined });
    await a.scan(() => undefined);
    await b.append([v(0), v(1), v(2)]);
    // The bulk still landing: one document not visible yet.
    const docs = fake.indices.get('audit-context')!;
    const [lateId, late] = [...docs].find(([, d]) => (d.source as { ord: number }).ord === 2)!;
    docs.delete(lateId);
    expect(await a.othersSince()).toEqual([]);
    docs.set(lateId, late);
    expect(await a.othersSince()).toEqual([v(0), v(1), v(2)]);
    // A request refused in part: what landed is deleted again, and nothing of it is read.
    let n = 0;
    fake.itemStatus = (action) => (action === 'create' && ++n === 2 ? 500 : undefined);
    await expect(b.append([v(3), v(4), v(5)])).rejects.toThrow(/none were kept/);
    fake.itemStatus = null;
    expect(await a.othersSince()).toEqual([]);
  });

  it('adds the writer fields to an index an earlier build created', async () => {
    const fake = new EsFake();
    await fake.client().indices.create({ index: 'audit-context', mappings: { dynamic: 'strict', properties: { id: { type: 'keyword' } } } as never });
    const store = new EsContextStore(fake.client(), { index: 'audit-context', sealer: sealer(), sleep: async () => undefined });
    await store.init();
    expect(fake.requests.find((r) => r.path === '/audit-context/_mapping')).toMatchObject({ body: { properties: { writer: { type: 'keyword' }, stored_at: { type: 'long' }, count: { type: 'integer' } } } });
  });
});
