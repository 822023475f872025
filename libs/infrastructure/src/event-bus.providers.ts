/**
 * The event bus and the chain-writer consumer, for either infrastructure module: in process (the
 * bus hands batches straight to the chain writer; no consumer) or Kafka (BUS=kafka: the bus
 * publishes, the consumer feeds the chain writer). Which one is decided in infrastructure.ts only.
 */
import type { Provider } from '@nestjs/common';
import { APP_CONFIG, AppConfig, KafkaSettings } from '@app/core';
import { ChainWriter, InProcessEventBus, kafkaBusConsumer, kafkaEventBus } from '@app/pipeline';
import { embeddedFieldProtection } from '@app/security';
import { BUS_CONSUMER, BusConsumer, EVENT_BUS, EventBus } from '@app/storage';

export function inProcessBusProviders(): Provider[] {
  return [
    { provide: EVENT_BUS, inject: [ChainWriter], useFactory: (writer: ChainWriter): EventBus => new InProcessEventBus(writer) },
    { provide: BUS_CONSUMER, useValue: null },
  ];
}

/** Messages seal `patient.id`, `actor.ip` and `query.text` with the data keys (never on the topic in clear). */
export function kafkaBusProviders(settings: KafkaSettings): Provider[] {
  return [
    {
      provide: EVENT_BUS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Promise<EventBus> => kafkaEventBus(settings, config.integrity?.chainShards ?? 1, embeddedFieldProtection(config)),
    },
    { provide: BUS_CONSUMER, inject: [APP_CONFIG], useFactory: (config: AppConfig): Promise<BusConsumer> => kafkaBusConsumer(settings, embeddedFieldProtection(config)) },
  ];
}
