/** Resolves `--data-dir` (default: DATA_DIR, then ./data) and the configuration the CLI shares with the service. */
import * as path from 'node:path';
import { AppConfig, loadConfig } from '@app/core';

export function resolveDataDir(option?: string): string {
  return path.resolve(option ?? process.env.DATA_DIR ?? './data');
}

export function cliConfig(dataDirOption?: string): AppConfig {
  return loadConfig(process.env, { dataDir: resolveDataDir(dataDirOption) });
}
