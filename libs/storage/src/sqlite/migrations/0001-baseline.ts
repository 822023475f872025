/**
 * Version 1: the schema every release before versioning created on open (events and chain heads
 * with their immutability triggers, the `sealed` column of field encryption, checkpoints, Merkle
 * block roots, purged prefixes). On such a database it only records the version.
 */
import type { Migration } from '../schema-migrations';
import { CHECKPOINT_SCHEMA_SQL } from '../sqlite-checkpoint-schema';
import { EVENT_SCHEMA_SQL } from '../sqlite-schema';

export const baseline: Migration = {
  version: 1,
  name: 'baseline',
  up(db) {
    db.exec(EVENT_SCHEMA_SQL);
    const columns = db.prepare('PRAGMA table_info(events)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'sealed')) db.exec('ALTER TABLE events ADD COLUMN sealed BLOB');
    db.exec(CHECKPOINT_SCHEMA_SQL);
  },
};
