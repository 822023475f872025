/**
 * Kafka adapter of the EventBus port (publishing side; the consuming side is KafkaEventConsumer).
 *
 * - Idempotent producer, `acks: -1` (every in-sync replica), one request in flight: a retried
 *   produce can neither duplicate nor reorder messages within a partition.
 * - Message key = chain id, value = the event's canonical JSON with its PHI fields sealed
 *   (`sealer`, sealed-bus-message.ts; the service always passes it); the ChainPartitioner maps
 *   each chain to one partition, so each chain has one writer.
 * - Group produce: publishes that arrive while a produce request is in flight share the next one
 *   (the same idea as the chain writer's group commit), capped in bytes below the broker's default
 *   `message.max.bytes`; a request larger than the cap is split and acknowledged only once every
 *   part is acknowledged.
 * - The topic is created when missing (partitions, replication factor, min.insync.replicas); a topic
 *   with fewer partitions than 6 x CHAIN_SHARDS (one per chain) is warned about once at start.
 * - A publish that Kafka does not acknowledge within the timeout, or while the brokers are known
 *   to be down, fails with BusUnavailableError (the API answers 503 + Retry-After). A late
 *   acknowledgement after a timeout is harmless: the retry is deduplicated by event id.
 */
import type { Admin, Message, Producer, ProducerConfig } from 'kafkajs';
import type { KafkaSettings } from '@app/core';
import { chainForEvent } from '@app/core';
import { BusEvent, BusUnavailableError, EventBus, IngestReceipt } from '../event-bus.port';
import { chainPartitioner } from './chain-partitioner';
import type { SealedBusMessages } from './sealed-bus-message';
import { KafkaLike, KafkaLog, describeKafkaError, kafkaErrorTypes } from './kafka-client';

export interface KafkaEventBusOptions extends Pick<KafkaSettings, 'topic' | 'partitions' | 'replicationFactor' | 'publishTimeoutMs' | 'brokers' | 'sasl' | 'tls'> {
  /** Largest produce request in bytes of message values (default 900 000, under Kafka's 1 MiB default). */
  maxRequestBytes?: number;
  /** How often the brokers are probed for readiness (default 5 s). */
  probeIntervalMs?: number;
  /** Seals patient.id, actor.ip, query.text in each message value (the service always sets it). */
  sealer?: SealedBusMessages;
  /** Chains per category (CHAIN_SHARDS): the message key is the event's chain, one partition per chain. */
  chainShards?: number;
}

