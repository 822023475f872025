/**
 * Test double of the kafkajs client (kafkajs ships none): an in-memory broker that records every
 * call the adapters make (producer, consumer and admin configs, sends, commits, pauses) so specs
 * can assert the exact requests, and that behaves like kafkajs where the adapters depend on it:
 *
 * - Produce: messages land on the partition the producer's partitioner picks.
 * - Topic creation: a replication factor above the broker count (`brokers`, default 3) fails as
 *   kafkajs fails it, with kafkajs's own error classes: a KafkaJSAggregateError "Topic creation
 *   errors" whose `errors[]` hold a KafkaJSCreateTopicError of type INVALID_REPLICATION_FACTOR
 *   (code 38); `describeCluster` lists the brokers.
 * - Consumer groups: members of a group share the topic's partitions (round-robin); a member
 *   joining or leaving, or `rebalance()`, starts a new generation: partitions are revoked and
 *   assigned again mid-stream, each member fetches its partitions from the last committed offset
 *   (what was not committed is delivered again), and a commit from a member of an older
 *   generation fails with ILLEGAL_GENERATION (a KafkaJSProtocolError); a rebalancing error thrown
 *   out of eachBatch makes the member rejoin quietly (as kafkajs's runner does), any other error
 *   is reported as a crash and the member restarts. Within a member, the fetch position follows
 *   `resolveOffset`: a batch not resolved is fetched again.
 * - Partitions are delivered interleaved (one batch per partition per round, concurrently); a
 *   partition listed in `held` is not delivered and one in `lagging` gets only that many messages
 *   per round (a partition lagging behind the others).
 * Failure switches (`failSends`, `down`, `sendGate`) simulate a broker outage.
 */
import { KafkaJSAggregateError, KafkaJSProtocolError } from 'kafkajs';
import * as kafkajs from 'kafkajs';
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

interface Member {
  id: string;
  /** Generation this member last joined (its commits carry it). */
  generation: number;
  assigned: number[];
  /** Next offset to fetch per partition (resolved offsets; reset from the committed ones on join). */
  positions: Map<number, bigint>;
}

interface Group {
  generation: number;
  members: Member[];
}

/** kafkajs's protocol error table entries the double raises (src/protocol/error.js). */
const PROTOCOL_ERRORS = {
  INVALID_REPLICATION_FACTOR: { type: 'INVALID_REPLICATION_FACTOR', code: 38, retriable: false, message: 'Replication-factor is invalid' },
  ILLEGAL_GENERATION: { type: 'ILLEGAL_GENERATION', code: 22, retriable: false, message: 'Specified group generation id is not valid' },
} as const;

/** kafkajs exports KafkaJSCreateTopicError at run time; its type declarations omit it. */
const KafkaJSCreateTopicError = (kafkajs as unknown as { KafkaJSCreateTopicError: new (e: object, topic: string) => Error }).KafkaJSCreateTopicError;

const isRebalancing = (e: unknown) => ['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION'].includes((e as { type?: string })?.type ?? '');

export class FakeKafka {
  readonly calls: RecordedCall[] = [];
  readonly topics = new Map<string, StoredMessage[][]>();
  /** group -> "topic:partition" -> next offset to deliver (the committed offset). */
  readonly committed = new Map<string, Map<string, bigint>>();
  /** Brokers in the cluster (topic creation refuses a larger replication factor). */
  brokers = 3;
  /** While true, every request fails like an unreachable broker. */
  down = false;
  /** Number of upcoming producer sends that fail. */
  failSends = 0;
  /** Partitions not delivered to consumers while listed (a partition lagging behind the others). */
  readonly held = new Set<number>();
  /** Partition -> most messages delivered per round (a slow partition; default maxBatch). */
  readonly lagging = new Map<number, number>();
  /** Most messages in one delivered batch. */
  maxBatch = 500;
  /** Makes producer.send wait for this promise before answering (to test timeouts). */
  sendGate: Promise<void> | null = null;
  private readonly groups = new Map<string, Group>();
  private memberSeq = 0;

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

  /** Partitions each member of the group holds now (member ids in join order). */
  assignments(groupId: string): number[][] {
    return (this.groups.get(groupId)?.members ?? []).map((m) => [...m.assigned]);
  }

  /** Generation of the group (every rebalance adds one). */
  generation(groupId: string): number {
    return this.groups.get(groupId)?.generation ?? 0;
  }

  /** A rebalance without a membership change (a member missed a heartbeat, a coordinator moved). */
  rebalance(groupId: string): void {
    const group = this.groups.get(groupId);
    if (group) this.reassign(group);
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

  private group(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g) this.groups.set(groupId, (g = { generation: 0, members: [] }));
    return g;
  }

  /** New generation: every member's partitions are revoked and the topic's assigned round-robin. */
  private reassign(group: Group, topic?: string): void {
    group.generation++;
    const count = topic ? (this.topics.get(topic)?.length ?? 0) : Math.max(0, ...[...this.topics.values()].map((p) => p.length));
    for (const m of group.members) m.assigned = [];
    if (group.members.length === 0) return;
    for (let p = 0; p < count; p++) group.members[p % group.members.length].assigned.push(p);
  }

