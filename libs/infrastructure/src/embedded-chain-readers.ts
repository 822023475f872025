/**
 * The embedded infrastructure's ChainReaderSource (CHAIN_READERS): readers of the data dir's
 * database, each over its own read-only connection, with the data dir's keys. Worker threads
 * open theirs through this same module (`openChainReader`, named by the worker source), so
 * verification never opens the database itself and the service and `auditctl` read chains the
 * same way. Imports are by file, not by library index, to keep worker start-up light.
 */
import * as path from 'node:path';
import { embeddedFieldProtection } from '@app/security/field-protection';
import type { ChainReader, ChainReaderSource } from '@app/storage/chain-reader.port';
import { SqliteVerificationReader } from '@app/storage/sqlite/sqlite-verification-reader';
import { embeddedVerificationPath } from '@app/storage/sqlite/native-chain-check';

/** Where the data dir and its keys are (the config's fields of the same names). */
export interface EmbeddedChainReaderOptions {
  dataDir: string;
  dataKeysDir?: string;
  tokenizationKeyFile?: string;
  [key: string]: string | undefined;
}

/** A reader of the data dir in this thread (also the worker threads' entry: ChainReaderModule). */
export function openChainReader(options: Record<string, string | undefined>): ChainReader {
  const dataDir = options.dataDir;
  if (!dataDir) throw new Error('openChainReader: dataDir is required');
  return SqliteVerificationReader.open(dataDir, embeddedFieldProtection({ dataDir, dataKeysDir: options.dataKeysDir, tokenizationKeyFile: options.tokenizationKeyFile }));
}

/**
 * Readers of the data dir for verification: in this thread, and in worker threads when this module
 * runs compiled (under ts-jest there is no .js to load in a thread: verification stays in-process).
 */
export function embeddedChainReaders(config: { dataDir: string; dataKeysDir?: string; tokenizationKeyFile?: string }): ChainReaderSource {
  const options: EmbeddedChainReaderOptions = { dataDir: config.dataDir, dataKeysDir: config.dataKeysDir, tokenizationKeyFile: config.tokenizationKeyFile };
  const compiled = path.extname(__filename) === '.js';
  return {
    open: () => openChainReader(options),
    worker: compiled ? { module: __filename, options } : null,
    snapshots: true,
    path: () => embeddedVerificationPath().describe,
  };
}
