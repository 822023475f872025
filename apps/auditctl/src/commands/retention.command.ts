/**
 * `auditctl retention run [--dry-run] [--now <RFC 3339>] [--json]`: applies the retention policy
 * (RETENTION_CONFIG or the built-in defaults) to the data dir as if the clock read `--now`:
 * deletes, per chain, the whole prefix past its category's window that no legal hold covers,
 * keeping the purged prefix's Merkle frontier and last hash so `verify` still passes; moves older
 * records to cold archives (DATA_DIR/archive, verifiable offline) and hot records past the hot
 * window to warm. Prints the run's audit record (counts, seq and receive-time ranges,
 * checkpoints, archives; never PHI). `--dry-run` prints the plan and changes nothing.
 * `retention runs` lists recorded runs, `retention archives` the cold archives, and
 * `retention restore --chain C (--archive ID | --from SEQ --to SEQ)` brings archived records back
 * into the warm tier after verifying them. Embedded store only, except `retention runs`: with
 * STORE=elasticsearch it lists the runs recorded in the cluster (`<prefix>-retention-runs`, made
 * by any instance), and the other subcommands refuse with exit code 2 (runs go through the service;
 * the cluster's ILM policies move records between tiers).
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import type { ElasticsearchSettings } from '@app/core';
import { ArchiveVerificationError, RetentionRestoreError, RetentionRunReport, SqliteLegalHoldStore, SqliteRetentionRunner, holdPatientProtection, loadRetentionPolicy, retentionRunListing } from '@app/retention';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { databasePath, openDatabase } from '@app/storage';
import { refuseOnElasticsearch, usesElasticsearch } from '../cli-store';
import { cliConfig, resolveDataDir } from '../data-dir';
import { asDataDirWriter } from '../data-dir-writer';

/** With STORE=elasticsearch the cluster's ILM policies move records between tiers (README "Scale-out"). */
const ES_RETENTION = "the cluster's tiers follow its ILM policies, built from RETENTION_CONFIG at the service's start; legal holds: /v1/retention/holds on the service";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

function openRunner(dataDirOption: string | undefined): { runner: SqliteRetentionRunner; close: () => void } | null {
  const dataDir = resolveDataDir(dataDirOption);
  if (!fs.existsSync(databasePath(dataDir))) return null;
  const config = cliConfig(dataDir);
  const db = openDatabase(dataDir);
  const protection = embeddedFieldProtection(config);
  const holds = new SqliteLegalHoldStore(db, { patientIndexValue: (id) => protection.patientToken(id), patientIds: holdPatientProtection(protection) });
  const { policy } = loadRetentionPolicy(config.compliance?.retentionConfigFile);
  const keys = new FileKeyProvider(dataDir);
  const tiers = { dataDir, protection, publicKeys: () => (keys.hasKeys() ? keys.publicKeys() : []) };
  return { runner: new SqliteRetentionRunner(db, policy, holds, tiers), close: () => db.close() };
}

/**
 * Runs `work` with the data dir's retention runner and closes it after; refuses (exit 2) with
 * STORE=elasticsearch or when the data dir holds no audit database.
 */
async function withRunner(dataDirOption: string | undefined, work: (runner: SqliteRetentionRunner) => void | Promise<void>): Promise<void> {
  if (refuseOnElasticsearch('retention', cliConfig(dataDirOption), ES_RETENTION)) return;
  const opened = openRunner(dataDirOption);
  if (!opened) {
    process.stderr.write(`auditctl retention: no audit database in ${resolveDataDir(dataDirOption)} (use --data-dir)\n`);
    process.exitCode = 2;
    return;
  }
  try {
    await work(opened.runner);
  } finally {
    opened.close();
  }
}

