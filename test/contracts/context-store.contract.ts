/**
 * The ContextStore contract: what the context index relies on from any adapter (embedded SQLite,
 * Elasticsearch, the in-memory fake): every version appended is read back by a start-up scan, on
 * any instance, whole and in the order received, in batches; othersSince never hands a handle its
 * own versions. What only the scale-out store does (othersSince returning other instances' versions,
 * partial-bulk clean-up) and how records sit at rest stay in the adapters' specs.
 */
import { ContextStore, ContextVersion } from '@app/context';

export interface OpenedContextStore {
  store: ContextStore;
  /** Another handle on the same storage (another instance, or another connection), not yet initialized. */
  other(): ContextStore;
  close(): Promise<void>;
}

export const contextVersion = (i: number): ContextVersion => ({
  kind: i % 3 === 0 ? 'patients' : i % 3 === 1 ? 'users' : 'encounters',
  validFromMs: 1_700_000_000_000 + i,
  receivedAtMs: 1_700_000_000_000 + Math.floor(i / 3),
  record:
    i % 3 === 0
      ? { id: `MRN-C-${i}`, familyToken: `tok_family_${i}`, relatedPersons: [{ familyToken: `tok_rel_${i}` }], vip: i % 2 === 0, deceased: false }
      : i % 3 === 1
        ? { id: `u-c-${i}`, status: 'active', department: 'oncology', givenToken: `tok_given_${i}` }
        : { id: `enc-${i}`, patientId: `MRN-C-${i - 2}`, department: 'er', participants: [`u-c-${i - 1}`], startMs: 1_700_000_000_000 + i, endMs: 1_700_000_100_000 },
});

async function scanAll(store: ContextStore, batchSize?: number): Promise<{ batches: number[]; versions: ContextVersion[] }> {
  const batches: number[] = [];
  const versions: ContextVersion[] = [];
  await store.scan((batch) => {
    batches.push(batch.length);
    versions.push(...batch);
  }, batchSize);
  return { batches, versions };
}

export function describeContextStoreContract(name: string, open: () => Promise<OpenedContextStore>): void {
  describe(`ContextStore contract: ${name}`, () => {
    let opened: OpenedContextStore;
    let store: ContextStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
      await store.init();
    });
    afterEach(() => opened.close());

    it("othersSince never hands a handle back the versions it stored itself", async () => {
      await scanAll(store);
      await store.append([contextVersion(0), contextVersion(1)]);
      expect(await store.othersSince()).toEqual([]);
    });

    it('an empty store scans nothing; init may be called again', async () => {
      await store.init();
      expect((await scanAll(store)).versions).toEqual([]);
    });

    it('reads back every version appended, whole and in the order received, on any instance', async () => {
      const versions = Array.from({ length: 12 }, (_, i) => contextVersion(i));
      await store.append(versions.slice(0, 5));
      await store.append(versions.slice(5, 6));
      await store.append(versions.slice(6));
      expect((await scanAll(store)).versions).toEqual(versions);
      const other = opened.other();
      await other.init();
      expect((await scanAll(other)).versions).toEqual(versions);
      await other.append([contextVersion(12)]);
      expect((await scanAll(store)).versions).toEqual([...versions, contextVersion(12)]);
    });

    it('scans in batches of at most the size asked', async () => {
      const versions = Array.from({ length: 25 }, (_, i) => contextVersion(i));
      await store.append(versions.slice(0, 10));
      await store.append(versions.slice(10));
      const { batches, versions: read } = await scanAll(store, 7);
      expect(read).toEqual(versions);
      expect(Math.max(...batches)).toBeLessThanOrEqual(7);
      expect(batches.length).toBeGreaterThanOrEqual(4);
    });

    it('appending nothing stores nothing', async () => {
      await store.append([]);
      expect((await scanAll(store)).versions).toEqual([]);
    });
  });
}
