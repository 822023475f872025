/**
 * Test double of the kafkajs client (kafkajs ships none): an in-memory broker that records every
 * call the adapters make (producer, consumer and admin configs, sends, commits, pauses) so specs
 * can assert the exact requests, and that really delivers: produced messages land on the
 * partition the producer's partitioner picks, and consumers of a group get batches from the last
 * committed offset, so a batch that is not committed is delivered again.
 * Failure switches (`failSends`, `down`) simulate a broker outage.
 */
import type { KafkaLike } from './kafka-client';

export interface RecordedCall {
  api: string;
  args: unknown[];
}

interface StoredMessage {
  offset: string;
  key: string | null;
  value: Buffer | null;
}

type Handler = (e: { payload: Record<string, unknown> }) => void;

export class FakeKafka {
  readonly calls: RecordedCall[] = [];
  readonly topics = new Map<string, StoredMessage[][]>();
  /** group -> "topic:partition" -> next offset to deliver (the committed offset). */
  readonly committed = new Map<string, Map<string, bigint>>();
  /** While true, every request fails like an unreachable broker. */
  down = false;
  /** Number of upcoming producer sends that fail. */
  failSends = 0;
  /** Partitions not delivered to consumers while listed (a partition lagging behind the others). */
  readonly held = new Set<number>();
  /** Makes producer.send wait for this promise before answering (to test timeouts). */
  sendGate: Promise<void> | null = null;

  constructor(topics: Record<string, number> = {}) {
    for (const [t, n] of Object.entries(topics)) this.topics.set(t, Array.from({ length: n }, () => []));
  }

  /** Typed as the kafkajs subset the adapters use. */
  asKafka(): KafkaLike {
    return this as unknown as KafkaLike;
  }

  messages(topic: string): StoredMessage[][] {
    return this.topics.get(topic) ?? [];
  }

  callsTo(api: string): unknown[][] {
    return this.calls.filter((c) => c.api === api).map((c) => c.args);
  }

  private record(api: string, ...args: unknown[]): void {
    this.calls.push({ api, args });
  }

  private check(): void {
    if (this.down) {
      const err = new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
      err.name = 'KafkaJSConnectionError';
      throw err;
    }
  }

  admin() {
    this.record('admin');
    return {
      connect: async () => (this.record('admin.connect'), this.check()),
      disconnect: async () => this.record('admin.disconnect'),
      listTopics: async () => (this.record('admin.listTopics'), this.check(), [...this.topics.keys()]),
      createTopics: async (req: { topics: { topic: string; numPartitions: number }[] }) => {
        this.record('admin.createTopics', req);
        this.check();
        for (const t of req.topics) this.topics.set(t.topic, Array.from({ length: t.numPartitions }, () => []));
        return true;
      },
      fetchTopicMetadata: async (req: { topics: string[] }) => {
        this.record('admin.fetchTopicMetadata', req);
        this.check();
        return {
          topics: req.topics.map((name) => ({
            name,
            partitions: (this.topics.get(name) ?? []).map((_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0] })),
          })),
        };
      },
    };
  }

  producer(config: Record<string, unknown> = {}) {
    this.record('producer', config);
    const createPartitioner = config.createPartitioner as (() => (a: unknown) => number) | undefined;
    const partitioner = createPartitioner ? createPartitioner() : () => 0;
    return {
      connect: async () => (this.record('producer.connect'), this.check()),
      disconnect: async () => this.record('producer.disconnect'),
      send: async (req: { topic: string; acks?: number; messages: { key?: string | null; value: string | Buffer | null }[] }) => {
        this.record('producer.send', req);
        if (this.sendGate) await this.sendGate;
        this.check();
        if (this.failSends > 0) {
          this.failSends--;
          const err = new Error('Not enough in-sync replicas');
          err.name = 'KafkaJSProtocolError';
          throw err;
        }
        const parts = this.topics.get(req.topic);
        if (!parts) throw new Error(`unknown topic ${req.topic}`);
        const partitionMetadata = parts.map((_, i) => ({ partitionId: i, leader: 0 }));
        for (const m of req.messages) {
          const p = partitioner({ topic: req.topic, partitionMetadata, message: m });
          const log = parts[p];
          log.push({
            offset: String(log.length),
            key: m.key === undefined || m.key === null ? null : String(m.key),
            value: m.value === null ? null : Buffer.from(m.value),
          });
        }
        return [];
      },
    };
  }

  consumer(config: { groupId: string } & Record<string, unknown>) {
    this.record('consumer', config);
    const groupId = config.groupId;
    const handlers = new Map<string, Handler[]>();
    const paused = new Set<number>();
    let topic = '';
    let running = false;
    let loop: Promise<void> | null = null;
    const emit = (event: string, payload: Record<string, unknown> = {}) => forEachOf(handlers.get(event), (h) => h({ payload }));
    const offsets = () => {
      let m = this.committed.get(groupId);
      if (!m) this.committed.set(groupId, (m = new Map()));
      return m;
    };
    const self = this;
    const consumer = {
      events: { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash', DISCONNECT: 'consumer.disconnect' },
      on: (event: string, h: Handler) => {
        handlers.set(event, [...(handlers.get(event) ?? []), h]);
        return () => undefined;
      },
      connect: async () => (this.record('consumer.connect'), this.check()),
      subscribe: async (req: { topics: string[] }) => {
        this.record('consumer.subscribe', req);
        topic = req.topics[0];
      },
      commitOffsets: async (list: { topic: string; partition: number; offset: string }[]) => {
        this.record('consumer.commitOffsets', list);
        this.check();
        for (const o of list) offsets().set(`${o.topic}:${o.partition}`, BigInt(o.offset));
      },
      disconnect: async () => {
        this.record('consumer.disconnect');
        running = false;
        await loop;
        emit('consumer.disconnect');
      },
      run: async (runConfig: { eachBatch: (p: unknown) => Promise<void> } & Record<string, unknown>) => {
        this.record('consumer.run', runConfig);
        running = true;
        emit('consumer.group_join');
        loop = (async () => {
          while (running) {
            const parts = self.topics.get(topic) ?? [];
            await Promise.all(
              parts.map(async (log, partition) => {
                if (paused.has(partition) || self.down || self.held.has(partition)) return;
                const from = offsets().get(`${topic}:${partition}`) ?? 0n;
                const batchMessages = log.slice(Number(from), Number(from) + 500);
                if (batchMessages.length === 0) return;
                const last = batchMessages[batchMessages.length - 1].offset;
                await runConfig.eachBatch({
                  batch: {
                    topic,
                    partition,
                    messages: batchMessages.map((m) => ({ offset: m.offset, key: m.key === null ? null : Buffer.from(m.key), value: m.value })),
                    firstOffset: () => batchMessages[0].offset,
                    lastOffset: () => last,
                    isEmpty: () => false,
                  },
                  resolveOffset: (o: string) => this.record('consumer.resolveOffset', partition, o),
                  heartbeat: async () => undefined,
                  pause: () => {
                    this.record('consumer.pause', partition);
                    paused.add(partition);
                    return () => (this.record('consumer.resume', partition), paused.delete(partition));
                  },
                  isRunning: () => running,
                  isStale: () => false,
                });
              }),
            );
            await new Promise((r) => setTimeout(r, 5));
          }
        })();
      },
    };
    return consumer;
  }
}

function forEachOf<T>(list: T[] | undefined, fn: (t: T) => void): void {
  for (const x of list ?? []) fn(x);
}