interface PendingPublish {
  messages: Message[];
  bytes: number;
  /** Parts still unacknowledged (a request larger than maxRequestBytes is split). */
  outstanding: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The producer's settings, kept to what kafkajs documents for an idempotent producer: retries are
 * left unlimited (kafkajs defaults them to Number.MAX_SAFE_INTEGER when idempotent, and warns
 * "Limiting retries for the idempotent producer may invalidate EoS guarantees" when the client's
 * `retry.retries` is merged in), so a retried produce keeps its sequence numbers and can neither
 * duplicate nor reorder; one request in flight; `acks: -1` is set on each send. What bounds a
 * publish is KAFKA_PUBLISH_TIMEOUT_MS (503 to the caller), not the retry count: a send still
 * retrying after that is harmless (the event id deduplicates a client's retry).
 */
export function producerConfig(chainShards = 1): ProducerConfig {
  return {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: chainPartitioner(chainShards),
    retry: { retries: Number.MAX_SAFE_INTEGER },
  };
}

export class KafkaEventBus implements EventBus {
  readonly acknowledges = 'queued' as const;
  private producer?: Producer;
  private admin?: Admin;
  private connected = false;
  private healthy = false;
  private closing = false;
  private queue: PendingPublish[] = [];
  private inflight: Promise<void> | null = null;
  private probeTimer?: NodeJS.Timeout;
  private probing = false;

  constructor(
    private readonly kafka: KafkaLike,
    private readonly options: KafkaEventBusOptions,
    private readonly log: KafkaLog = () => undefined,
  ) {}

  async start(): Promise<void> {
    if (this.connected) return;
    try {
      this.admin = this.kafka.admin();
      await this.admin.connect();
      await this.ensureTopic(this.admin);
      this.producer = this.kafka.producer(producerConfig(this.options.chainShards ?? 1));
      await this.producer.connect();
    } catch (err) {
      // A refused replication factor: name the brokers the cluster has, so the fix is one look away.
      const brokerCount = kafkaErrorTypes(err).includes('INVALID_REPLICATION_FACTOR') ? await this.brokerCount() : undefined;
      await this.admin?.disconnect().catch(() => undefined);
      throw new BusUnavailableError(describeKafkaError(err, this.options, { brokerCount }));
    }
    this.connected = true;
    this.healthy = true;
    const every = this.options.probeIntervalMs ?? 5000;
    this.probeTimer = setInterval(() => void this.probe(), every);
    this.probeTimer.unref();
  }

  isReady(): boolean {
    return this.connected && this.healthy && !this.closing;
  }

  async publish(events: BusEvent[]): Promise<IngestReceipt[]> {
    if (!this.connected || this.closing) throw new BusUnavailableError('The event bus is not connected.', 2);
    if (!this.healthy && this.inflight) throw new BusUnavailableError('Kafka is not acknowledging right now.', 2);
    if (events.length === 0) return [];
    const sealer = this.options.sealer;
    const shards = this.options.chainShards ?? 1;
    const messages: Message[] = events.map((e) => ({ key: chainForEvent(e.event, shards), value: sealer ? sealer.encode(e.event, e.json) : e.json }));
    const bytes = messages.reduce((n, m) => n + Buffer.byteLength(m.value as string) + 64, 0);
    await new Promise<void>((resolve, reject) => {
      const p: PendingPublish = { messages, bytes, outstanding: 0, settled: false, resolve, reject };
      const timer = setTimeout(() => {
        if (p.settled) return;
        p.settled = true;
        this.markUnhealthy();
        this.queue = this.queue.filter((q) => q !== p);
        reject(new BusUnavailableError('Kafka did not acknowledge the events in time.', 2));
      }, this.options.publishTimeoutMs);
      p.resolve = () => (clearTimeout(timer), resolve());
      p.reject = (err) => (clearTimeout(timer), reject(err));
      this.queue.push(p);
      this.pump();
    });
    return events.map((e) => ({ id: e.event.id, status: 'queued' as const }));
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    const deadline = Date.now() + this.options.publishTimeoutMs;
    while ((this.inflight || this.queue.length > 0) && Date.now() < deadline) await (this.inflight ?? new Promise((r) => setTimeout(r, 10)));
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.connected = false;
  }

  /** Sends the next group when nothing is in flight. */
  private pump(): void {
    if (this.inflight || this.queue.length === 0) return;
    const cap = this.options.maxRequestBytes ?? 900_000;
    const parts: { owner: PendingPublish; messages: Message[] }[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head.settled) {
        this.queue.shift();
        continue;
      }
      if (parts.length > 0 && bytes + head.bytes > cap) break;
      this.queue.shift();
      if (head.bytes <= cap || head.messages.length === 1) {
        head.outstanding = 1;
        parts.push({ owner: head, messages: head.messages });
        bytes += head.bytes;
      } else {
        // One request larger than a produce request may be: split it, acknowledge when all parts are.
        const chunks = splitByBytes(head.messages, cap);
        head.outstanding = chunks.length;
        this.inflight = this.sendChunksInOrder(head, chunks).finally(() => {
          this.inflight = null;
          this.pump();
        });
        return;
      }
    }
    if (parts.length === 0) return;
    this.inflight = this.sendGroup(parts).finally(() => {
      this.inflight = null;
      this.pump();
    });
  }

  private async sendGroup(parts: { owner: PendingPublish; messages: Message[] }[]): Promise<void> {
    const messages = parts.length === 1 ? parts[0].messages : parts.flatMap((p) => p.messages);
    try {
      await this.producer!.send({ topic: this.options.topic, acks: -1, messages });
      this.healthy = true;
      for (const p of parts) settle(p.owner);
    } catch (err) {
      this.markUnhealthy();
      this.log('warn', 'kafka produce failed', { error: (err as Error).name });
      for (const p of parts) fail(p.owner, new BusUnavailableError('Kafka did not accept the events.', 2));
    }
  }

  private async sendChunksInOrder(owner: PendingPublish, chunks: Message[][]): Promise<void> {
    for (const messages of chunks) {
      if (owner.settled) return;
      try {
        await this.producer!.send({ topic: this.options.topic, acks: -1, messages });
        this.healthy = true;
        owner.outstanding--;
      } catch (err) {
        this.markUnhealthy();
        this.log('warn', 'kafka produce failed', { error: (err as Error).name });
        fail(owner, new BusUnavailableError('Kafka did not accept the events.', 2));
        return;
      }
    }
    if (owner.outstanding === 0) settle(owner);
  }

  private async ensureTopic(admin: Admin): Promise<void> {
    const { topic, partitions, replicationFactor } = this.options;
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      const configEntries = replicationFactor >= 3 ? [{ name: 'min.insync.replicas', value: '2' }] : [];
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor, configEntries }],
      });
      this.log('info', 'created kafka topic', { topic, partitions, replicationFactor });
      this.warnFewPartitions(partitions);
      return;
    }
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const have = meta.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    if (have !== partitions) {
      // Not fatal: the topic is what it is; chains map onto the partitions it has.
      this.log('warn', 'kafka topic partition count differs from KAFKA_PARTITIONS', { topic, partitions: have, configured: partitions });
    }
    this.warnFewPartitions(have);
  }

  /**
   * One partition per chain (6 categories x CHAIN_SHARDS) is what lets writers scale (docs/kafka.md
   * "Sharded chains and partitions"): with fewer, chains share a partition and its one writer. Not
   * fatal (events are still chained in order), so one warning line naming both settings.
   */
  private warnFewPartitions(have: number): void {
    const shards = this.options.chainShards ?? 1;
    const wanted = 6 * shards;
    if (have >= wanted) return;
    this.log('warn', `kafka topic has fewer partitions than 6 x CHAIN_SHARDS: chains share partitions and writers; for one partition per chain use a topic of ${wanted} partitions (KAFKA_PARTITIONS)`, {
      topic: this.options.topic,
      partitions: have,
      KAFKA_PARTITIONS: this.options.partitions,
      CHAIN_SHARDS: shards,
      wanted,
    });
  }

  private async brokerCount(): Promise<number | undefined> {
    try {
      return (await this.admin!.describeCluster()).brokers.length;
    } catch {
      return undefined;
    }
  }

  /** Not ready until the brokers answer again; probe soon rather than at the next interval. */
  private markUnhealthy(): void {
    this.healthy = false;
    setTimeout(() => void this.probe(), 500).unref();
  }

  /** Readiness: the brokers answer a metadata request for our topic. */
  private async probe(): Promise<void> {
    if (this.probing || !this.admin || this.closing) return;
    this.probing = true;
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('probe timeout')), 5000).unref());
    try {
      await Promise.race([this.admin.fetchTopicMetadata({ topics: [this.options.topic] }), timeout]);
      if (!this.inflight) this.healthy = true;
    } catch {
      this.healthy = false;
    } finally {
      this.probing = false;
    }
  }
}

function settle(p: PendingPublish): void {
  if (p.settled) return;
  p.settled = true;
  p.resolve();
}

function fail(p: PendingPublish, err: Error): void {
  if (p.settled) return;
  p.settled = true;
  p.reject(err);
}

function splitByBytes(messages: Message[], cap: number): Message[][] {
  const out: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = Buffer.byteLength(m.value as string) + 64;
    if (current.length > 0 && bytes + size > cap) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
