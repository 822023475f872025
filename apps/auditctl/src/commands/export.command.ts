/**
 * `auditctl export --chain C [--from SEQ|TIME] [--to SEQ|TIME] --out DIR`: writes a chain (or a
 * range of it) as a self-contained export an auditor verifies offline (`auditctl verify --offline
 * DIR`, or their own checker: README "Export format"). Unsealed records are sealed first (a
 * signed checkpoint), unless --no-seal. The export is recorded in the access log (OS user, via cli).
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { CheckpointService, ExportError, exportChain, parseExportBound } from '@app/pipeline';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { SqliteCheckpointStore, TieredSqliteEventStore, databasePath, openDatabase } from '@app/storage';
import { recordCliRead } from '../access-log';
import { cliConfig, resolveDataDir } from '../data-dir';

interface ExportCommandOptions {
  dataDir?: string;
  chain: string;
  from?: string;
  to?: string;
  out: string;
  seal: boolean;
}

export function exportCommand(): Command {
  return new Command('export')
    .description('export a chain (records, signed checkpoints, public keys, manifest) for offline verification')
    .requiredOption('--chain <id>', 'the chain to export (an event category, e.g. data_access)')
    .option('--from <seq|time>', 'first record: a sequence number, or the first received at or after an RFC 3339 time')
    .option('--to <seq|time>', 'last record: a sequence number (inclusive), or the last received before an RFC 3339 time')
    .requiredOption('--out <dir>', 'directory to write (must not exist or be empty)')
    .option('--no-seal', 'do not seal unsealed records with a new checkpoint first')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .action(async (opts: ExportCommandOptions) => {
      const dataDir = resolveDataDir(opts.dataDir);
      if (!fs.existsSync(databasePath(dataDir))) {
        process.stderr.write(`auditctl export: no audit database in ${dataDir} (use --data-dir)\n`);
        process.exitCode = 2;
        return;
      }
      const config = cliConfig(dataDir);
      const db = openDatabase(dataDir);
      const events = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
      const checkpoints = new SqliteCheckpointStore(db);
      const keys = new FileKeyProvider(dataDir);
      try {
        const sealer = opts.seal
          ? new CheckpointService(events, checkpoints, keys, { everyRecords: config.integrity?.checkpointEveryRecords ?? 10_000, intervalMs: 60_000 }, (level, msg, fields) => {
              if (level !== 'info') process.stderr.write(`auditctl export: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
            })
          : undefined;
        const manifest = await exportChain(events, checkpoints, {
          chain: opts.chain,
          from: opts.from === undefined ? undefined : parseExportBound(opts.from),
          to: opts.to === undefined ? undefined : parseExportBound(opts.to),
          outDir: opts.out,
          publicKeys: keys.hasKeys() ? keys.publicKeys() : [],
          sealer,
        });
        const r = manifest.records;
        await recordCliRead('export', db, events, {
          action: 'chain.export',
          filters: { chain: manifest.chain, from: opts.from, to: opts.to, seal: opts.seal },
          resource: { type: 'Export' },
          recordCount: r.count,
          outcome: 'success',
        });
        process.stdout.write(
          `Exported chain ${manifest.chain}: ${r.count} records (seq ${r.fromSeq}..${r.toSeq}), ${manifest.checkpoints.count} signed checkpoint(s), to ${opts.out}\n` +
            `Verify with: npx auditctl verify --offline ${opts.out}\n`,
        );
      } catch (err) {
        if (!(err instanceof ExportError)) throw err;
        process.stderr.write(`auditctl export: ${err.message}\n`);
        process.exitCode = 2;
      } finally {
        await events.close();
      }
    });
}
