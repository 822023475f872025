/** `auditctl verify [--chain C]`: recomputes every chain of a data dir; exit 0 intact, 1 on a break. */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { IntegrityService } from '@app/pipeline';
import { SqliteEventStore, databasePath, openDatabase } from '@app/storage';
import { resolveDataDir } from '../data-dir';
import { progressBar } from '../progress';

export function verifyCommand(): Command {
  return new Command('verify')
    .description('verify every record of the data dir (hash chains); exit code 1 names the first break')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--chain <id>', 'verify only this chain')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dataDir?: string; chain?: string; json?: boolean }) => {
      const dataDir = resolveDataDir(opts.dataDir);
      if (!fs.existsSync(databasePath(dataDir))) {
        process.stderr.write(`auditctl verify: no audit database in ${dataDir} (use --data-dir)\n`);
        process.exitCode = 2;
        return;
      }
      const store = new SqliteEventStore(openDatabase(dataDir));
      const progress = progressBar(!opts.json && Boolean(process.stderr.isTTY));
      try {
        const result = await new IntegrityService(store).verify({ chain: opts.chain }, (chain, done, total) => progress.update(chain, done, total));
        progress.stop();
        if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
        else if (result.ok) {
          process.stdout.write(`OK: ${result.verified} records verified in ${result.chains.length} chain(s); no break found.\n`);
          for (const c of result.chains) process.stdout.write(`  ${c.chain}: ${c.verified} records, head seq ${c.lastSeq}\n`);
        } else {
          const b = result.break!;
          process.stdout.write(`BREAK: chain ${b.chain} seq ${b.seq} kind ${b.kind}${b.detail ? ` (${b.detail})` : ''}\n`);
        }
        process.exitCode = result.ok ? 0 : 1;
      } finally {
        progress.stop();
        await store.close();
      }
    });
}
