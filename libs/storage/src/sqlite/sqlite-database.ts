/**
 * Opens the embedded SQLite database under DATA_DIR with the durability settings the service
 * promises (WAL, synchronous=FULL: a commit returns only after its WAL frames are fsync'd), and
 * applies pending schema migrations (schema-migrations.ts). Other embedded stores (alerts, checkpoints, ...) share this connection.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MIGRATIONS } from './migrations';
import { Migration, migrate } from './schema-migrations';
import { ensureEventTriggers } from './event-partitions';

export type SqliteDb = Database.Database;

export const SQLITE_DB = Symbol('SQLITE_DB');

export function databasePath(dataDir: string): string {
  return path.join(dataDir, 'audit.db');
}

/** SQLite checkpoints the WAL on the commit that takes it past this many pages (~40 MiB). */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;
/**
 * With a background checkpointer (sqlite-wal-checkpointer.ts) committing connections checkpoint
 * only past this many pages (~400 MiB): a backstop for when the checkpointer cannot keep up.
 */
export const WAL_BACKSTOP_PAGES = 100_000;

export interface OpenDatabaseOptions {
  readonly?: boolean;
  /** A background checkpointer copies the WAL into the database file: commits leave it to it (WAL_BACKSTOP_PAGES). */
  backgroundCheckpoints?: boolean;
  /** Told which schema migrations this open applied (none when the schema was current). */
  onMigrated?: (applied: Migration[]) => void;
}

/** What `busy_timeout` is on every connection openDatabase gives (ms). */
export const BUSY_TIMEOUT_MS = 5000;

/**
 * Runs a write transaction on a connection of the event loop without blocking the loop while another
 * connection (the writer thread, auditctl) holds SQLite's write lock. `run` must start its
 * transaction with BEGIN IMMEDIATE (better-sqlite3: `tx.immediate(...)`), so that a busy database
 * fails it before it did anything: the attempt is made with no busy timeout, and on SQLITE_BUSY it is
 * retried after a short wait (1, 2, 4 … 16 ms), letting requests run in between, for up to
 * `maxWaitMs` (then the SQLITE_BUSY error is thrown, as a busy timeout would). The connection's own
 * busy timeout is back in place before anything else runs.
 */
export async function writeWhenFree<T>(db: SqliteDb, run: () => T, maxWaitMs = BUSY_TIMEOUT_MS): Promise<T> {
  const deadline = performance.now() + maxWaitMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 16)) {
    db.pragma('busy_timeout = 0');
    try {
      return run();
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() >= deadline) throw err;
    } finally {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

export function openDatabase(dataDir: string, options: OpenDatabaseOptions = {}): SqliteDb {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = databasePath(dataDir);
  if (options.readonly && !fs.existsSync(file)) {
    throw new Error(`No audit database at ${file}. Is --data-dir right?`);
  }
  const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  // First, so that opening while another connection writes (the writer thread, auditctl) waits too.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // Checkpoint the WAL every ~40 MiB instead of every 4 MiB (the default 1000 pages): a page
    // that several group commits dirty (random index keys: event id, patient token, actor) is
    // copied into the database file once per checkpoint rather than once per small checkpoint;
    // it measured about a sixth less CPU per inserted event. Durability is unchanged: every
    // commit still fsyncs the WAL before it returns.
    db.pragma(`wal_autocheckpoint = ${options.backgroundCheckpoints ? WAL_BACKSTOP_PAGES : WAL_AUTOCHECKPOINT_PAGES}`);
    // Once a checkpoint has copied everything, the WAL restarts from its beginning; a WAL that a
    // burst grew is then cut back to 64 MiB instead of keeping its size on disk.
    db.pragma('journal_size_limit = 67108864');
    db.pragma('foreign_keys = ON');
  }
  try {
    // Pending schema migrations (read-only: only the check that this build knows the schema).
    const applied = migrate(db, MIGRATIONS);
    options.onMigrated?.(applied);
  } catch (err) {
    db.close();
    throw err;
  }
  // Every partition's immutability triggers (and the chain heads'): a dropped one comes back.
  if (!options.readonly) ensureEventTriggers(db);
  db.pragma('cache_size = -65536');
  if (!options.readonly) restrictDataFiles(dataDir, file);
  return db;
}

/**
 * The audit data is PHI (issue 22): the data dir is 0700 and the database, its WAL and shared-memory
 * files 0600, whatever umask created them (SQLite gives a new -wal / -shm the database file's mode).
 * A file this process does not own is left as it is (chmod would fail); nothing else is changed.
 */
export function restrictDataFiles(dataDir: string, file = databasePath(dataDir)): void {
  const restrict = (target: string, mode: number) => {
    try {
      if ((fs.statSync(target).mode & 0o777) !== mode) fs.chmodSync(target, mode);
    } catch {
      /* absent, or not ours */
    }
  };
  restrict(dataDir, 0o700);
  for (const suffix of ['', '-wal', '-shm', '-journal']) restrict(file + suffix, 0o600);
}
