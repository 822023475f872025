/**
 * Version 3: the web console's local accounts and sessions (libs/console, console-store.ts). Accounts
 * hold a scrypt hash (never a password); sessions are keyed by the SHA-256 of their id (never the id).
 */
import type { Migration } from '../schema-migrations';

export const CONSOLE_ACCOUNTS_SQL = `
CREATE TABLE IF NOT EXISTS console_users (
  name            TEXT PRIMARY KEY,
  role            TEXT NOT NULL,
  password_hash   TEXT,
  must_change     INTEGER NOT NULL DEFAULT 1,
  disabled        INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_sessions (
  id_hash         TEXT PRIMARY KEY,
  user_name       TEXT NOT NULL,
  role            TEXT NOT NULL,
  via             TEXT NOT NULL,
  csrf            TEXT NOT NULL,
  must_change     INTEGER NOT NULL DEFAULT 0,
  created_ms      INTEGER NOT NULL,
  last_seen_ms    INTEGER NOT NULL,
  expires_ms      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_by_expiry ON console_sessions (expires_ms);
`;

export const consoleAccounts: Migration = {
  version: 3,
  name: 'console-accounts',
  up(db) {
    db.exec(CONSOLE_ACCOUNTS_SQL);
  },
};
