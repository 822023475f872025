/** Shared vocabulary of the service: the canonical event, its validation, problem errors, configuration. */
export * from './access-event';
export * from './access-log';
export * from './access-event.schema';
export * from './event-validator';
export * from './problem';
export * from './identifiers';
export * from './unknown-members';
export * from './config';
export * from './scale-out-config';
export * from './detection-config';
export * from './integrity-config';
export * from './config.module';
export * from './access-audit';
export * from './compliance-config';
export * from './security-config';
export * from './console-config';
export * from './access-context';
