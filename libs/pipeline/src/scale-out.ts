/**
 * The scale-out adapters' factories (Elasticsearch event and checkpoint stores, Kafka bus and
 * consumer; which of them a deployment uses is chosen once, in libs/infrastructure) and their
 * start-up: connect to Elasticsearch and declare its indices, start the chain writer and the
 * checkpoint sealer, connect the Kafka producer, join the chain-writer consumer group. Until
 * every step has succeeded readiness is false and ingestion answers 503; a failing step is logged
 * with the setting to check and retried, so a service that starts before its servers becomes
 * ready when they appear.
 */
import { Logger } from '@nestjs/common';
import type { AppConfig, KafkaSettings } from '@app/core';
import { BusConsumer, CheckpointStore, EventBus, EventStore, FieldProtection } from '@app/storage';
import type { ElasticsearchEventStore, KafkaLike } from '@app/storage/scale-out-adapters';
import { BusChainFeeder } from './bus-chain-feeder';
import { ChainWriter } from './chain-writer';
import { MetricsService } from './metrics.service';
import type { ScaleOutSealer } from './scale-out-sealer.port';

const logger = new Logger('ScaleOut');

type LogFn = (level: 'error' | 'warn' | 'info', msg: string, fields?: Record<string, unknown>) => void;

export const scaleOutLog: LogFn = (level, msg, fields) => {
  const text = fields && Object.keys(fields).length > 0 ? `${msg} (${Object.entries(fields).map(([k, v]) => `${k}=${String(v)}`).join(', ')})` : msg;
  if (level === 'error') logger.error(text);
  else if (level === 'warn') logger.warn(text);
  else logger.log(text);
};

/** The Elasticsearch and Kafka clients load only when selected (about a second of start-up otherwise). */
const adapters = () => import('@app/storage/scale-out-adapters');

/**
 * The Elasticsearch event store (STORE=elasticsearch; chosen in libs/infrastructure). `protection`
 * (the data keys and the patient tokenizer) seals `patient.id` and `actor.ip` in Elasticsearch as
 * in the embedded store: required, so no caller can write them in clear.
 */
export async function elasticsearchEventStore(config: AppConfig, protection: FieldProtection): Promise<ElasticsearchEventStore> {
  const es = config.scaleOut?.elasticsearch;
  if (!es) throw new Error('ELASTICSEARCH_URL: required when STORE=elasticsearch');
  const retention = await elasticsearchRetention(config);
  const { ElasticsearchEventStore: Store, createElasticsearchClient, elasticsearchStoreOptions } = await adapters();
  return new Store(createElasticsearchClient(es), { ...elasticsearchStoreOptions(es, retention), protection }, scaleOutLog);
}

/**
 * STORE=elasticsearch: the ILM windows of every class from the retention policy the embedded store
 * would apply (RETENTION_CONFIG or the built-in defaults). ELASTICSEARCH_WARM_AFTER /
 * ELASTICSEARCH_COLD_AFTER that disagree with it stop the start with a message naming both.
 * Loaded lazily (deep imports of pure modules: the retention library's index depends on this one).
 */
export async function elasticsearchRetention(config: AppConfig) {
  const { loadRetentionPolicy } = await import('@app/retention/retention-policy-file');
  const { esRetentionClasses, esRetentionConflicts, shortestTiers } = await import('@app/retention/es-retention-classes');
  const { policy, source } = loadRetentionPolicy(config.compliance?.retentionConfigFile);
  const conflicts = esRetentionConflicts(policy, source, config.scaleOut?.elasticsearch ?? {});
  if (conflicts.length > 0) throw new Error(conflicts.join('\n'));
  return { classes: esRetentionClasses(policy), ...shortestTiers(policy) };
}

/** Checkpoints in the cluster the Elasticsearch event store uses (same client). */
export async function elasticsearchCheckpointStore(events: ElasticsearchEventStore): Promise<CheckpointStore> {
  const { ElasticsearchCheckpointStore } = await adapters();
  return new ElasticsearchCheckpointStore(events.client, {
    checkpointsIndex: events.options.checkpointsIndex,
    blocksIndex: events.layout.blocksIndex,
    purgedIndex: events.layout.purgedIndex,
  });
}

/** One kafkajs client per Kafka settings object (the bus and the consumer share it). */
const kafkaClients = new WeakMap<KafkaSettings, KafkaLike>();

