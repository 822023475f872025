/**
 * The Kafka partitioner of the event topic, chosen deliberately instead of kafkajs's default.
 *
 * Messages are keyed by chain id, and every chain must map to exactly one partition so that one
 * chain-writer owns it. kafkajs 2.x warns that its default partitioner changed (murmur2, the Java
 * client's) and suggests the LegacyPartitioner; neither spreads our keys well: there are only six
 * chains (one per event category), and murmur2 puts `system_access` and `administrative` on the
 * same partition for every common partition count (3, 6, 8, 12, 24), which halves the parallelism
 * of the busiest writers for nothing. This partitioner places the known chains round-robin by their
 * fixed order (category i -> partition i mod n), so six or more partitions give every chain its own
 * writer; any other key falls back to murmur2, which is what the Java client would pick.
 *
 * Passing it explicitly (createPartitioner) is also what silences the kafkajs warning. Every
 * producer of the topic must use the same mapping; a foreign producer that hashes differently
 * cannot break a chain (the store fences concurrent writers), it only makes two writers contend.
 */
import { EVENT_CATEGORIES } from '@app/core';
import { Partitioners, type ICustomPartitioner, type PartitionerArgs } from 'kafkajs';

const KNOWN_CHAINS: readonly string[] = EVENT_CATEGORIES;

/** Partition of a chain for a topic with `numPartitions` partitions (null: not a known chain). */
export function partitionForChain(chain: string, numPartitions: number): number | null {
  const i = KNOWN_CHAINS.indexOf(chain);
  return i < 0 ? null : i % numPartitions;
}

export const ChainPartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args: PartitionerArgs) => {
    const { message, partitionMetadata } = args;
    if (message.partition !== undefined && message.partition !== null) return message.partition;
    const key = message.key === null || message.key === undefined ? null : message.key.toString();
    const numPartitions = partitionMetadata.length;
    const p = key === null || numPartitions === 0 ? null : partitionForChain(key, numPartitions);
    return p ?? fallback(args);
  };
};
