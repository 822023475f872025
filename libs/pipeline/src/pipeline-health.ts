/** What /health/ready reports of the pipeline (readiness.service.ts): the store and the bus (with its consumer) are usable. */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { BUS_CONSUMER, BusConsumer, EVENT_BUS, EVENT_STORE, EventBus, EventStore } from '@app/storage';
import { ChainWriter } from './chain-writer';

@Injectable()
export class PipelineHealth {
  constructor(
    private readonly writer: ChainWriter,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(EVENT_BUS) private readonly bus: EventBus,
    @Optional() @Inject(BUS_CONSUMER) private readonly consumer: BusConsumer | null,
  ) {}

  /** A consumer fault readiness names (a bus message the chain writer cannot open), or null. */
  busFault(): string | null {
    return this.consumer?.fault() ?? null;
  }

  checks(): { storage: boolean; bus: boolean } {
    return { storage: this.store.isReady(), bus: this.writer.running && this.bus.isReady() && (this.consumer?.isReady() ?? true) };
  }
}
