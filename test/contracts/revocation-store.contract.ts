/**
 * The RevocationStore contract: what `auditctl token revoke`, `certs issue|revoke`, the admin pages
 * (writers) and every instance's RevocationList (reader) rely on from any adapter (embedded SQLite,
 * Elasticsearch, the in-memory fake): every revocation kept and read back oldest first on any
 * instance, and the certificates issued to an integration found for `certs revoke <integration>`.
 */
import { RevocationStore } from '@app/storage';

export interface OpenedRevocationStore {
  store: RevocationStore;
  /** Another handle on the same storage (another instance, the CLI). */
  other(): RevocationStore;
  close(): Promise<void>;
}

const at = (s: string) => new Date(`2026-03-0${s}T00:00:00.000Z`);

export function describeRevocationStoreContract(name: string, open: () => Promise<OpenedRevocationStore>): void {
  describe(`RevocationStore contract: ${name}`, () => {
    let opened: OpenedRevocationStore;
    let store: RevocationStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('an empty store has no revocation and no issued certificate', async () => {
      expect(await store.revocations()).toEqual([]);
      expect(await store.issuedTo('ehr-gateway')).toEqual([]);
    });

    it('keeps every revocation, of every kind, read back oldest first on any instance; a subject revoked twice is there twice', async () => {
      expect(await store.revoke('token', 'tok-1', 'leaked', at('1'))).toEqual({ kind: 'token', value: 'tok-1', revokedAt: '2026-03-01T00:00:00.000Z', reason: 'leaked' });
      await opened.other().revoke('subject', 'svc-etl', null, at('2'));
      await store.revoke('certificate', '0a1b2c', 'key lost', at('3'));
      await store.revoke('subject', 'svc-etl', 'again', at('4'));
      expect(await opened.other().revocations()).toEqual([
        { kind: 'token', value: 'tok-1', revokedAt: '2026-03-01T00:00:00.000Z', reason: 'leaked' },
        { kind: 'subject', value: 'svc-etl', revokedAt: '2026-03-02T00:00:00.000Z', reason: null },
        { kind: 'certificate', value: '0a1b2c', revokedAt: '2026-03-03T00:00:00.000Z', reason: 'key lost' },
        { kind: 'subject', value: 'svc-etl', revokedAt: '2026-03-04T00:00:00.000Z', reason: 'again' },
      ]);
    });

    it('reads oldest first by the time of revocation, whatever order they were written in', async () => {
      await store.revoke('token', 'tok-late', null, at('5'));
      await opened.other().revoke('token', 'tok-early', null, at('1'));
      expect((await store.revocations()).map((r) => r.value)).toEqual(['tok-early', 'tok-late']);
    });

    it('revoke without a time records now', async () => {
      const before = Date.now();
      const r = await store.revoke('token', 'tok-now');
      expect(Date.parse(r.revokedAt)).toBeGreaterThanOrEqual(before - 1);
      expect(Date.parse(r.revokedAt)).toBeLessThanOrEqual(Date.now());
      expect(await store.revocations()).toEqual([{ kind: 'token', value: 'tok-now', revokedAt: r.revokedAt, reason: null }]);
    });

    it('finds the certificates issued to an integration, oldest first, each serial once', async () => {
      const cert = (serial: string, integration: string, day: string) => ({ serial, integration, issuedAt: `2026-03-0${day}T00:00:00.000Z`, notAfter: `2027-03-0${day}T00:00:00.000Z` });
      await store.recordIssued(cert('02', 'ehr-gateway', '2'));
      await opened.other().recordIssued(cert('01', 'ehr-gateway', '1'));
      await store.recordIssued(cert('03', 'lab', '3'));
      await store.recordIssued(cert('02', 'ehr-gateway', '2'));
      expect(await opened.other().issuedTo('ehr-gateway')).toEqual([cert('01', 'ehr-gateway', '1'), cert('02', 'ehr-gateway', '2')]);
      expect(await store.issuedTo('lab')).toEqual([cert('03', 'lab', '3')]);
      expect(await store.issuedTo('nobody')).toEqual([]);
    });
  });
}
