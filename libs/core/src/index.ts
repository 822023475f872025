/** Shared vocabulary of the service: the canonical event, its validation, problem errors, configuration. */
export * from './access-event';
export * from './access-event.schema';
export * from './event-validator';
export * from './problem';
export * from './config';
export * from './config.module';
