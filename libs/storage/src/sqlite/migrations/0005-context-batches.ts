/**
 * Version 5: context versions stored one accepted request a row (libs/context,
 * sqlite-context-store.ts): the receipt time, how many versions, and the versions sealed together
 * with the data keys. One seal and one JSON text per request instead of per record: bulk loads
 * (2 million patients) are bound by sealing otherwise. `context_versions` (version 2) stays for
 * what a build before this one stored; it is read first, then these rows.
 */
import type { Migration } from '../schema-migrations';

export const CONTEXT_BATCHES_SQL = `
CREATE TABLE IF NOT EXISTS context_batches (
  seq INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  count INTEGER NOT NULL,
  versions BLOB NOT NULL
);
`;

export const contextBatches: Migration = {
  version: 5,
  name: 'context-batches',
  up(db) {
    db.exec(CONTEXT_BATCHES_SQL);
  },
};
