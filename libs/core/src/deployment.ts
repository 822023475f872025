/**
 * What the chosen infrastructure (libs/infrastructure: the embedded module or the scale-out one)
 * tells feature modules about the deployment they run in, so that none of them reads STORE or BUS
 * or asks which adapter sits behind a port. Bound under DEPLOYMENT by the infrastructure module.
 */
export const DEPLOYMENT = Symbol('DEPLOYMENT');

export interface Deployment {
  /**
   * The adapters reach servers outside the process (Kafka, Elasticsearch): they connect in the
   * background and readiness stays false until they are up (the embedded store opens at start).
   */
  readonly remoteServers: boolean;
  /**
   * Other instances write the same state (STORE=elasticsearch): alerts, context, overrides and
   * deliveries arrive from them too, so readers poll for others' writes.
   */
  readonly sharedState: boolean;
  /**
   * The events are in this data dir's SQLite database: worker threads may open it (verification),
   * and retention runs delete from it.
   */
  readonly eventsInDataDir: boolean;
}

/** The embedded default (memory bus, SQLite store): what a deployment is when nothing else is said. */
export const EMBEDDED_DEPLOYMENT: Deployment = { remoteServers: false, sharedState: false, eventsInDataDir: true };
