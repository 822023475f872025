/**
 * Version 2: the context feeds' table (libs/context, sqlite-context-store.ts): one row per accepted
 * version of a user, patient or encounter record, valid from `valid_from`, received at
 * `received_at`, the record sealed whole with the data keys (no id, name or token readable on disk).
 */
import type { Migration } from '../schema-migrations';

export const CONTEXT_VERSIONS_SQL = `
CREATE TABLE IF NOT EXISTS context_versions (
  seq INTEGER PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('users', 'patients', 'encounters')),
  valid_from INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  record BLOB NOT NULL
);
`;

export const contextVersions: Migration = {
  version: 2,
  name: 'context-versions',
  up(db) {
    db.exec(CONTEXT_VERSIONS_SQL);
  },
};
