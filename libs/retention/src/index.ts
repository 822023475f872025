/**
 * Retention library: the retention policy model (per-category windows and tiers, from
 * RETENTION_CONFIG or built-in defaults) and legal holds (model, isHeld, the LegalHoldStore port
 * with its SQLite adapter, and the hold use cases). The retention runner builds on these.
 */
export * from './retention-duration';
export * from './retention-policy';
export * from './retention-policy-file';
export * from './legal-hold';
export * from './legal-hold-store.port';
export * from './sqlite-legal-hold-store';
export * from './legal-hold.service';
export * from './retention-plan';
export * from './sqlite-retention-runner';
export * from './cold-archive';
export * from './retention-run.service';
export * from './retention-run.port';
export * from './retention-run-records.port';
