/**
 * `auditctl export --chain C [--from SEQ|TIME] [--to SEQ|TIME] --out DIR`: writes a chain (or a
 * range of it) as a self-contained export an auditor verifies offline (`auditctl verify --offline
 * DIR`, or their own checker: README "Export format"). Unsealed records are sealed first (a
 * signed checkpoint), unless --no-seal. With STORE=elasticsearch it reads the cluster the service
 * writes to (cli-store.ts; keys from the data dir). Progress bar on a terminal. The export is recorded in the access log (OS user, via cli).
 */
import { Command } from 'commander';
import { CheckpointService, ExportError, exportChain, parseExportBound } from '@app/pipeline';
import { FileKeyProvider } from '@app/security';
import { openCliStore } from '../cli-store';
import { cliConfig, resolveDataDir } from '../data-dir';
import { progressBar } from '../progress';

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
    .option('--data-dir <dir>', 'data directory: the store, or its keys with STORE=elasticsearch (default: $DATA_DIR, then ./data)')
    .addHelpText('after', "\nWith STORE=elasticsearch (and the service's ELASTICSEARCH_* settings) in the environment, reads the cluster the service writes to; keys still come from --data-dir.\n")
    .action(async (opts: ExportCommandOptions) => {
      const dataDir = resolveDataDir(opts.dataDir);
      const config = cliConfig(dataDir);
      const opened = await openCliStore('export', config);
      if (!opened) return;
      const { events, checkpoints } = opened;
      const keys = new FileKeyProvider(dataDir);
      const progress = progressBar(Boolean(process.stderr.isTTY));
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
          // Read after sealing: on a store without checkpoints yet, sealing creates the first key.
          publicKeys: () => (keys.hasKeys() ? keys.publicKeys() : []),
          sealer,
          onProgress: (done, total) => progress.update(opts.chain, done, total),
        });
        progress.stop();
        const r = manifest.records;
        await opened.recordRead('export', {
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
        progress.stop();
        await opened.close();
      }
    });
}
