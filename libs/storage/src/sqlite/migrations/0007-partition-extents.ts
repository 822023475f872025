/**
 * Version 7: the catalog of every closed hot partition gets its extents (occurred and received
 * ranges, last position, each chain's seq range) recorded from the partition's own indexes
 * (event-partitions.ts, recordPartitionExtents). Migration 6 left partition 0 of an upgraded store
 * with only the rows appended after the upgrade in those columns, and rows written through the
 * view's INSERT trigger were never counted in them; from this version on a partition's extents are
 * recorded when it closes. Index seeks only: a few per chain and partition, no row is scanned.
 */
import type { Migration } from '../schema-migrations';
import { repairClosedPartitionExtents } from '../event-partitions';

export const partitionExtents: Migration = {
  version: 7,
  name: 'partition-extents',
  up(db) {
    repairClosedPartitionExtents(db);
  },
};
