/** The EventBus contract on every bus: in-process (to a chain writer on the in-memory store), Kafka (on FakeKafka), and the in-memory fake. */
import { ChainWriter } from '@app/pipeline/chain-writer';
import { InProcessEventBus } from '@app/pipeline/in-process-event-bus';
import { FakeKafka } from '@app/storage/kafka/fake-kafka';
import { KafkaEventBus } from '@app/storage/kafka/kafka-event-bus';
import { InMemoryEventBus } from '../fakes/in-memory-event-bus';
import { InMemoryEventStore } from '../fakes/in-memory-event-store';
import { describeEventBusContract } from './event-bus.contract';

describeEventBusContract('in-process', async () => {
  const store = new InMemoryEventStore();
  const writer = new ChainWriter(store, { maxGroupEvents: 1000 });
  await writer.start();
  return {
    bus: new InProcessEventBus(writer),
    durableIds: async () => store.state.records.map((r) => r.event.id),
    close: () => writer.drain(),
  };
});

describeEventBusContract('Kafka', async () => {
  const kafka = new FakeKafka();
  const bus = new KafkaEventBus(kafka.asKafka(), {
    topic: 'audit-events',
    partitions: 12,
    replicationFactor: 3,
    publishTimeoutMs: 200,
    brokers: ['kafka-1:9092'],
    tls: false,
    probeIntervalMs: 3_600_000,
  });
  return {
    bus,
    durableIds: async () => kafka.messages('audit-events').flat().map((m) => (JSON.parse(m.value!.toString()) as { id: string }).id),
    close: async () => undefined,
  };
});

describeEventBusContract('in-memory fake', async () => {
  const bus = new InMemoryEventBus();
  return { bus, durableIds: async () => bus.held.map((e) => e.event.id), close: async () => undefined };
});
