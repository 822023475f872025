/** Storage ports (EventStore, EventBus) and the embedded SQLite adapters; the scale-out ones are in scale-out-adapters.ts. */
export * from './event-store.port';
export * from './commit-feed.port';
export * from './sqlite/sqlite-database';
export * from './compiled-worker';
export * from './sqlite/sqlite-schema';
export * from './sqlite/sqlite-event-store';
export { SqliteAppendThread, AppendThreadOptions } from './sqlite/sqlite-append-thread';
export { SqliteWalCheckpointer, WalCheckpointReport } from './sqlite/sqlite-wal-checkpointer';
export * from './sqlite/sqlite-tiered-event-store';
export {
  ChainExtent,
  DEFAULT_HOT_PARTITION_MAX_ROWS,
  PartitionInfo,
  chainExtentsOf,
  dropPartition,
  installPurgeAwareDeleteTriggers,
  isPartitioned,
  livePartitions,
  partitionChainRanges,
  partitionTable,
} from './sqlite/event-partitions';
export * from './field-protection.port';
export * from './record-sealer.port';
export * from './sqlite/sealed-fields';
export * from './event-bus.port';
export * from './elasticsearch/es-schema';
// Elasticsearch and Kafka adapters: './scale-out-adapters', loaded lazily (their clients are heavy).
export * from './checkpoint-store.port';
export * from './sqlite/sqlite-checkpoint-schema';
export * from './sqlite/sqlite-checkpoint-store';
export * from './sqlite/schema-migrations';
export { MIGRATIONS, SCHEMA_VERSION } from './sqlite/migrations';
export * from './sqlite/data-dir-lock';
export * from './revocation-store.port';
export * from './sqlite/sqlite-revocation-store';
export * from './derived-columns';
export * from './chain-reader.port';
export * from './event-store-chain-reader';
export * from './sqlite/sqlite-verification-reader';
