/**
 * The scale-out adapters (Elasticsearch EventStore and CheckpointStore, Kafka EventBus and BusConsumer) and their
 * client factories. Kept out of the storage index on purpose: loading @elastic/elasticsearch and
 * kafkajs costs about a second at start-up, which the embedded default (and every CLI command)
 * should not pay. Import this module lazily (`await import('@app/storage/scale-out-adapters')`)
 * where BUS=kafka or STORE=elasticsearch is selected.
 */
export * from './elasticsearch/es-event-store';
export * from './elasticsearch/es-checkpoint-store';
export * from './elasticsearch/es-revocation-store';
export * from './elasticsearch/es-hold-reconciler';
export * from './elasticsearch/es-retention-runner';
export * from './elasticsearch/es-requests';
export * from './elasticsearch/es-client';
export * from './kafka/chain-partitioner';
export * from './kafka/kafka-client';
export * from './kafka/kafka-event-bus';
export * from './kafka/kafka-event-consumer';
export * from './kafka/sealed-bus-message';
