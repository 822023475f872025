/**
 * Versioned schema of the embedded database: an ordered list of migrations (migrations/index.ts),
 * each applied once, in order, in one write transaction, and recorded in `schema_version` (and in
 * SQLite's `user_version`, the fast check every open makes). `openDatabase` runs the pending ones;
 * `auditctl migrate` runs them and reports. Plain functions rather than a migration library: the
 * schema is small, better-sqlite3 is synchronous, and the connection, its pragmas and the
 * immutability triggers are ours to control (see docs/operations.md "Schema migrations").
 */
import type Database from 'better-sqlite3';

export interface Migration {
  /** 1, 2, 3 … with no gaps: the schema version once this migration is applied. */
  version: number;
  /** Short kebab-case name, recorded with the version. */
  name: string;
  /**
   * Applies the change. Runs inside the migration's transaction; must be additive (new tables,
   * columns, indexes, triggers) and safe on a database that already has the change (IF NOT EXISTS;
   * check PRAGMA table_info before ADD COLUMN): databases older than this versioning have parts of
   * it already.
   */
  up(db: Database.Database): void;
}

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: string;
}

export class SchemaTooNewError extends Error {
  constructor(
    readonly found: number,
    readonly known: number,
  ) {
    super(`the audit database has schema version ${found}, newer than this build knows (${known}): run a release at least as new as the one that wrote it`);
  }
}

const VERSION_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS schema_version (
  version    INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at TEXT    NOT NULL
);
CREATE TRIGGER IF NOT EXISTS schema_version_is_immutable BEFORE UPDATE ON schema_version
BEGIN SELECT RAISE(ABORT, 'schema versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS schema_version_never_deleted BEFORE DELETE ON schema_version
BEGIN SELECT RAISE(ABORT, 'schema versions cannot be deleted'); END;
`;

/** Checks a migration list is ordered 1..n without gaps or duplicates (a programming error otherwise). */
export function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration "${m.name}" has version ${m.version}, expected ${i + 1}: versions must be 1, 2, 3 … in order`);
  });
}

/** The schema version of an open database (0: never migrated). */
export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** What `schema_version` records, oldest first (empty when the table does not exist yet). */
export function appliedMigrations(db: Database.Database): AppliedMigration[] {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!exists) return [];
  return (db.prepare('SELECT version, name, applied_at FROM schema_version ORDER BY version').all() as { version: number; name: string; applied_at: string }[]).map(
    (r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at }),
  );
}

/**
 * Applies the migrations the database has not had yet, each in its own BEGIN IMMEDIATE transaction
 * (a concurrent opener waits on the lock, then finds the work done). Returns those applied now.
 * Throws SchemaTooNewError for a database written by a newer build, on read-only connections too.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[], now: () => Date = () => new Date()): Migration[] {
  checkMigrationList(migrations);
  const latest = migrations.length;
  const current = schemaVersion(db);
  if (current > latest) throw new SchemaTooNewError(current, latest);
  if (current === latest || db.readonly) return [];
  const applied: Migration[] = [];
  for (const m of migrations) {
    const ran = db
      .transaction(() => {
        if (schemaVersion(db) >= m.version) return false;
        db.exec(VERSION_TABLE_SQL);
        m.up(db);
        db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now().toISOString());
        db.pragma(`user_version = ${m.version}`);
        return true;
      })
      .immediate();
    if (ran) applied.push(m);
  }
  return applied;
}
