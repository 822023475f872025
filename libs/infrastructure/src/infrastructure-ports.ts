/**
 * The ports both infrastructure modules bind (and export): a feature module injects these tokens,
 * never an adapter class. A token added here must be bound by both modules (Nest refuses to
 * export a token its module does not provide, so a missing binding stops the start).
 */
import { DEPLOYMENT } from '@app/core';
import { BUS_CONSUMER, CHAIN_READERS, CHECKPOINT_STORE, ChainReaderSource, CheckpointStore, EVENT_BUS, EVENT_STORE, EventStore, SQLITE_DB, SqliteDb } from '@app/storage';

export const INFRASTRUCTURE_EXPORTS = [DEPLOYMENT, SQLITE_DB, EVENT_STORE, CHECKPOINT_STORE, CHAIN_READERS, EVENT_BUS, BUS_CONSUMER];

/** The infrastructure as a command-line tool opens it (infrastructure.ts, openInfrastructure): the stores a command reads. */
export interface OpenedInfrastructure {
  kind: 'sqlite' | 'elasticsearch';
  events: EventStore;
  checkpoints: CheckpointStore;
  /** What verification reads the chains through (CHAIN_READERS of the service). */
  chainReaders: ChainReaderSource;
  /** The data dir's database (the embedded infrastructure only). */
  db: SqliteDb | null;
  close(): Promise<void>;
}

/** The infrastructure's servers cannot be reached (the message says which and what to check; no data in it). */
export class InfrastructureUnreachableError extends Error {}
