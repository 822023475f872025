/**
 * The store a CLI command reads: the data dir's embedded SQLite store (hot and warm tiers), or,
 * with STORE=elasticsearch, the cluster the service writes to, through the same adapters the
 * service uses (infrastructureFor, libs/infrastructure). Keys (signing keyring, data keys,
 * tokenization key) come from the data dir either way, as for the service. Commands that only
 * work on the embedded store refuse STORE=elasticsearch with exit code 2 (refuseOnElasticsearch)
 * instead of reading an empty local file and reporting on it.
 */
import * as fs from 'node:fs';
import type { AppConfig } from '@app/core';
import { InfrastructureUnreachableError, OpenedInfrastructure, infrastructureFor } from '@app/infrastructure';
import { databasePath } from '@app/storage';
import { recordCliRead } from './access-log';

/** The stores the service's infrastructure opens for a command (OpenedInfrastructure), and the command's access log. */
export interface CliStore extends OpenedInfrastructure {
  /** Records the command's read in the access log of this store. */
  recordRead(command: string, input: Parameters<typeof recordCliRead>[3]): Promise<void>;
}

/** The events are in another place than the data dir's database (STORE=elasticsearch). */
export function usesElasticsearch(config: AppConfig): boolean {
  return !infrastructureFor(config).deployment.eventsInDataDir;
}

/**
 * Opens the configured store (infrastructureFor(config).open(), the service's own choice), or
 * prints why it cannot (no database in the data dir, cluster not reachable) and sets exit code 2,
 * returning null.
 */
export async function openCliStore(command: string, config: AppConfig): Promise<CliStore | null> {
  const infrastructure = infrastructureFor(config);
  if (infrastructure.deployment.eventsInDataDir && !fs.existsSync(databasePath(config.dataDir))) {
    process.stderr.write(`auditctl ${command}: no audit database in ${config.dataDir} (use --data-dir)\n`);
    process.exitCode = 2;
    return null;
  }
  try {
    const opened = await infrastructure.open();
    return { ...opened, recordRead: (cmd, input) => recordCliRead(cmd, opened.db, opened.events, input) };
  } catch (err) {
    if (!(err instanceof InfrastructureUnreachableError)) throw err;
    process.stderr.write(`auditctl ${command}: ${err.message}\n`);
    process.exitCode = 2;
    return null;
  }
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
