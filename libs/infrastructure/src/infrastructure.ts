/**
 * The one place the service's infrastructure is chosen from configuration: STORE picks the
 * embedded module (SQLite in the data dir) or the scale-out one (Elasticsearch), BUS the event
 * bus (in process or Kafka). Every port is bound by the chosen module; feature modules inject
 * ports by token and read what they need of the deployment from DEPLOYMENT. The CLI opens the
 * same stores through `open()`.
 */
import type { DynamicModule } from '@nestjs/common';
import type { AppConfig, Deployment } from '@app/core';
import type { RevocationStore } from '@app/storage';
import { EmbeddedInfrastructureModule, openEmbeddedInfrastructure, openEmbeddedRevocations } from './embedded-infrastructure.module';
import { inProcessBusProviders, kafkaBusProviders } from './event-bus.providers';
import type { OpenedInfrastructure } from './infrastructure-ports';
import { ScaleOutInfrastructureModule, openScaleOutInfrastructure, openScaleOutRevocations } from './scale-out-infrastructure.module';

export interface Infrastructure {
  readonly deployment: Deployment;
  /** The global module binding every port (imported once, by the app module). */
  readonly module: DynamicModule;
  /** The same stores for a command-line tool (auditctl), without Nest. */
  open(): Promise<OpenedInfrastructure>;
  /** The revocation store a command writes (`auditctl token revoke`, `auditctl certs`), opened alone (no event store). */
  openRevocations(): Promise<{ store: RevocationStore; close: () => Promise<void> }>;
}

export function infrastructureFor(config: AppConfig): Infrastructure {
  const kafka = config.scaleOut?.bus === 'kafka' ? config.scaleOut.kafka : undefined;
  const elasticsearch = config.scaleOut?.store === 'elasticsearch';
  const bus = kafka ? kafkaBusProviders(kafka) : inProcessBusProviders();
  const deployment: Deployment = { remoteServers: !!kafka || elasticsearch, sharedState: elasticsearch, eventsInDataDir: !elasticsearch };
  return {
    deployment,
    module: elasticsearch ? ScaleOutInfrastructureModule.forRoot(deployment, bus) : EmbeddedInfrastructureModule.forRoot(deployment, bus),
    open: elasticsearch ? () => openScaleOutInfrastructure(config) : async () => openEmbeddedInfrastructure(config),
    openRevocations: elasticsearch ? () => openScaleOutRevocations(config) : async () => openEmbeddedRevocations(config),
  };
}
