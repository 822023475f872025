/**
 * The Kafka partitioner of the event topic, chosen deliberately instead of kafkajs's default.
 *
 * Messages are keyed by chain id, and every chain must map to exactly one partition so that one
 * chain-writer owns it. kafkajs 2.x warns that its default partitioner changed (murmur2, the Java
 * client's) and suggests the LegacyPartitioner; neither spreads our keys well: there are few chains
 * (six categories times CHAIN_SHARDS), and murmur2 puts `system_access` and `administrative` on the
 * same partition for every common partition count (3, 6, 8, 12, 24), which halves the parallelism
 * of the busiest writers for nothing. This partitioner numbers the chains in a fixed order and
 * places chain i on partition i mod n:
 * - a category's unsharded chain (`data_access`): its category's index (0..5), as before sharding;
 * - a shard chain (`data_access.3`, chain-id.ts): category index x CHAIN_SHARDS + shard, so the
 *   shards of one category sit on consecutive partitions (the busy category gets min(shards, n)
 *   writers), and 6 x CHAIN_SHARDS partitions give every chain its own partition and writer.
 * Any other key falls back to murmur2, which is what the Java client would pick.
 *
 * Passing it explicitly (createPartitioner) is also what silences the kafkajs warning. Every
 * producer of the topic must use the same mapping (the same CHAIN_SHARDS); a foreign producer that
 * hashes differently cannot break a chain (the store fences concurrent writers), it only makes two
 * writers contend.
 */
import { EVENT_CATEGORIES, parseChainId } from '@app/core';
import { Partitioners, type ICustomPartitioner, type PartitionerArgs } from 'kafkajs';

const CATEGORY_INDEX: readonly string[] = EVENT_CATEGORIES;

/** Partition of a chain for a topic with `numPartitions` partitions (null: not a category's chain). */
export function partitionForChain(chain: string, numPartitions: number, chainShards = 1): number | null {
  const parsed = parseChainId(chain);
  if (!parsed) return null;
  const c = CATEGORY_INDEX.indexOf(parsed.category);
  const ordinal = parsed.shard === null ? c : c * Math.max(1, chainShards) + parsed.shard;
  return ordinal % numPartitions;
}

const partitioners = new Map<number, ICustomPartitioner>();

/** The partitioner for CHAIN_SHARDS = `chainShards` (one instance per count). */
export function chainPartitioner(chainShards = 1): ICustomPartitioner {
  let p = partitioners.get(chainShards);
  if (!p) {
    p = () => {
      const fallback = Partitioners.DefaultPartitioner();
      return (args: PartitionerArgs) => {
        const { message, partitionMetadata } = args;
        if (message.partition !== undefined && message.partition !== null) return message.partition;
        const key = message.key === null || message.key === undefined ? null : message.key.toString();
        const numPartitions = partitionMetadata.length;
        const partition = key === null || numPartitions === 0 ? null : partitionForChain(key, numPartitions, chainShards);
        return partition ?? fallback(args);
      };
    };
    partitioners.set(chainShards, p);
  }
  return p;
}

/** The partitioner with one chain per category (CHAIN_SHARDS=1). */
export const ChainPartitioner: ICustomPartitioner = chainPartitioner(1);
