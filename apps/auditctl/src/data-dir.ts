/**
 * Resolves `--data-dir` (default: DATA_DIR, then ./data) and the configuration the CLI shares with
 * the service; checks that a data dir holds the service's token signing key before minting with it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AppConfig, loadConfig } from '@app/core';
import { TOKEN_KEY_FILE } from '@app/security';

export function resolveDataDir(option?: string): string {
  return path.resolve(option ?? process.env.DATA_DIR ?? './data');
}

export function cliConfig(dataDirOption?: string): AppConfig {
  return loadConfig(process.env, { dataDir: resolveDataDir(dataDirOption) });
}

/**
 * Why tokens minted from this data dir would be useless (the service creates the token signing key
 * when it starts, so a data dir it never ran on has none), or null when the key is there. With
 * TOKEN_JWKS_URL the key is not used (minting is refused elsewhere).
 */
export function missingTokenKey(config: AppConfig): string | null {
  if (config.tokenJwksUrl) return null;
  const hint = 'start the service once on that data dir, or check --data-dir / DATA_DIR';
  if (!fs.existsSync(config.dataDir)) return `no data directory at ${config.dataDir}: ${hint}`;
  if (!fs.existsSync(path.join(config.dataDir, TOKEN_KEY_FILE))) {
    return `no token signing key in ${config.dataDir} (${TOKEN_KEY_FILE}), so the service would reject the token: ${hint}`;
  }
  return null;
}
