/**
 * The store a CLI command reads: the data dir's embedded SQLite store (hot and warm tiers), or,
 * with STORE=elasticsearch, the cluster the service writes to, through the same adapters the
 * service uses (createEventStore / createCheckpointStore). Keys (signing keyring, data keys,
 * tokenization key) come from the data dir either way, as for the service. Commands that only
 * work on the embedded store refuse STORE=elasticsearch with exit code 2 (refuseOnElasticsearch)
 * instead of reading an empty local file and reporting on it.
 */
import * as fs from 'node:fs';
import type { AppConfig } from '@app/core';
import { createCheckpointStore, createEventStore } from '@app/pipeline';
import { embeddedFieldProtection } from '@app/security';
import { CheckpointStore, EventStore, SqliteCheckpointStore, SqliteDb, TieredSqliteEventStore, databasePath, openDatabase } from '@app/storage';
import { recordCliRead } from './access-log';

export interface CliStore {
  kind: 'sqlite' | 'elasticsearch';
  events: EventStore;
  checkpoints: CheckpointStore;
  /** The embedded database (sqlite only). */
  db: SqliteDb | null;
  /** Records the command's read in the access log of this store. */
  recordRead(command: string, input: Parameters<typeof recordCliRead>[3]): Promise<void>;
  close(): Promise<void>;
}

export function usesElasticsearch(config: AppConfig): boolean {
  return config.scaleOut?.store === 'elasticsearch';
}

/**
 * Opens the configured store, or prints why it cannot (no database in the data dir, cluster not
 * reachable) and sets exit code 2, returning null.
 */
export async function openCliStore(command: string, config: AppConfig): Promise<CliStore | null> {
  if (!usesElasticsearch(config)) {
    if (!fs.existsSync(databasePath(config.dataDir))) {
      process.stderr.write(`auditctl ${command}: no audit database in ${config.dataDir} (use --data-dir)\n`);
      process.exitCode = 2;
      return null;
    }
    const db = openDatabase(config.dataDir);
    // Sealed fields are opened on read: the chain covers the plaintext records.
    const events = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
    return {
      kind: 'sqlite',
      events,
      checkpoints: new SqliteCheckpointStore(db),
      db,
      recordRead: (cmd, input) => recordCliRead(cmd, db, events, input),
      close: () => events.close(),
    };
  }
  const events = await createEventStore(
    config,
    () => {
      throw new Error('unreachable: STORE=elasticsearch');
    },
    () => embeddedFieldProtection(config),
  );
  const { ElasticsearchEventStore, describeEsError } = await import('@app/storage/scale-out-adapters');
  if (events instanceof ElasticsearchEventStore) {
    try {
      await events.client.info();
    } catch (err) {
      await events.close();
      process.stderr.write(`auditctl ${command}: ${describeEsError(err, config.scaleOut?.elasticsearch?.url)}\n`);
      process.exitCode = 2;
      return null;
    }
  }
  const checkpoints = await createCheckpointStore(config, events, () => {
    throw new Error('unreachable: STORE=elasticsearch');
  });
  return {
    kind: 'elasticsearch',
    events,
    checkpoints,
    db: null,
    recordRead: (cmd, input) => recordCliRead(cmd, null, events, input),
    close: () => events.close(),
  };
}

/**
 * For commands that work on the embedded store only: with STORE=elasticsearch, says what to use
 * instead and sets exit code 2 (true); never reports on an empty local store.
 */
export function refuseOnElasticsearch(command: string, config: AppConfig, instead: string): boolean {
  if (!usesElasticsearch(config)) return false;
  process.stderr.write(`auditctl ${command}: STORE=elasticsearch: this command works on the embedded store only; ${instead}\n`);
  process.exitCode = 2;
  return true;
}
