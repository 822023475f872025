import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { Migration, SchemaTooNewError, appliedMigrations, migrate, schemaVersion } from './schema-migrations';
import { databasePath, openDatabase } from './sqlite-database';

describe('schema migrations', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a new database is created at this build\'s version, each migration recorded once', () => {
    let applied: Migration[] = [];
    const db = openDatabase(dir, { onMigrated: (a) => (applied = a) });
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(applied.map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(appliedMigrations(db).map((m) => [m.version, m.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    db.close();
    // Opening again (or from a second connection) applies nothing.
    const again = openDatabase(dir, { onMigrated: (a) => (applied = a) });
    expect(applied).toEqual([]);
    expect(appliedMigrations(again)).toHaveLength(MIGRATIONS.length);
    again.close();
  });

  it('applies only the pending migrations, in order, and rolls back one that fails', () => {
    const db = new Database(databasePath(dir));
    const extra: Migration[] = [
      ...MIGRATIONS,
      { version: MIGRATIONS.length + 1, name: 'add-a', up: (d) => d.exec('CREATE TABLE IF NOT EXISTS a (x INTEGER)') },
      {
        version: MIGRATIONS.length + 2,
        name: 'fails-halfway',
        up: (d) => {
          d.exec('CREATE TABLE b (x INTEGER)');
          throw new Error('boom');
        },
      },
    ];
    migrate(db, MIGRATIONS);
    expect(() => migrate(db, extra)).toThrow('boom');
    // The first extra one stays applied, the failing one left nothing behind.
    expect(schemaVersion(db)).toBe(MIGRATIONS.length + 1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('a', 'b')").all()).toEqual([{ name: 'a' }]);
    expect(appliedMigrations(db).map((m) => m.name).slice(-1)).toEqual(['add-a']);
    db.close();
  });

  it('refuses a list with a gap and a database written by a newer build', () => {
    const db = new Database(databasePath(dir));
    expect(() => migrate(db, [{ version: 2, name: 'x', up: () => undefined }])).toThrow(/expected 1/);
    migrate(db, MIGRATIONS);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openDatabase(dir)).toThrow(SchemaTooNewError);
    expect(() => openDatabase(dir, { readonly: true })).toThrow(/newer than this build/);
  });

  it('schema versions cannot be rewritten', () => {
    const db = openDatabase(dir);
    expect(() => db.exec('DELETE FROM schema_version')).toThrow(/cannot be deleted/);
    expect(() => db.exec("UPDATE schema_version SET name = 'x'")).toThrow(/immutable/);
    db.close();
  });
});
