/**
 * Version 6: the partitioned hot store (event-partitions.ts, docs/hot-store-partitioning.md). The
 * `events` table becomes partition 0 by a rename (no row is copied, its indexes and triggers keep
 * their names), the partition catalog records it as the open partition, and `events` becomes the
 * view over the partitions that every reader uses. New partitions are opened by appends.
 */
import type { Migration } from '../schema-migrations';
import { partitionEventsTable } from '../event-partitions';

export const hotPartitions: Migration = {
  version: 6,
  name: 'hot-partitions',
  up(db) {
    partitionEventsTable(db);
  },
};
