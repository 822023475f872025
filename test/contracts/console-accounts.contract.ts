/**
 * The ConsoleAccounts contract: what sign-in, sessions and the admin's People page rely on from any
 * adapter (embedded SQLite, Elasticsearch, the in-memory fake): an account name taken once, a reset
 * that ends its sessions, a password change that lifts "must change", sessions found by the hash of
 * their id on any instance, expired ones dropped when a new one starts, a touch never moving back.
 */
import { ConsoleAccounts, ConsoleSessionRow } from '@app/console';

export interface OpenedConsoleAccounts {
  store: ConsoleAccounts;
  /** Another handle on the same storage (another instance, or another connection). */
  other(): ConsoleAccounts;
  close(): Promise<void>;
}

const hash = (c: string) => c.repeat(64);

export function sessionRow(overrides: Partial<ConsoleSessionRow> = {}): ConsoleSessionRow {
  return { userName: 'ana', role: 'soc_analyst', via: 'local', csrf: 'csrf-1', mustChange: true, createdMs: 1_000_000, lastSeenMs: 1_000_000, expiresMs: 2_000_000, ...overrides };
}

export function describeConsoleAccountsContract(name: string, open: () => Promise<OpenedConsoleAccounts>): void {
  describe(`ConsoleAccounts contract: ${name}`, () => {
    let opened: OpenedConsoleAccounts;
    let store: ConsoleAccounts;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('an empty store has no account and no session', async () => {
      expect(await store.user('ana')).toBeNull();
      expect(await store.users()).toEqual([]);
      expect(await store.session(hash('a'))).toBeNull();
    });

    it('adds an account once: it must change its password; a second add of the name changes nothing; every instance sees it', async () => {
      expect(await store.putUser('ana', 'soc_analyst', 'hash-1')).toBe('created');
      const ana = await store.user('ana');
      expect(ana).toEqual({ name: 'ana', role: 'soc_analyst', passwordHash: 'hash-1', mustChange: true, disabled: false, createdAt: expect.any(String) });
      expect(Number.isNaN(Date.parse(ana!.createdAt))).toBe(false);
      expect(await opened.other().putUser('ana', 'admin', 'hash-2')).toBe('exists');
      expect(await store.user('ana')).toEqual(ana);
      await store.putUser('bob', 'admin', 'hash-3');
      await store.putUser('amy', 'auditor', 'hash-4');
      expect((await opened.other().users()).map((u) => [u.name, u.role])).toEqual([
        ['amy', 'auditor'],
        ['ana', 'soc_analyst'],
        ['bob', 'admin'],
      ]);
    });

    it('a reset gives a new role and password, must change again, keeps when it was made, and ends the account’s sessions only', async () => {
      await store.putUser('ana', 'soc_analyst', 'hash-1');
      await store.setPassword('ana', 'hash-own');
      const before = (await store.user('ana'))!;
      await store.createSession(hash('a'), sessionRow({ mustChange: false }));
      await store.createSession(hash('b'), sessionRow({ userName: 'bob', role: 'admin' }));
      expect(await opened.other().putUser('ana', 'compliance_officer', 'hash-2', true)).toBe('reset');
      expect(await store.user('ana')).toEqual({ ...before, role: 'compliance_officer', passwordHash: 'hash-2', mustChange: true });
      expect(await store.session(hash('a'))).toBeNull();
      expect(await store.session(hash('b'))).toEqual(sessionRow({ userName: 'bob', role: 'admin' }));
      expect(await store.putUser('new', 'auditor', 'hash-5', true)).toBe('created');
    });

    it('a password change lifts "must change" on the account and its open sessions; an unknown name changes nothing', async () => {
      await store.putUser('ana', 'soc_analyst', 'hash-1');
      await store.createSession(hash('a'), sessionRow());
      await opened.other().setPassword('ana', 'hash-own');
      expect(await store.user('ana')).toMatchObject({ passwordHash: 'hash-own', mustChange: false });
      expect(await store.session(hash('a'))).toEqual(sessionRow({ mustChange: false }));
      await store.setPassword('nobody', 'hash-x');
      expect(await store.user('nobody')).toBeNull();
    });

    it('keeps a session under the hash of its id, read on any instance, touched and ended', async () => {
      await store.createSession(hash('a'), sessionRow());
      expect(await opened.other().session(hash('a'))).toEqual(sessionRow());
      await opened.other().touchSession(hash('a'), 1_500_000);
      expect(await store.session(hash('a'))).toEqual(sessionRow({ lastSeenMs: 1_500_000 }));
      await store.deleteSession(hash('a'));
      expect(await opened.other().session(hash('a'))).toBeNull();
      await store.touchSession(hash('a'), 1_600_000);
      await store.deleteSession(hash('a'));
      expect(await store.session(hash('a'))).toBeNull();
    });

    it('a touch never moves the last use back (instances whose clocks differ)', async () => {
      await store.createSession(hash('a'), sessionRow());
      await store.touchSession(hash('a'), 1_500_000);
      await opened.other().touchSession(hash('a'), 1_400_000);
      expect((await store.session(hash('a')))!.lastSeenMs).toBe(1_500_000);
    });

    it('drops sessions that expired when a new one starts', async () => {
      await store.createSession(hash('a'), sessionRow({ expiresMs: 1_100_000 }));
      await store.createSession(hash('b'), sessionRow({ expiresMs: 3_000_000 }));
      await opened.other().createSession(hash('c'), sessionRow({ createdMs: 1_200_000, lastSeenMs: 1_200_000, expiresMs: 4_000_000 }));
      expect(await store.session(hash('a'))).toBeNull();
      expect(await store.session(hash('b'))).not.toBeNull();
      expect(await store.session(hash('c'))).not.toBeNull();
    });
  });
}
