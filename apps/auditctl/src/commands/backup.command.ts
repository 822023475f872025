/**
 * `auditctl backup --out DIR`: an online, consistent copy of the data dir (database snapshot by
 * VACUUM INTO while the service runs, keys, certificates, archives, a manifest of SHA-256s);
 * `auditctl restore --from DIR [--data-dir EMPTY]`: checks the backup, copies it into an empty
 * data dir and verifies the restored store (exit 0: OK, 1: a break, 2: not restorable).
 * Logic in @app/pipeline (backup/data-dir-backup.ts). See docs/operations.md "Backup and restore".
 */
import { Command } from 'commander';
import { BackupError, IntegrityService, backupDataDir, restoreDataDir } from '@app/pipeline';
import { FileKeyProvider } from '@app/security';
import { openCliStore, refuseOnElasticsearch } from '../cli-store';
import { cliConfig, resolveDataDir } from '../data-dir';
import { asDataDirWriter } from '../data-dir-writer';
import { printVerifyResult } from './verify.command';

export function backupCommand(): Command {
  return new Command('backup')
    .description('write an online, consistent copy of the data dir (database snapshot, keys, certificates, archives) to a new directory')
    .requiredOption('--out <dir>', 'new (or empty) directory for the backup')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action((opts: { out: string; dataDir?: string }) => {
      const config = cliConfig(opts.dataDir);
      if (refuseOnElasticsearch('backup', config, 'back up the Elasticsearch cluster with its snapshot API, and the data dir\'s keys with this command\'s files')) return;
      try {
        const m = backupDataDir(config, opts.out);
        const records = Object.values(m.heads).reduce((n, seq) => n + seq + 1, 0);
        process.stdout.write(`backup written to ${opts.out}: ${m.files.length} files, ${Object.keys(m.heads).length} chain(s), about ${records} records, schema version ${m.schemaVersion}\n`);
      } catch (err) {
        if (!(err instanceof BackupError)) throw err;
        process.stderr.write(`auditctl backup: ${err.message}\n`);
        process.exitCode = 2;
      }
    });
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore a backup into an empty data dir, then verify it (exit 1 on a break)')
    .requiredOption('--from <dir>', 'a directory written by auditctl backup')
    .option('--data-dir <dir>', 'the empty data directory to restore into (default: $DATA_DIR, then ./data)')
    .option('--json', 'print the verification result as JSON')
    .action(async (opts: { from: string; dataDir?: string; json?: boolean }) => {
      const dataDir = resolveDataDir(opts.dataDir);
      // The restored dir is written whole before a service may start on it (and never under a running one).
      await asDataDirWriter(dataDir, 'restore', 'stop it first, or restore into another data dir', async () => {
        try {
          const m = restoreDataDir(opts.from, dataDir);
          if (!opts.json) process.stdout.write(`restored ${m.files.length} files of the backup of ${m.createdAt} into ${dataDir}; verifying…\n`);
        } catch (err) {
          if (!(err instanceof BackupError)) throw err;
          process.stderr.write(`auditctl restore: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        const config = cliConfig(dataDir);
        const opened = await openCliStore('restore', config);
        if (!opened) return;
        try {
          const keys = new FileKeyProvider(dataDir);
          const integrity = new IntegrityService(opened.events, {
            checkpoints: opened.checkpoints,
            publicKeys: () => (keys.hasKeys() ? keys.publicKeys() : []),
            chains: opened.chainReaders,
          });
          const result = await integrity.verify();
          printVerifyResult(result, Boolean(opts.json));
          process.exitCode = result.ok ? 0 : 1;
        } finally {
          await opened.close();
        }
      });
    });
}
