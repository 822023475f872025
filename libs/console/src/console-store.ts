/**
 * Where console accounts and sessions live on the embedded default: two tables in the service's
 * SQLite database (schema migration 0003-console-accounts; the CLI's `users add` writes the same tables). Session ids are never stored: only
 * their SHA-256, so a copy of the database does not hand out live sessions. Writes go through
 * writeWhenFree so a busy writer thread never blocks the event loop.
 */
import { createHash } from 'node:crypto';
import type { SqliteDb } from '@app/storage';
import { writeWhenFree } from '@app/storage';
import type { Role } from '@app/security';
import type { ConsoleAccounts, ConsoleSessionRow, ConsoleUser } from './console-accounts.port';
import { hashPassword, oneTimePassword } from './password-hasher';

export function sessionIdHash(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

export class ConsoleStore implements ConsoleAccounts {
  /** `db` is opened with openDatabase, whose migrations made the tables (0003-console-accounts). */
  constructor(private readonly db: SqliteDb) {}

  user(name: string): ConsoleUser | null {
    const row = this.db.prepare('SELECT * FROM console_users WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    return row ? toUser(row) : null;
  }

  users(): ConsoleUser[] {
    return (this.db.prepare('SELECT * FROM console_users ORDER BY name').all() as Record<string, unknown>[]).map(toUser);
  }

  /** Adds an account (or, with `replace`, resets one) that must change its password at first sign-in. */
  async putUser(name: string, role: Role, passwordHash: string, replace = false): Promise<'created' | 'reset' | 'exists'> {
    const now = new Date().toISOString();
    return writeWhenFree(this.db, () =>
      this.db.transaction(() => {
        const existing = this.db.prepare('SELECT name FROM console_users WHERE name = ?').get(name);
        if (existing && !replace) return 'exists' as const;
        this.db
          .prepare(
            `INSERT INTO console_users (name, role, password_hash, must_change, disabled, created_at, updated_at) VALUES (?, ?, ?, 1, 0, ?, ?)
             ON CONFLICT(name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash, must_change = 1, disabled = 0, updated_at = excluded.updated_at`,
          )
          .run(name, role, passwordHash, now, now);
        // A reset ends the account's open sessions.
        this.db.prepare('DELETE FROM console_sessions WHERE user_name = ?').run(name);
        return existing ? ('reset' as const) : ('created' as const);
      }).immediate(),
    );
  }

  async setPassword(name: string, passwordHash: string): Promise<void> {
    await writeWhenFree(this.db, () =>
      this.db.transaction(() => {
        this.db.prepare('UPDATE console_users SET password_hash = ?, must_change = 0, updated_at = ? WHERE name = ?').run(passwordHash, new Date().toISOString(), name);
        this.db.prepare('UPDATE console_sessions SET must_change = 0 WHERE user_name = ?').run(name);
      }).immediate(),
    );
  }

  async createSession(idHash: string, row: ConsoleSessionRow): Promise<void> {
    await writeWhenFree(this.db, () =>
      this.db.transaction(() => {
        this.db.prepare('DELETE FROM console_sessions WHERE expires_ms < ?').run(row.createdMs);
        this.db
          .prepare('INSERT INTO console_sessions (id_hash, user_name, role, via, csrf, must_change, created_ms, last_seen_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(idHash, row.userName, row.role, row.via, row.csrf, row.mustChange ? 1 : 0, row.createdMs, row.lastSeenMs, row.expiresMs);
      }).immediate(),
    );
  }

  session(idHash: string): ConsoleSessionRow | null {
    const r = this.db.prepare('SELECT * FROM console_sessions WHERE id_hash = ?').get(idHash) as Record<string, unknown> | undefined;
    if (!r) return null;
    return {
      userName: String(r.user_name),
      role: r.role as Role,
      via: r.via as 'local' | 'oidc',
      csrf: String(r.csrf),
      mustChange: r.must_change === 1,
      createdMs: Number(r.created_ms),
      lastSeenMs: Number(r.last_seen_ms),
      expiresMs: Number(r.expires_ms),
    };
  }

  async touchSession(idHash: string, nowMs: number): Promise<void> {
    // Never back (as the Elasticsearch store): a touch that lands late with an earlier time must not shorten the idle window.
    await writeWhenFree(this.db, () => this.db.prepare('UPDATE console_sessions SET last_seen_ms = MAX(last_seen_ms, ?) WHERE id_hash = ?').run(nowMs, idHash));
  }

  async deleteSession(idHash: string): Promise<void> {
    await writeWhenFree(this.db, () => this.db.prepare('DELETE FROM console_sessions WHERE id_hash = ?').run(idHash));
  }
}

function toUser(row: Record<string, unknown>): ConsoleUser {
  return {
    name: String(row.name),
    role: row.role as Role,
    passwordHash: row.password_hash === null ? null : String(row.password_hash),
    mustChange: row.must_change === 1,
    disabled: row.disabled === 1,
    createdAt: String(row.created_at),
  };
}

/** A local account name: 1-128 letters, digits, ".", "_", "@" or "-", starting with a letter or digit. */
export const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/**
 * Makes a local account (or, with `reset`, gives an existing one a new password and role) with a
 * fresh one-time password, stored only as its hash: `auditctl users add` and the admin's People page.
 * The password is returned once for the caller to show; 'exists' means nothing was changed.
 */
export async function addLocalAccount(store: ConsoleAccounts, name: string, role: Role, reset = false): Promise<{ outcome: 'created' | 'reset' | 'exists'; password: string }> {
  const password = oneTimePassword();
  const outcome = await store.putUser(name, role, await hashPassword(password), reset);
  return { outcome, password };
}
