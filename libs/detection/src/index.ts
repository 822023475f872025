/**
 * Detection: rule files, the streaming engine, alerts and their lifecycle, the AlertStore port,
 * runbooks and rule examples. Pure logic: no database, no HTTP (adapters live elsewhere).
 */
export * from './alert';
export * from './alert-lifecycle';
export * from './alert-cases';
export * from './alert-store.port';
export * from './compiled-rule';
export * from './condition-compiler';
export * from './detection-engine';
export * from './duration';
export * from './event-fields';
export * from './event-ref';
export * from './event-time';
export * from './evidence';
export * from './rule-examples';
export * from './rule-loader';
export * from './rule-override-store.port';
export * from './rule-overrides';
export * from './rule.schema';
export * from './runbook-renderer';
export * from './zone-clock';
export * from './baselines';
export * from './event-facts';
export * from './in-memory-access-context';
export * from './service-alerts';
export * from './shared-alert-index.port';
