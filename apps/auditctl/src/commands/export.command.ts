/**
 * `auditctl export --chain C [--from SEQ|TIME] [--to SEQ|TIME] --out DIR`: writes a chain (or a
 * range of it; for a category with shard chains, each of its chains in DIR/<chain>/) as a self-contained export an auditor verifies offline (`auditctl verify --offline
 * DIR`, or their own checker: README "Export format"). Unsealed records are sealed first (a
 * signed checkpoint), unless --no-seal. With STORE=elasticsearch it reads the cluster the service
 * writes to (cli-store.ts; keys from the data dir). Progress bar on a terminal. The export is recorded in the access log (OS user, via cli).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { chainsNamedBy } from '@app/core';
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
    .requiredOption('--chain <id>', 'the chain to export (e.g. data_access, or data_access.3 with CHAIN_SHARDS; a category with shard chains exports each of them to <out>/<chain>/)')
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
        // A category with shard chains (chain-id.ts): one export per chain, in <out>/<chain id>/.
        const known = [...new Set([...(await events.chains()), ...(await checkpoints.chains())])].sort();
        const named = chainsNamedBy(opts.chain, known);
        const chains = named.length > 1 || (named.length === 1 && named[0] !== opts.chain) ? named : [opts.chain];
        const several = chains.length > 1 || chains[0] !== opts.chain;
        if (several && [opts.from, opts.to].some((b) => b !== undefined && 'seq' in parseExportBound(b))) {
          throw new ExportError(`${opts.chain} has ${chains.length} chains (${chains.join(', ')}): give --from/--to as RFC 3339 times, or export one chain with --chain <id>`);
        }
        if (several && fs.existsSync(opts.out) && fs.readdirSync(opts.out).length > 0) throw new ExportError(`${opts.out} is not empty`);
        for (const chain of chains) {
          const outDir = several ? path.join(opts.out, chain) : opts.out;
          const manifest = await exportChain(events, checkpoints, {
            chain,
            from: opts.from === undefined ? undefined : parseExportBound(opts.from),
            to: opts.to === undefined ? undefined : parseExportBound(opts.to),
            outDir,
            // Read after sealing: on a store without checkpoints yet, sealing creates the first key.
            publicKeys: () => (keys.hasKeys() ? keys.publicKeys() : []),
            sealer,
            onProgress: (done, total) => progress.update(chain, done, total),
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
          process.stdout.write(`Exported chain ${manifest.chain}: ${r.count} records (seq ${r.fromSeq}..${r.toSeq}), ${manifest.checkpoints.count} signed checkpoint(s), to ${outDir}\n`);
        }
        process.stdout.write(`Verify with: npx auditctl verify --offline ${opts.out}\n`);
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
