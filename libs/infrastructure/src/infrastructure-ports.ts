/**
 * The ports both infrastructure modules bind (and export): a feature module injects these tokens,
 * never an adapter class. A token added here must be bound by both modules (Nest refuses to
 * export a token its module does not provide, so a missing binding stops the start).
 */
import { CONSOLE_ACCOUNTS, ConsoleAccounts } from '@app/console/console-accounts.port';
import { SIGN_IN_FAILURES } from '@app/console/sign-in-failures.port';
import { CONTEXT_STORE } from '@app/context/context-store.port';
import { DEPLOYMENT } from '@app/core';
import { LEGAL_HOLD_STORE } from '@app/retention/legal-hold-store.port';
import { ES_RETENTION_RUNNER, ES_RETENTION_RUN_RECORDS, LEGAL_HOLD_ENFORCEMENT } from '@app/retention/retention-enforcement.port';
import { REVOCATIONS } from '@app/security/revocations.port';
import { ALERT_STORE, AlertStore, RULE_OVERRIDE_STORE, SHARED_ALERT_INDEX } from '@app/detection';
import { DELIVERY_OUTBOX } from '@app/detection/delivery/delivery-outbox.port';
import { ALERT_OUTBOX, DETECTION_STATE } from '@app/detection/service/detection-state.port';
import { BUS_CONSUMER, CHAIN_READERS, CHECKPOINT_STORE, ChainReaderSource, CheckpointStore, EVENT_BUS, EVENT_STORE, EventStore, SQLITE_DB, SqliteDb } from '@app/storage';

export const INFRASTRUCTURE_EXPORTS = [
  DEPLOYMENT,
  SQLITE_DB,
  // The pipeline: events, signed checkpoints, what verification reads chains through, the bus and the chain-writer consumer.
  EVENT_STORE,
  CHECKPOINT_STORE,
  CHAIN_READERS,
  EVENT_BUS,
  BUS_CONSUMER,
  // Detection and delivery.
  ALERT_STORE,
  SHARED_ALERT_INDEX,
  DETECTION_STATE,
  ALERT_OUTBOX,
  RULE_OVERRIDE_STORE,
  DELIVERY_OUTBOX,
  // Context feeds, console accounts and failed sign-ins.
  CONTEXT_STORE,
  CONSOLE_ACCOUNTS,
  SIGN_IN_FAILURES,
  // Compliance and credential revocations.
  LEGAL_HOLD_STORE,
  LEGAL_HOLD_ENFORCEMENT,
  ES_RETENTION_RUNNER,
  ES_RETENTION_RUN_RECORDS,
  REVOCATIONS,
];

/** The infrastructure as a command-line tool opens it (infrastructure.ts, openInfrastructure): the stores a command reads. */
export interface OpenedInfrastructure {
  kind: 'sqlite' | 'elasticsearch';
  events: EventStore;
  checkpoints: CheckpointStore;
  /** What verification reads the chains through (CHAIN_READERS of the service). */
  chainReaders: ChainReaderSource;
  /** The data dir's database (the embedded infrastructure only). */
  db: SqliteDb | null;
  /** Where the service keeps alerts (the data dir's alert table or the cluster's alert index). */
  alerts(): Promise<AlertStore>;
  /** The accounts the service signs people in with. */
  consoleAccounts(): Promise<ConsoleAccounts>;
  close(): Promise<void>;
}

/** The infrastructure's servers cannot be reached (the message says which and what to check; no data in it). */
export class InfrastructureUnreachableError extends Error {}
