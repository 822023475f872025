/**
 * Console sessions: a random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure and
 * `__Host-` prefixed under TLS), looked up by its hash in the server-side store. A new id is made at
 * every sign-in (a cookie set before it is never promoted: no fixation); a session ends after the idle
 * timeout, at its maximum age, or at sign-out. Each session carries its CSRF synchronizer token.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from '@app/security';
import type { ConsoleAccounts, ConsoleSessionRow } from './console-accounts.port';
import { sessionIdHash } from './console-store';

export interface SessionSettings {
  idleMs: number;
  maxMs: number;
  /** TLS: Secure cookies with the __Host- prefix. */
  secure: boolean;
}

export interface ActiveSession extends ConsoleSessionRow {
  idHash: string;
}

/** Last-seen times are written at most this often (a page view is not a database write each time). */
const TOUCH_EVERY_MS = 30_000;

export class ConsoleSessions {
  readonly cookieName: string;
  readonly preAuthCookieName: string;

  constructor(
    private readonly store: ConsoleAccounts,
    private readonly settings: SessionSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.cookieName = settings.secure ? '__Host-console-session' : 'console-session';
    this.preAuthCookieName = settings.secure ? '__Host-console-signin' : 'console-signin';
  }

  get idleMs(): number {
    return this.settings.idleMs;
  }

  /** Starts a fresh session (the old one, if any, is ended) and gives the Set-Cookie value. */
  async start(user: { name: string; role: Role; via: 'local' | 'oidc'; mustChange: boolean }, previousCookieHeader?: string): Promise<{ setCookie: string; csrf: string }> {
    const previous = this.idFrom(previousCookieHeader);
    if (previous) await this.store.deleteSession(sessionIdHash(previous));
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const now = this.now();
    await this.store.createSession(sessionIdHash(id), {
      userName: user.name,
      role: user.role,
      via: user.via,
      csrf,
      mustChange: user.mustChange,
      createdMs: now,
      lastSeenMs: now,
      expiresMs: now + this.settings.maxMs,
    });
    return { setCookie: this.cookie(this.cookieName, id, Math.floor(this.settings.maxMs / 1000)), csrf };
  }

  /** The live session named by the request's cookie, or null (expired and idle sessions are ended). */
  async resolve(cookieHeader: string | undefined): Promise<ActiveSession | null> {
    const id = this.idFrom(cookieHeader);
    if (!id) return null;
    const idHash = sessionIdHash(id);
    const row = await this.store.session(idHash);
    if (!row) return null;
    const now = this.now();
    if (now >= row.expiresMs || now - row.lastSeenMs >= this.settings.idleMs) {
      await this.store.deleteSession(idHash);
      return null;
    }
    if (now - row.lastSeenMs >= TOUCH_EVERY_MS) await this.store.touchSession(idHash, now);
    return { ...row, idHash };
  }

  async end(cookieHeader: string | undefined): Promise<void> {
    const id = this.idFrom(cookieHeader);
    if (id) await this.store.deleteSession(sessionIdHash(id));
  }

  /** Set-Cookie value that removes the session cookie. */
  clearCookie(name = this.cookieName): string {
    return this.cookie(name, '', 0);
  }

  cookie(name: string, value: string, maxAgeSeconds: number): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${this.settings.secure ? '; Secure' : ''}`;
  }

  private idFrom(cookieHeader: string | undefined): string | null {
    const value = readCookie(cookieHeader, this.cookieName);
    return value && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : null;
  }
}

/** One cookie's value from a Cookie header (first occurrence), or null. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Constant-time comparison of two tokens (false when either is missing). */
export function sameToken(a: string | undefined | null, b: string | undefined | null): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
