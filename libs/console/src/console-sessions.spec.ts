/**
 * Console sessions on a real SQLite database with a controlled clock: a fresh id at every start (the
 * previous one ends), only the id's hash stored, idle and absolute expiry, sign-out, cookie flags
 * (Secure and __Host- under TLS); and scrypt password hashes with their parameters.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDatabase } from '@app/storage';
import { ConsoleSessions, readCookie } from './console-sessions';
import { ConsoleStore, sessionIdHash } from './console-store';
import { hashPassword, passwordProblem, verifyPassword } from './password-hasher';

function setup(secure = false) {
  const db = openDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'console-sessions-')));
  const store = new ConsoleStore(db);
  let now = 1_000_000;
  const sessions = new ConsoleSessions(store, { idleMs: 15 * 60_000, maxMs: 12 * 3_600_000, secure }, () => now);
  return { db, sessions, advance: (ms: number) => (now += ms) };
}

const cookieOf = (setCookie: string) => setCookie.split(';')[0]!;

describe('ConsoleSessions', () => {
  it('starts a new session id each time, stores only its hash, and ends the one it replaces', async () => {
    const { db, sessions } = setup();
    const a = await sessions.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false });
    const b = await sessions.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false }, cookieOf(a.setCookie));
    const idA = readCookie(cookieOf(a.setCookie), sessions.cookieName)!;
    const idB = readCookie(cookieOf(b.setCookie), sessions.cookieName)!;
    expect(idA).not.toBe(idB);
    expect(await sessions.resolve(cookieOf(a.setCookie))).toBeNull();
    expect(await sessions.resolve(cookieOf(b.setCookie))).toMatchObject({ userName: 'ana', role: 'soc_analyst', csrf: b.csrf });
    const stored = db.prepare('SELECT id_hash FROM console_sessions').all() as { id_hash: string }[];
    expect(stored).toEqual([{ id_hash: sessionIdHash(idB) }]);
    expect(JSON.stringify(db.prepare('SELECT * FROM console_sessions').all())).not.toContain(idB);
  });

  it('ends a session after the idle timeout, keeps it alive while used, and ends it at its maximum age', async () => {
    const { sessions, advance } = setup();
    const s = await sessions.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false });
    const cookie = cookieOf(s.setCookie);
    for (let i = 0; i < 5; i++) {
      advance(10 * 60_000);
      expect(await sessions.resolve(cookie)).not.toBeNull();
    }
    advance(15 * 60_000);
    expect(await sessions.resolve(cookie)).toBeNull();

    const t = await sessions.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false });
    for (let i = 0; i < 12 * 6; i++) {
      advance(10 * 60_000);
      if (i < 12 * 6 - 1) expect(await sessions.resolve(cookieOf(t.setCookie))).not.toBeNull();
    }
    expect(await sessions.resolve(cookieOf(t.setCookie))).toBeNull();
  });

  it('refuses made-up and signed-out ids', async () => {
    const { sessions } = setup();
    expect(await sessions.resolve(`${sessions.cookieName}=${'a'.repeat(43)}`)).toBeNull();
    expect(await sessions.resolve(`${sessions.cookieName}=short`)).toBeNull();
    const s = await sessions.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false });
    await sessions.end(cookieOf(s.setCookie));
    expect(await sessions.resolve(cookieOf(s.setCookie))).toBeNull();
  });

  it('sets HttpOnly, SameSite=Strict cookies; Secure with the __Host- prefix under TLS', async () => {
    const plain = setup(false).sessions;
    const tls = setup(true).sessions;
    const a = await plain.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false });
    const b = await tls.start({ name: 'ana', role: 'soc_analyst', via: 'local', mustChange: false });
    expect(a.setCookie).toMatch(/^console-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(b.setCookie).toMatch(/^__Host-console-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
  });
});

describe('password hashing', () => {
  it('hashes with scrypt N=2^17 r=8 p=1 and a random salt, and verifies only the right password', async () => {
    const h1 = await hashPassword('correct horse battery');
    const h2 = await hashPassword('correct horse battery');
    expect(h1).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(h1).not.toBe(h2);
    expect(await verifyPassword('correct horse battery', h1)).toBe(true);
    expect(await verifyPassword('correct horse batterY', h1)).toBe(false);
    expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
  });

  it('refuses short passwords and ones containing the name', () => {
    expect(passwordProblem('short', 'ana')).toMatch(/12 characters/);
    expect(passwordProblem('my-name-is-ana-123', 'ana')).toMatch(/user name/);
    expect(passwordProblem('correct-horse-battery', 'ana')).toBeNull();
  });
});
