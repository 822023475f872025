/**
 * Detection as a running service (`@app/detection/service`): the SQLite AlertStore and progress
 * store, the streaming worker, backfill, metrics, the alert/rule use cases and the Nest module.
 * Kept apart from the pure library (`@app/detection`) so rule evaluation stays free of I/O.
 */
export * from './alerts.service';
export * from './alert-evidence.service';
export * from './cases.service';
export * from './alert-presentation';
export * from './backfill';
export * from './backfill-source.port';
export * from './detection-metrics';
export * from './detection-runtime';
export * from './detection-leadership';
export * from './detection-leadership.port';
export * from './committed-event-source.port';
export * from './detection-progress-store.port';
export * from './detection-state.port';
export * from './legacy-snapshot';
export * from './alert-outbox';
export * from './alert-importer.port';
export * from './detection-worker';
export * from './detection.module';
export * from './sqlite-alert-store';
export * from './sqlite-detection-state';
export * from './sqlite-rule-overrides';
export * from './rule-overrides.service';
export * from './service-alerts.service';
