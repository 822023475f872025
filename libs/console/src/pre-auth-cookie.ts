/**
 * State kept between showing the sign-in page and signing in, before any session exists: the sign-in
 * form's CSRF token (against login CSRF), and for OpenID Connect the state, nonce and PKCE verifier.
 * It lives in a short-lived cookie sealed with HMAC-SHA256 under a key of the data dir, so nothing is
 * written to the database for people who have not signed in.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sameToken } from './console-sessions';

export interface PreAuthState {
  csrf: string;
  /** Where to go after sign-in (a /console/ path). */
  next?: string;
  oidc?: { state: string; nonce: string; verifier: string };
  /** Expiry, ms since the epoch. */
  exp: number;
}

export const PRE_AUTH_TTL_MS = 10 * 60_000;

export class PreAuthCookie {
  constructor(private readonly key: Buffer) {}

  /** The key file under DATA_DIR/keys (created, 0600, on first use). */
  static fromDataDir(dataDir: string): PreAuthCookie {
    const file = path.join(dataDir, 'keys', 'console-cookie.key');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      try {
        fs.writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return new PreAuthCookie(fs.readFileSync(file));
  }

  seal(state: PreAuthState): string {
    const body = Buffer.from(JSON.stringify(state)).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The state, or null when the value is missing, forged or expired. */
  open(value: string | null, now = Date.now()): PreAuthState | null {
    if (!value) return null;
    const dot = value.indexOf('.');
    if (dot < 0) return null;
    const body = value.slice(0, dot);
    if (!sameToken(this.mac(body), value.slice(dot + 1))) return null;
    try {
      const state = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as PreAuthState;
      return typeof state.exp === 'number' && state.exp > now && typeof state.csrf === 'string' ? state : null;
    } catch {
      return null;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** A safe place to return to after sign-in: a console path, never another origin. */
export function safeNext(next: unknown): string | undefined {
  return typeof next === 'string' && /^\/console\/[A-Za-z0-9/_?=&%.-]*$/.test(next) && !next.startsWith('/console//') ? next : undefined;
}
