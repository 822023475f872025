/**
 * `auditctl migrate [--status]`: brings the data dir's database to this build's schema version
 * (the service does the same at start) and says what it applied; `--status` only reports the
 * version, what was applied when, and what is pending, changing nothing (exit 1 if anything is).
 */
import { Command } from 'commander';
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import { MIGRATIONS, SCHEMA_VERSION, appliedMigrations, databasePath, openDatabase, schemaVersion } from '@app/storage';
import { resolveDataDir } from '../data-dir';
import { asDataDirWriter } from '../data-dir-writer';

export function migrateCommand(): Command {
  return new Command('migrate')
    .description(`apply pending schema migrations to the data dir's database (this build: schema version ${SCHEMA_VERSION})`)
    .option('--status', 'report the schema version and pending migrations, change nothing (exit 1 if any are pending)')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action(async (opts: { status?: boolean; dataDir?: string }) => {
      const dataDir = resolveDataDir(opts.dataDir);
      if (!fs.existsSync(databasePath(dataDir))) {
        process.stderr.write(`auditctl migrate: no audit database in ${dataDir} (use --data-dir)\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.status) {
        const db = new Database(databasePath(dataDir), { readonly: true, fileMustExist: true });
        try {
          const version = schemaVersion(db);
          for (const m of appliedMigrations(db)) process.stdout.write(`applied  ${m.version} ${m.name} (${m.appliedAt})\n`);
          const pending = MIGRATIONS.filter((m) => m.version > version);
          for (const m of pending) process.stdout.write(`pending  ${m.version} ${m.name}\n`);
          process.stdout.write(`schema version ${version}; this build: ${SCHEMA_VERSION}${pending.length ? ` (${pending.length} pending: run auditctl migrate)` : ' (up to date)'}\n`);
          if (pending.length) process.exitCode = 1;
        } finally {
          db.close();
        }
        return;
      }
      // Never under a running service (it migrates itself at start, and an older build must not go on writing a newer schema).
      await asDataDirWriter(dataDir, 'migrate', 'stop it first (a service applies pending migrations itself at start)', () => {
        let applied: { version: number; name: string }[] = [];
        const db = openDatabase(dataDir, { onMigrated: (a) => (applied = a) });
        const version = schemaVersion(db);
        db.close();
        for (const m of applied) process.stdout.write(`applied  ${m.version} ${m.name}\n`);
        process.stdout.write(`schema version ${version}${applied.length ? '' : ' (up to date, nothing to apply)'}\n`);
      });
    });
}
