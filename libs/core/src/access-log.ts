/**
 * The access log: reads of the audit data (queries, views, proofs, exports, reports, alert views,
 * re-identifications) are themselves recorded as canonical events in their own hash chain, so they
 * are verified, checkpointed and retained like every other chain, and kept apart from the events
 * integrations post (event queries never return them; `GET /v1/access-log` does).
 */
export const ACCESS_LOG_CHAIN = 'access_log';

/** `source.system` of access-log records: written by this service, never by an integration. */
export const ACCESS_LOG_SOURCE_SYSTEM = 'audit-siem';
