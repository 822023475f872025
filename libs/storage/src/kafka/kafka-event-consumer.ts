/**
 * Kafka adapter of the BusConsumer port: the chain-writer consumer group.
 *
 * Offsets are committed by hand (autoCommit off, eachBatchAutoResolve off) and only after the
 * batch handler resolved, i.e. after the store has every record of the batch. A handler that fails
 * (store down, writer saturated) leaves the offsets where they were: the partition is paused and
 * resumed after a growing back-off, and the batch is fetched again from the last committed offset.
 * Redelivery is safe because the writer deduplicates on event id.
 *
 * Kafka fences offset commits of a member that lost its partitions (rebalance); the store fences
 * records of a writer that still believes it owns a chain (SequenceConflictError).
 *
 * Message values carry PHI sealed (sealed-bus-message.ts); they are opened here, before the
 * handler. A message that cannot be opened (data key missing, altered) is never skipped: its
 * partition stops there (paused and retried with the same back-off, so it resumes once the key is
 * in place), the log names partition, offset and reason (never content), and `fault()` gives
 * readiness its reason until that partition moves on.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { KafkaSettings } from '@app/core';
import { BusBatchHandler, BusConsumer, BusUnavailableError } from '../event-bus.port';
import { KafkaLike, KafkaLog, describeKafkaError } from './kafka-client';
import { SealedBusMessageError, SealedBusMessages, openBusMessage } from './sealed-bus-message';

export interface KafkaEventConsumerOptions extends Pick<KafkaSettings, 'topic' | 'groupId' | 'sessionTimeoutMs' | 'brokers' | 'sasl' | 'tls'> {
  /** Partitions handled at the same time (their records share group commits). Default 6 (one per chain). */
  partitionsConsumedConcurrently?: number;
  /** First back-off after a failed batch (doubles up to maxBackoffMs). Default 500 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Opens the sealed PHI fields of message values (the service always sets it). */
  sealer?: SealedBusMessages;
}

export class KafkaEventConsumer implements BusConsumer {
  private consumer?: Consumer;
  private joined = false;
  private crashed = false;
  private running = false;
  private readonly failures = new Map<number, number>();
  /** Partitions stopped at a message that cannot be opened: partition -> reason (no PHI). */
  private readonly unreadable = new Map<number, string>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly kafka: KafkaLike,
    private readonly options: KafkaEventConsumerOptions,
    private readonly log: KafkaLog = () => undefined,
  ) {}

  async start(handle: BusBatchHandler): Promise<void> {
    if (this.running) return;
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs,
      heartbeatInterval: Math.max(1000, Math.floor(this.options.sessionTimeoutMs / 10)),
      allowAutoTopicCreation: false,
      readUncommitted: false,
      maxBytesPerPartition: 1024 * 1024,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined = true;
      this.crashed = false;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.crashed = true;
      this.joined = false;
      this.log('error', 'kafka consumer crashed; kafkajs restarts it', { error: e.payload?.error?.name, restart: e.payload?.restart });
    });
    consumer.on(consumer.events.DISCONNECT, () => {
      this.joined = false;
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.options.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 6,
        eachBatch: (payload) => this.onBatch(payload, handle),
      });
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw new BusUnavailableError(describeKafkaError(err, this.options));
    }
    this.running = true;
  }

  isReady(): boolean {
    return this.running && this.joined && !this.crashed && this.unreadable.size === 0;
  }

  /** Why a partition is stopped (a sealed message that cannot be opened), or null. No PHI. */
  fault(): string | null {
    if (this.unreadable.size === 0) return null;
    const [partition, reason] = [...this.unreadable][0];
    return `the chain writer is stopped at a bus message it cannot open on partition ${partition}${this.unreadable.size > 1 ? ` (and ${this.unreadable.size - 1} more)` : ''}: ${reason}`;
  }

  async close(): Promise<void> {
    for (const t of this.resumeTimers) clearTimeout(t);
    this.resumeTimers.clear();
    this.running = false;
    // disconnect() stops fetching and waits for the batch being handled to finish.
    await this.consumer?.disconnect().catch(() => undefined);
  }

  private async onBatch(payload: EachBatchPayload, handle: BusBatchHandler): Promise<void> {
    const { batch, resolveOffset, heartbeat, pause, isRunning, isStale } = payload;
    if (!isRunning() || isStale()) return;
    if (batch.messages.length === 0) return;
    try {
      const messages = batch.messages.map((m) => ({ offset: m.offset, key: m.key ? m.key.toString('utf8') : null, value: m.value === null ? null : this.open(batch.partition, m.offset, m.value) }));
      await handle({ partition: batch.partition, messages });
    } catch (err) {
      // Nothing of this batch is committed: pause the partition and fetch it again later.
      const n = (this.failures.get(batch.partition) ?? 0) + 1;
      this.failures.set(batch.partition, n);
      const base = this.options.backoffMs ?? 500;
      const delay = Math.min(this.options.maxBackoffMs ?? 30_000, base * 2 ** Math.min(n - 1, 10));
      if (!(err instanceof SealedBusMessageError)) this.log('warn', 'chain writer could not store a batch; partition paused', { partition: batch.partition, retryInMs: delay, error: (err as Error).name });
      const resume = pause();
      const timer = setTimeout(() => {
        this.resumeTimers.delete(timer);
        resume();
      }, delay);
      this.resumeTimers.add(timer);
      return;
    }
    this.failures.delete(batch.partition);
    this.unreadable.delete(batch.partition);
    if (!isRunning() || isStale()) return;
    const next = (BigInt(batch.lastOffset()) + 1n).toString();
    // Commit only now: the store already holds every record of this batch.
    await this.consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
    resolveOffset(batch.lastOffset());
    await heartbeat();
  }

  /** The canonical JSON of one message value; a sealed one that cannot be opened stops its partition. */
  private open(partition: number, offset: string, value: Buffer): Buffer {
    try {
      return openBusMessage(value, this.options.sealer?.codec);
    } catch (err) {
      const e = err instanceof SealedBusMessageError ? err : new SealedBusMessageError('corrupt');
      this.unreadable.set(partition, e.message);
      this.log('error', 'bus message cannot be opened; its partition is stopped there and retried', { partition, offset, reason: e.reason, keyId: e.keyId });
      throw e;
    }
  }
}
