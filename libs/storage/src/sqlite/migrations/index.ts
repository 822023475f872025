/**
 * THE ordered list of schema migrations of the embedded database (schema-migrations.ts). To change
 * the schema, add a file `NNNN-what-it-does.ts` exporting one Migration with the next version and
 * append it here; never edit or reorder one that is on main (databases out there have run it).
 * See docs/operations.md "Schema migrations".
 */
import type { Migration } from '../schema-migrations';
import { baseline } from './0001-baseline';
import { contextVersions } from './0002-context-versions';
import { consoleAccounts } from './0003-console-accounts';
import { credentialRevocations } from './0004-credential-revocations';
import { contextBatches } from './0005-context-batches';
import { hotPartitions } from './0006-hot-partitions';
import { partitionExtents } from './0007-partition-extents';

export const MIGRATIONS: readonly Migration[] = [
  baseline,
  contextVersions,
  consoleAccounts,
  credentialRevocations,
  contextBatches,
  hotPartitions,
  partitionExtents,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
