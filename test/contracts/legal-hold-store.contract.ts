/**
 * The LegalHoldStore contract: what the legal-hold service and the retention run rely on from any
 * adapter (embedded SQLite, Elasticsearch, the in-memory fake): holds kept whole, listed newest
 * first and by status, an id taken once, released once (also when two instances race). The
 * chain-range `coverage` question is the embedded runner's: the Elasticsearch store refuses it
 * (holds apply per backing index there), so it is tested with the SQLite adapter, not here.
 */
import { randomUUID } from 'node:crypto';
import { HoldRelease, LegalHold, LegalHoldAlreadyReleasedError, LegalHoldNotFoundError, LegalHoldStore } from '@app/retention';

export interface OpenedLegalHoldStore {
  store: LegalHoldStore;
  /** Another handle on the same storage (another instance, or another connection). */
  other(): LegalHoldStore;
  close(): Promise<void>;
}

export function legalHold(overrides: Partial<LegalHold> = {}): LegalHold {
  return {
    id: randomUUID(),
    status: 'active',
    patient: 'MRN-HELD-1',
    actor: null,
    from: '2024-01-01T00:00:00.000Z',
    to: null,
    reason: 'Subpoena 24-117',
    caseId: 'CASE-117',
    createdBy: 'u-officer',
    createdByRole: 'compliance_officer',
    createdAt: '2026-04-01T12:00:00.000Z',
    releasedAt: null,
    releasedBy: null,
    releasedByRole: null,
    releaseNote: null,
    ...overrides,
  };
}

const release: HoldRelease = { releasedAt: '2026-05-01T00:00:00.000Z', releasedBy: 'u-officer', releasedByRole: 'compliance_officer', releaseNote: 'Case closed' };

export function describeLegalHoldStoreContract(name: string, open: () => Promise<OpenedLegalHoldStore>): void {
  describe(`LegalHoldStore contract: ${name}`, () => {
    let opened: OpenedLegalHoldStore;
    let store: LegalHoldStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('an empty store has no hold', async () => {
      expect(await store.list()).toEqual([]);
      expect(await store.list('active')).toEqual([]);
      expect(await store.get(randomUUID())).toBeNull();
    });

    it('keeps a hold exactly as placed (every criterion, open or not), and shares it with every instance', async () => {
      const full = legalHold({ actor: 'dr-x', to: '2025-01-01T00:00:00.000Z' });
      const open = legalHold({ patient: null, from: null, actor: 'dr-y', createdAt: '2026-04-02T00:00:00.000Z' });
      await store.create(full);
      await store.create(open);
      expect(await store.get(full.id)).toEqual(full);
      expect(await opened.other().get(open.id)).toEqual(open);
      expect(await store.get(randomUUID())).toBeNull();
    });

    it('lists holds newest first, all or by status', async () => {
      const older = legalHold({ createdAt: '2026-04-01T00:00:00.000Z', patient: null, actor: 'dr-x' });
      const newer = legalHold({ createdAt: '2026-04-02T00:00:00.000Z' });
      const newest = legalHold({ createdAt: '2026-04-03T00:00:00.000Z' });
      await store.create(older);
      await store.create(newest);
      await store.create(newer);
      expect(await store.list()).toEqual([newest, newer, older]);
      await store.release(newer.id, release);
      expect(await opened.other().list('active')).toEqual([newest, older]);
      expect((await store.list('released')).map((h) => h.id)).toEqual([newer.id]);
      expect((await store.list()).map((h) => h.id)).toEqual([newest.id, newer.id, older.id]);
    });

    it('an id is taken once: a second create with it is refused and the first hold stays', async () => {
      const h = legalHold();
      await store.create(h);
      // Any error (better-sqlite3's errors may come from another test file's realm, so not toThrow).
      const refused = await opened.other().create({ ...h, reason: 'another' }).then(() => 'stored', () => 'refused');
      expect(refused).toBe('refused');
      expect(await store.get(h.id)).toEqual(h);
      expect(await store.list()).toHaveLength(1);
    });

    it('releases a hold once: the release is recorded whole and never overwritten; an unknown id is not found', async () => {
      const h = legalHold();
      await store.create(h);
      expect(await opened.other().release(h.id, release)).toEqual({ ...h, status: 'released', ...release });
      expect(await store.get(h.id)).toEqual({ ...h, status: 'released', ...release });
      await expect(store.release(h.id, { ...release, releaseNote: 'again' })).rejects.toBeInstanceOf(LegalHoldAlreadyReleasedError);
      await expect(store.release(randomUUID(), release)).rejects.toBeInstanceOf(LegalHoldNotFoundError);
      expect((await store.get(h.id))!.releaseNote).toBe('Case closed');
    });

    it('two instances releasing the same hold at once: exactly one succeeds, the other is told it was released', async () => {
      const h = legalHold();
      await store.create(h);
      const results = await Promise.allSettled([store.release(h.id, release), opened.other().release(h.id, { ...release, releaseNote: 'other' })]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(LegalHoldAlreadyReleasedError);
      const winner = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<LegalHold>).value;
      expect(await store.get(h.id)).toEqual(winner);
    });
  });
}