  admin() {
    this.record('admin');
    return {
      connect: async () => (this.record('admin.connect'), this.check()),
      disconnect: async () => this.record('admin.disconnect'),
      listTopics: async () => (this.record('admin.listTopics'), this.check(), [...this.topics.keys()]),
      describeCluster: async () => {
        this.record('admin.describeCluster');
        this.check();
        return { brokers: Array.from({ length: this.brokers }, (_, i) => ({ nodeId: i, host: `kafka-${i}`, port: 9092 })), controller: 0, clusterId: 'fake-cluster' };
      },
      createTopics: async (req: { topics: { topic: string; numPartitions: number; replicationFactor?: number }[] }) => {
        this.record('admin.createTopics', req);
        this.check();
        const refused = req.topics.filter((t) => (t.replicationFactor ?? -1) > this.brokers);
        if (refused.length > 0) {
          throw new KafkaJSAggregateError(
            'Topic creation errors',
            refused.map((t) => new KafkaJSCreateTopicError(PROTOCOL_ERRORS.INVALID_REPLICATION_FACTOR, t.topic)),
          );
        }
        let created = false;
        for (const t of req.topics) {
          if (this.topics.has(t.topic)) continue;
          this.topics.set(t.topic, Array.from({ length: t.numPartitions }, () => []));
          created = true;
        }
        return created;
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
    const member: Member = { id: `member-${++this.memberSeq}`, generation: -1, assigned: [], positions: new Map() };
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
    /** Joins the group's current generation: fetch positions start again from the committed offsets. */
    const join = () => {
      const group = self.group(groupId);
      member.generation = group.generation;
      member.positions = new Map(member.assigned.map((p) => [p, offsets().get(`${topic}:${p}`) ?? 0n]));
      self.record('consumer.join', member.id, group.generation, [...member.assigned]);
      emit('consumer.group_join', { groupId, memberId: member.id, memberAssignment: { [topic]: [...member.assigned] } });
    };
    const consumer = {
      events: { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash', DISCONNECT: 'consumer.disconnect', REBALANCING: 'consumer.rebalancing' },
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
        if (member.generation !== this.group(groupId).generation) {
          this.record('consumer.commitOffsets.fenced', member.id, list);
          throw new KafkaJSProtocolError(PROTOCOL_ERRORS.ILLEGAL_GENERATION as unknown as Error);
        }
        for (const o of list) offsets().set(`${o.topic}:${o.partition}`, BigInt(o.offset));
      },
      disconnect: async () => {
        this.record('consumer.disconnect');
        const wasRunning = running;
        running = false;
        await loop;
        if (wasRunning) {
          const group = this.group(groupId);
          group.members = group.members.filter((m) => m !== member);
          this.reassign(group, topic);
        }
        emit('consumer.disconnect');
      },
      run: async (runConfig: { eachBatch: (p: unknown) => Promise<void> } & Record<string, unknown>) => {
        this.record('consumer.run', runConfig);
        running = true;
        const group = this.group(groupId);
        group.members.push(member);
        this.reassign(group, topic);
        join();
        loop = (async () => {
          while (running) {
            // A topic created (or grown) after the group formed: kafkajs's metadata refresh rebalances.
            const current = self.group(groupId);
            const partitionCount = self.topics.get(topic)?.length ?? 0;
            if (current.members.reduce((n, m) => n + m.assigned.length, 0) !== partitionCount) self.reassign(current, topic);
            if (member.generation !== current.generation) {
              emit('consumer.rebalancing', { groupId, memberId: member.id });
              join();
            }
            const generation = member.generation;
            const parts = self.topics.get(topic) ?? [];
            await Promise.all(
              member.assigned.map(async (partition) => {
                const log = parts[partition];
                if (!log || paused.has(partition) || self.down || self.held.has(partition)) return;
                const from = member.positions.get(partition) ?? 0n;
                const limit = Math.min(self.maxBatch, self.lagging.get(partition) ?? self.maxBatch);
                const batchMessages = log.slice(Number(from), Number(from) + limit);
                if (batchMessages.length === 0) return;
                const last = batchMessages[batchMessages.length - 1].offset;
                try {
                  await runConfig.eachBatch({
                    batch: {
                      topic,
                      partition,
                      messages: batchMessages.map((m) => ({ offset: m.offset, key: m.key === null ? null : Buffer.from(m.key), value: m.value })),
                      firstOffset: () => batchMessages[0].offset,
                      lastOffset: () => last,
                      isEmpty: () => false,
                    },
                    resolveOffset: (o: string) => {
                      this.record('consumer.resolveOffset', partition, o);
                      if (member.generation === generation) member.positions.set(partition, BigInt(o) + 1n);
                    },
                    heartbeat: async () => undefined,
                    pause: () => {
                      this.record('consumer.pause', partition);
                      paused.add(partition);
                      return () => (this.record('consumer.resume', partition), paused.delete(partition));
                    },
                    isRunning: () => running,
                    isStale: () => false,
                  });
                } catch (err) {
                  if (isRebalancing(err)) {
                    // kafkajs: "The group is rebalancing, re-joining"; the batch goes to the partition's new owner.
                    this.record('consumer.rejoin', member.id, (err as { type?: string }).type);
                    return;
                  }
                  // kafkajs: the consumer crashes and restarts (restartOnFailure), fetching from the committed offsets.
                  this.record('consumer.crash', member.id, (err as Error).name);
                  emit('consumer.crash', { groupId, error: err, restart: true });
                  member.generation = -1;
                }
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
