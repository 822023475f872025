/**
 * Nest wiring of alert delivery: reads ALERT_DESTINATIONS_FILE at start (a bad file stops the
 * service naming the key), opens the outbox the infrastructure module binds (DELIVERY_OUTBOX: the
 * embedded one's trigger on the alerts table, or the outbox in the cluster every instance shares),
 * runs the dispatcher from
 * start-up to shutdown (with no destinations it only logs one "alert raised" line per stored alert), and exposes per-destination status to the API
 * (GET /v1/alert-destinations) and to /metrics (for callers who may read alerts or operations), and
 * sends test messages for the console's admin page.
 */
import { BeforeApplicationShutdown, Inject, Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { APP_CONFIG, AppConfig, DEPLOYMENT, Deployment, alertDeliveryPollMs } from '@app/core';
import { MetricsService } from '@app/pipeline';
import { embeddedTextSealer, patientTokenizerFor } from '@app/security';
import { EVENT_STORE, EventStore } from '@app/storage';
import { DetectionModule } from '../service/detection.module';
import { AlertDispatcher, DeliveryLog, DestinationStatus, DispatcherOptions, TestDeliveryResult } from './alert-dispatcher';
import { DELIVERY_OUTBOX, DeliveryOutboxOpener, DeliveryOutboxPort } from './delivery-outbox.port';
import { DestinationsConfig, loadDestinations } from './destinations-config';
import { senderFor } from './senders';

export const ALERT_DESTINATIONS = Symbol('ALERT_DESTINATIONS');

/** Default base of alert links: the service's own console. */
export function defaultConsoleUrl(config: AppConfig): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.insecureHttp ? 'http' : 'https'}://${host}:${config.port}`;
}

/** Delivery facts as JSON log lines (identifier-looking field names are dropped by the logger). */
export function deliveryLog(logger: Logger): DeliveryLog {
  return { fact: (level, msg, fields) => (level === 'warn' ? logger.warn({ fact: msg, ...fields }) : logger.log({ fact: msg, ...fields })) };
}

/** A claim covers one send and recording its outcome; what a pass does not reach is handed back. */
export function deliveryClaimMs(destinations: DestinationsConfig): number {
  return Math.max(10_000, 3 * Math.max(0, ...destinations.destinations.map((d) => d.timeoutMs ?? 0)));
}

export function dispatcherFor(
  outbox: DeliveryOutboxPort,
  config: AppConfig,
  deployment: Pick<Deployment, 'sharedState'>,
  destinations: DestinationsConfig,
  logger: Logger,
  options: DispatcherOptions = {},
): AlertDispatcher {
  const tokenizer = patientTokenizerFor(config);
  return new AlertDispatcher(
    outbox,
    destinations.destinations.map((d) => ({ d, sender: senderFor(d) })),
    { token: (id) => tokenizer.token(id) },
    destinations.consoleUrl ?? defaultConsoleUrl(config),
    deliveryLog(logger),
    embeddedTextSealer(config),
    { intervalMs: alertDeliveryPollMs(config, deployment), ...options },
  );
}

@Injectable()
export class AlertDeliveryService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AlertDelivery');

  private readonly configured: boolean;

  constructor(
    @Inject(ALERT_DESTINATIONS) private readonly dispatcher: AlertDispatcher | null,
    @Inject(APP_CONFIG) config: AppConfig,
    metrics: MetricsService,
  ) {
    this.configured = dispatcher !== null && !!config.alertDestinationsFile;
    if (!dispatcher || !this.configured) return;
    const registers = [metrics.restrictedRegistry];
    const gauge = (name: string, help: string, pick: (s: DestinationStatus) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['destination'] as const,
        registers,
        collect() {
          for (const s of dispatcher.status()) {
            const v = pick(s);
            if (v !== null) this.set({ destination: s.name }, v);
          }
        },
      });
    gauge('audit_alert_delivery_queue_depth', 'Deliveries waiting (pending) per alert destination.', (s) => s.queueDepth);
    gauge('audit_alert_delivery_delivered', 'Alert deliveries that reached the destination.', (s) => s.delivered);
    gauge('audit_alert_delivery_dead_letters', 'Alert deliveries given up after the dead-letter age.', (s) => s.deadLetters);
    gauge('audit_alert_delivery_failures', 'Failed delivery attempts since start.', (s) => s.failures);
    gauge('audit_alert_delivery_last_success_seconds', 'Unix time of the last successful delivery.', (s) => (s.lastSuccessAt ? Date.parse(s.lastSuccessAt) / 1000 : null));
  }

  /** null: no ALERT_DESTINATIONS_FILE. */
  status(): DestinationStatus[] | null {
    return this.configured ? this.dispatcher!.status() : null;
  }

  /** A test message to one destination; null: no destinations file; undefined: no such name. */
  async testSend(name: string): Promise<TestDeliveryResult | undefined | null> {
    if (!this.configured) return null;
    return this.dispatcher!.testSend(name);
  }

  onApplicationBootstrap(): void {
    if (!this.dispatcher) return;
    this.dispatcher.start();
    if (this.configured) this.logger.log({ fact: 'alert delivery on', destinations: this.dispatcher.status().map((s) => s.name).join(',') });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.dispatcher?.stop();
  }
}

@Module({
  imports: [DetectionModule],
  providers: [
    {
      provide: ALERT_DESTINATIONS,
      inject: [DELIVERY_OUTBOX, APP_CONFIG, DEPLOYMENT, EVENT_STORE],
      useFactory: async (openOutbox: DeliveryOutboxOpener, config: AppConfig, deployment: Deployment, events: EventStore): Promise<AlertDispatcher | null> => {
        const destinations: DestinationsConfig = config.alertDestinationsFile ? await loadDestinations(config.alertDestinationsFile) : { destinations: [] };
        // Passes wait for the store: on Elasticsearch the shared outbox's indices exist once it is up.
        return dispatcherFor(openOutbox(deliveryClaimMs(destinations)), config, deployment, destinations, new Logger('AlertDelivery'), { ready: () => events.isReady() });
      },
    },
    AlertDeliveryService,
  ],
  exports: [AlertDeliveryService],
})
export class AlertDeliveryModule {}
