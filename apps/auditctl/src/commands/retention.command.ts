/**
 * `auditctl retention run [--dry-run] [--now <RFC 3339>] [--json]`: applies the retention policy
 * (RETENTION_CONFIG or the built-in defaults) to the data dir as if the clock read `--now`:
 * deletes, per chain, the whole prefix past its category's window that no legal hold covers,
 * keeping the purged prefix's Merkle frontier and last hash so `verify` still passes. Prints the
 * run's audit record (counts, seq and receive-time ranges, checkpoints; never PHI). `--dry-run`
 * prints the plan and changes nothing. `retention runs` lists recorded runs.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { RetentionRunReport, SqliteLegalHoldStore, SqliteRetentionRunner, loadRetentionPolicy } from '@app/retention';
import { embeddedFieldProtection } from '@app/security';
import { databasePath, openDatabase } from '@app/storage';
import { cliConfig, resolveDataDir } from '../data-dir';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

function openRunner(dataDirOption: string | undefined): { runner: SqliteRetentionRunner; close: () => void } | null {
  const dataDir = resolveDataDir(dataDirOption);
  if (!fs.existsSync(databasePath(dataDir))) return null;
  const config = cliConfig(dataDir);
  const db = openDatabase(dataDir);
  const protection = embeddedFieldProtection(config);
  const holds = new SqliteLegalHoldStore(db, { patientIndexValue: (id) => protection.patientToken(id) });
  const { policy } = loadRetentionPolicy(config.compliance?.retentionConfigFile);
  return { runner: new SqliteRetentionRunner(db, policy, holds), close: () => db.close() };
}

export function printRetentionReport(r: RetentionRunReport): string {
  const lines = [
    `${r.dryRun ? 'DRY RUN (nothing changed)' : `RETENTION RUN ${r.runId}`}: now ${r.now}, ${r.dryRun ? 'would delete' : 'deleted'} ${r.dryRun ? r.chains.reduce((s, c) => s + c.count, 0) : r.deleted} record(s)`,
  ];
  for (const c of r.chains) {
    const range = c.count > 0 ? `seq ${c.fromSeq}..${c.toSeq - 1} (received ${c.firstReceivedAt} .. ${c.lastReceivedAt})` : 'nothing';
    lines.push(`  ${c.chain}: ${c.count} record(s) ${range}; kept from seq ${c.toSeq} (${c.keptBecause}); held in window ${c.heldRecords}`);
  }
  return lines.join('\n') + '\n';
}

export function retentionCommand(): Command {
  const retention = new Command('retention').description('retention enforcement on the data dir');
  retention
    .command('run')
    .description('delete, per chain, the prefix past its retention window that no legal hold covers (verification keeps passing)')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--now <time>', 'act as if the clock read this RFC 3339 instant (default: now)')
    .option('--json', 'print the run record as JSON')
    .action(async (opts: { dataDir?: string; dryRun?: boolean; now?: string; json?: boolean }) => {
      let now = Date.now();
      if (opts.now !== undefined) {
        if (!RFC3339.test(opts.now) || Number.isNaN(Date.parse(opts.now))) throw new Error('--now must be an RFC 3339 timestamp, e.g. 2032-06-01T00:00:00Z');
        now = Date.parse(opts.now);
      }
      const opened = openRunner(opts.dataDir);
      if (!opened) {
        process.stderr.write(`auditctl retention: no audit database in ${resolveDataDir(opts.dataDir)} (use --data-dir)\n`);
        process.exitCode = 2;
        return;
      }
      try {
        // Crash tests only: SIGKILL this process after N chains were purged (committed).
        const killAfter = Number(process.env.AUDITCTL_TEST_KILL_AFTER_CHAINS ?? 0);
        let purged = 0;
        const onChainPurged = () => {
          if (killAfter > 0 && ++purged >= killAfter) process.kill(process.pid, 'SIGKILL');
        };
        const report = await opened.runner.run({ now, dryRun: Boolean(opts.dryRun), trigger: 'cli', onChainPurged });
        process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : printRetentionReport(report));
      } finally {
        opened.close();
      }
    });
  retention
    .command('runs')
    .description('list recorded retention runs (newest first) as JSON')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--limit <n>', 'how many', '20')
    .action((opts: { dataDir?: string; limit: string }) => {
      const opened = openRunner(opts.dataDir);
      if (!opened) {
        process.stderr.write(`auditctl retention: no audit database in ${resolveDataDir(opts.dataDir)} (use --data-dir)\n`);
        process.exitCode = 2;
        return;
      }
      try {
        process.stdout.write(JSON.stringify(opened.runner.runs(Math.max(1, Number(opts.limit) || 20)), null, 2) + '\n');
      } finally {
        opened.close();
      }
    });
  return retention;
}