/** Retention that changes the store runs as the data dir's one writer (a dry run only reads). */
async function asWriterUnless(readOnly: boolean, dataDirOption: string | undefined, command: string, work: () => Promise<void>): Promise<void> {
  const dataDir = resolveDataDir(dataDirOption);
  if (readOnly || usesElasticsearch(cliConfig(dataDirOption)) || !fs.existsSync(databasePath(dataDir))) return work();
  await asDataDirWriter(dataDir, command, 'run it on the service instead (POST /v1/retention/runs, or its RETENTION_CRON schedule), or stop the service first', work);
}

/** `retention runs` with STORE=elasticsearch: the cluster's records, newest first; an unreachable cluster or missing index is exit code 2. */
async function printClusterRuns(es: ElasticsearchSettings, limit: number): Promise<void> {
  const { createElasticsearchClient, describeEsError } = await import('@app/storage/scale-out-adapters');
  const { EsRetentionRunRecords } = await import('@app/retention/es-retention-run-records');
  const client = createElasticsearchClient(es);
  try {
    const records = await new EsRetentionRunRecords(client, `${es.indexPrefix}-retention-runs`, { maxAttempts: 1 }).recent(limit);
    process.stdout.write(JSON.stringify(records.map(retentionRunListing), null, 2) + '\n');
  } catch (err) {
    try {
      await client.info();
    } catch (down) {
      process.stderr.write(`auditctl retention runs: ${describeEsError(down, es.url)}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`auditctl retention runs: ${(err as Error).message} (has the service started on this cluster? it creates the index)\n`);
    process.exitCode = 2;
  } finally {
    await client.close();
  }
}

export function printRetentionReport(r: RetentionRunReport): string {
  const lines = [
    `${r.dryRun ? 'DRY RUN (nothing changed)' : `RETENTION RUN ${r.runId}`}: now ${r.now}, ${r.dryRun ? 'would delete' : 'deleted'} ${r.dryRun ? r.chains.reduce((s, c) => s + c.count + c.archivesDeleted.reduce((n, a) => n + a.count, 0), 0) : r.deleted} record(s)` +
      `, ${r.dryRun ? 'would archive' : 'archived'} ${r.dryRun ? r.chains.reduce((s, c) => s + c.cold.reduce((n, a) => n + a.count, 0), 0) : r.archived}` +
      `, ${r.dryRun ? 'would move to warm' : 'moved to warm'} ${r.dryRun ? r.chains.reduce((s, c) => s + (c.warm?.count ?? 0), 0) : r.warmed}`,
  ];
  for (const c of r.chains) {
    const range = c.count > 0 ? `seq ${c.fromSeq}..${c.toSeq - 1} (received ${c.firstReceivedAt} .. ${c.lastReceivedAt})` : 'nothing';
    lines.push(`  ${c.chain}: ${c.count} record(s) ${range}; kept from seq ${c.toSeq} (${c.keptBecause}); held in window ${c.heldRecords}`);
    for (const a of c.archivesDeleted) lines.push(`    archive ${a.archiveId} deleted: ${a.count} record(s) seq ${a.fromSeq}..${a.toSeq - 1}`);
    if (c.archivesHeld > 0) lines.push(`    ${c.archivesHeld} archive(s) past the window kept under legal hold`);
    for (const a of c.cold) lines.push(`    cold: ${a.count} record(s) seq ${a.fromSeq}..${a.toSeq - 1} -> ${a.path || `archive/${c.chain}/${a.archiveId}`} (checkpoint ${a.checkpointIndex})`);
    if (c.warm) lines.push(`    warm: ${c.warm.count} record(s) seq ${c.warm.fromSeq}..${c.warm.toSeq - 1}`);
  }
  return lines.join('\n') + '\n';
}

export function retentionCommand(): Command {
  const retention = new Command('retention')
    .description('retention enforcement on the data dir')
    .addHelpText('after', '\nEmbedded store only: with STORE=elasticsearch every subcommand exits with code 2 (the cluster\'s ILM policies move records there).\n');
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
      await asWriterUnless(Boolean(opts.dryRun), opts.dataDir, 'retention run', () => withRunner(opts.dataDir, async (runner) => {
        // Crash tests only: SIGKILL this process after N chains were purged (committed).
        const killAfter = Number(process.env.AUDITCTL_TEST_KILL_AFTER_CHAINS ?? 0);
        let purged = 0;
        const onChainPurged = () => {
          if (killAfter > 0 && ++purged >= killAfter) process.kill(process.pid, 'SIGKILL');
        };
        // Crash tests only: SIGKILL at the Nth intermediate step of a kind (e.g. archive-written:1).
        const [killStep, killCount] = (process.env.AUDITCTL_TEST_KILL_AT_STEP ?? '').split(':');
        let steps = 0;
        const onStep = (step: string) => {
          if (killStep && step === killStep && ++steps >= Number(killCount || 1)) process.kill(process.pid, 'SIGKILL');
        };
        const report = await runner.run({ now, dryRun: Boolean(opts.dryRun), trigger: 'cli', onChainPurged, onStep });
        process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : printRetentionReport(report));
      }));
    });
  retention
    .command('runs')
    .description('list recorded retention runs (newest first) as JSON')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--limit <n>', 'how many', '20')
    .action(async (opts: { dataDir?: string; limit: string }) => {
      const limit = Math.max(1, Number(opts.limit) || 20);
      const es = cliConfig(opts.dataDir).scaleOut?.elasticsearch;
      // STORE=elasticsearch: the runs any instance recorded in the cluster (<prefix>-retention-runs).
      if (usesElasticsearch(cliConfig(opts.dataDir)) && es) return printClusterRuns(es, limit);
      await withRunner(opts.dataDir, (runner) => {
        process.stdout.write(JSON.stringify(runner.runs(limit), null, 2) + '\n');
      });
    });
  retention
    .command('archives')
    .description('list the cold archives (chain, seq range, receive times, path under the data dir) as JSON')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--chain <id>', 'only this chain')
    .action(async (opts: { dataDir?: string; chain?: string }) => {
      await withRunner(opts.dataDir, (runner) => {
        process.stdout.write(JSON.stringify(runner.archives(opts.chain), null, 2) + '\n');
      });
    });
  retention
    .command('restore')
    .description('bring archived records of a chain back into the warm tier (queryable), verified against the archive checkpoints first')
    .requiredOption('--chain <id>', 'the chain (an event category)')
    .option('--archive <id>', 'one archive, by id (see `retention archives`)')
    .option('--from <seq>', 'first sequence number to restore')
    .option('--to <seq>', 'last sequence number to restore (inclusive)')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--json', 'print the restore record as JSON')
    .action(async (opts: { dataDir?: string; chain: string; archive?: string; from?: string; to?: string; json?: boolean }) => {
      const seq = (v: string | undefined, name: string): number | undefined => {
        if (v === undefined) return undefined;
        if (!/^\d{1,15}$/.test(v)) throw new Error(`--${name} must be a sequence number`);
        return Number(v);
      };
      const fromSeq = seq(opts.from, 'from');
      const toSeq = seq(opts.to, 'to');
      await asWriterUnless(false, opts.dataDir, 'retention restore', () => withRunner(opts.dataDir, async (runner) => {
        try {
          const r = await runner.restore({ chain: opts.chain, archiveId: opts.archive, fromSeq, toSeq, trigger: 'cli-restore' });
          process.stdout.write(
            opts.json
              ? JSON.stringify(r, null, 2) + '\n'
              : `RESTORE ${r.runId}: ${r.restored} record(s) of chain ${r.chain} restored to warm\n` +
                  r.archives.map((a) => `  ${a.archiveId}: ${a.restored} record(s) seq ${a.fromSeq}..${a.toSeq - 1} (verified)\n`).join(''),
          );
        } catch (err) {
          if (!(err instanceof RetentionRestoreError) && !(err instanceof ArchiveVerificationError)) throw err;
          process.stderr.write(`auditctl retention restore: ${err.message}\n`);
          process.exitCode = 1;
        }
      }));
    });
  return retention;
}
