/**
 * Finds and loads the native fast path of chain verification (native/chain-check/chain_check.c: a
 * SQLite loadable extension built at install time by scripts/build-native.js) into a verifying
 * connection. Optional by design: when it is switched off (VERIFY_NATIVE=0), was not built, or does
 * not load, verification runs the JavaScript fast path (SqliteChainReader) and says which path it
 * took and why (`auditctl verify`, the integrity log line, the verify benchmark's header).
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SqliteDb } from './sqlite-database';

/** Where the build puts the extension, relative to the repository root. */
export const NATIVE_CHAIN_CHECK_FILE = path.join('native', 'chain-check', 'build', 'Release', 'chain_check.node');
const ENTRY_POINT = 'sqlite3_auditchaincheck_init';

/** Which verification path a reader uses, and why. */
export interface VerificationPath {
  native: boolean;
  /** One line for an operator: the path and, for the JavaScript one, why. */
  describe: string;
}

/** The built extension: the repository root is the first directory up from here holding package.json. */
export function nativeChainCheckFile(from = __dirname): string | null {
  for (let dir = from; ; ) {
    if (fs.existsSync(path.join(dir, 'package.json'))) {
      const file = path.join(dir, NATIVE_CHAIN_CHECK_FILE);
      return fs.existsSync(file) ? file : null;
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Whether VERIFY_NATIVE switches the native path off ("0", "false", "off", "no"). */
export function nativeVerificationDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.VERIFY_NATIVE?.trim().toLowerCase();
  return v === '0' || v === 'false' || v === 'off' || v === 'no';
}

/** Loads the extension into `db` when it is wanted and there; never throws. */
const SWITCHED_OFF: VerificationPath = { native: false, describe: 'JavaScript (native path switched off: VERIFY_NATIVE=0)' };

export function loadNativeChainCheck(db: SqliteDb | Database.Database, env: NodeJS.ProcessEnv = process.env): VerificationPath {
  if (nativeVerificationDisabled(env)) return SWITCHED_OFF;
  const file = nativeChainCheckFile();
  if (file === null) return { native: false, describe: `JavaScript (native path not built: no ${NATIVE_CHAIN_CHECK_FILE}; run npm run build:native)` };
  try {
    // better-sqlite3 takes the entry point as a second argument (its typings omit it).
    (db as unknown as { loadExtension(file: string, entryPoint: string): void }).loadExtension(file, ENTRY_POINT);
    return { native: true, describe: 'native (SQLite extension chain_check: read, hash and column check in one pass)' };
  } catch (err) {
    return { native: false, describe: `JavaScript (native path did not load: ${(err as Error).message.split('\n')[0]})` };
  }
}

let probed: VerificationPath | undefined;

/**
 * The path verification of the embedded store takes in this process: the extension loaded into a
 * throwaway in-memory connection (once; VERIFY_NATIVE read each time).
 */
export function embeddedVerificationPath(env: NodeJS.ProcessEnv = process.env): VerificationPath {
  if (nativeVerificationDisabled(env)) return SWITCHED_OFF;
  if (probed === undefined) {
    const db = new Database(':memory:');
    try {
      probed = loadNativeChainCheck(db, env);
    } finally {
      db.close();
    }
  }
  return probed;
}