/**
 * Makes the service use `kafka` for these settings instead of connecting to KAFKA_BROKERS: how
 * tests run the whole service on the kafkajs double (FakeKafka) through HTTP.
 */
export function provideKafkaClient(settings: KafkaSettings, kafka: KafkaLike): void {
  kafkaClients.set(settings, kafka);
}

async function kafkaFor(settings: KafkaSettings): Promise<KafkaLike> {
  let k = kafkaClients.get(settings);
  if (!k) kafkaClients.set(settings, (k = (await adapters()).createKafka(settings, scaleOutLog)));
  return k;
}

/**
 * The Kafka bus (BUS=kafka; chosen in libs/infrastructure), which seals `patient.id`, `actor.ip`
 * and `query.text` in every message with the data keys of `protection` (required, so no caller can
 * put them on the topic in clear).
 */
export async function kafkaEventBus(settings: KafkaSettings, chainShards: number, protection: FieldProtection): Promise<EventBus> {
  const { KafkaEventBus, SealedBusMessages } = await adapters();
  return new KafkaEventBus(await kafkaFor(settings), { ...settings, chainShards, sealer: new SealedBusMessages(protection.dataKeys) }, scaleOutLog);
}

/** The chain-writer consumer of the Kafka bus; opens the sealed fields with the data keys of `protection`. */
export async function kafkaBusConsumer(settings: KafkaSettings, protection: FieldProtection): Promise<BusConsumer> {
  const { KafkaEventConsumer, SealedBusMessages } = await adapters();
  return new KafkaEventConsumer(await kafkaFor(settings), { ...settings, sealer: new SealedBusMessages(protection.dataKeys) }, scaleOutLog);
}

/** Brings the scale-out adapters up in the background (retrying) and down in order. */
export class ScaleOutRunner {
  private stopped = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private storeUp = false;
  private writerUp = false;
  private busUp = false;
  private consumerUp = false;
  private sealerUp = false;

  constructor(
    private readonly store: EventStore,
    private readonly writer: ChainWriter,
    private readonly bus: EventBus,
    private readonly consumer: BusConsumer | null,
    private readonly metrics?: MetricsService,
    private readonly retryMs = 5000,
    private readonly sealer?: ScaleOutSealer,
  ) {}

  /** Starts connecting; resolves at once (readiness reports progress). */
  start(): void {
    this.running ??= this.connectUntilUp();
  }

  /** Resolves once everything is up (tests and scripts); rejects never. */
  async whenUp(): Promise<void> {
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // A connect attempt in progress (a broker that does not answer) must not hold the shutdown.
    await Promise.race([this.running, new Promise((r) => setTimeout(r, 2000).unref())]);
    // Stop consuming first (the batch in hand finishes), then let queued commits finish, then disconnect.
    await this.consumer?.close();
    await this.writer.drain();
    if (this.sealerUp) await this.sealer?.stop().catch((err: Error) => scaleOutLog('warn', `sealing checkpoints at shutdown failed: ${err.name}`));
    await this.bus.close();
    await this.store.close();
  }

  private async connectUntilUp(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.storeUp) {
          await this.store.init();
          if (this.stopped) return;
          this.storeUp = true;
          scaleOutLog('info', 'event store connected');
        }
        if (!this.writerUp) {
          await this.writer.start();
          if (this.stopped) return;
          this.writerUp = true;
        }
        if (this.sealer && !this.sealerUp) {
          await this.sealer.start();
          if (this.stopped) return;
          this.sealerUp = true;
        }
        if (!this.busUp) {
          await this.bus.start();
          if (this.stopped) return;
          this.busUp = true;
          scaleOutLog('info', 'event bus connected');
        }
        if (this.consumer && !this.consumerUp) {
          await this.consumer.start(new BusChainFeeder(this.writer, 2000, this.metrics, scaleOutLog).handle);
          this.consumerUp = true;
          scaleOutLog('info', 'chain writer joined the consumer group');
        }
        return;
      } catch (err) {
        scaleOutLog('error', `${(err as Error).message}; readiness stays false, retrying in ${Math.round(this.retryMs / 1000)} s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.retryMs);
          this.wake = () => (clearTimeout(t), resolve());
        });
      }
    }
  }
}
