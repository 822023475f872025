/**
 * `auditctl verify [--chain C] [--full] [--offline DIR]`: recomputes every chain and checks every
 * signed checkpoint of a data dir (on all cores; `--full` also recomputes their Merkle roots), or checks an export directory with no database and no
 * service (`--offline`). Both print the same lines: `OK: ...` and exit 0, or
 * `BREAK: chain C seq N kind K (...)` and exit 1; 2 when there is nothing to verify (no database,
 * no export directory, a --chain the store does not hold: the message says which). With
 * STORE=elasticsearch the online check reads the cluster the service writes to (cli-store.ts). The
 * online check is recorded in the access log (OS user, via cli, chain, records verified); an OK
 * report ends with the path that checked the records (the native extension or JavaScript, and why).
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { chainsNamedBy } from '@app/core';
import { ExportFormatError, IntegrityService, VerifyResult, parsePublicKeys, verifyExportSet } from '@app/pipeline';
import { FileKeyProvider } from '@app/security';
import { openCliStore } from '../cli-store';
import { cliConfig, resolveDataDir } from '../data-dir';
import { progressBar } from '../progress';

interface VerifyOptions {
  dataDir?: string;
  chain?: string;
  json?: boolean;
  offline?: string;
  keys?: string;
  workers?: string;
  full?: boolean;
}

/** The same report for the online and the offline check. */
export function printVerifyResult(result: VerifyResult, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  if (result.ok) {
    process.stdout.write(
      `OK: ${result.verified} records verified in ${result.chains.length} chain(s), ${result.checkpointsVerified} signed checkpoint(s) matched; no break found.\n`,
    );
    for (const c of result.chains) process.stdout.write(`  ${c.chain}: ${c.verified} records, head seq ${c.lastSeq}, ${c.checkpointsVerified}/${c.checkpoints} checkpoints\n`);
  } else {
    // Every broken chain's first break (the first line is `break`).
    const breaks = result.breaks?.length ? result.breaks : [result.break!];
    for (const b of breaks) process.stdout.write(`BREAK: chain ${b.chain} seq ${b.seq} kind ${b.kind}${b.column ? ` column ${b.column}` : ''}${b.detail ? ` (${b.detail})` : ''}\n`);
  }
}

/** Public keys pinned with --keys (a file of [{ keyId, publicKeyPem }] or the checkpoints endpoint's answer). */
function pinnedKeys(file: string | undefined) {
  if (!file) return undefined;
  return parsePublicKeys(JSON.parse(fs.readFileSync(file, 'utf8')) as unknown);
}

function workerCount(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined) return fallback > 0 ? fallback : undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('--workers must be a positive integer');
  return n;
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description('verify every record and signed checkpoint of the data dir, or an export with --offline; exit code 1 names the first break')
    .option('--data-dir <dir>', 'data directory: the store, or its keys with STORE=elasticsearch (default: $DATA_DIR, then ./data)')
    .option('--chain <id>', 'verify only this chain (a category: all its chains, e.g. data_access and data_access.0..n)')
    .option('--offline <dir>', 'verify an export directory (auditctl export) instead of the data dir')
    .option('--keys <file>', 'check checkpoint signatures with these public keys only ([{ keyId, publicKeyPem }] or the GET /v1/integrity/checkpoints answer)')
    .option('--full', "also recompute every signed checkpoint's Merkle root (an export is always checked in full)")
    .option('--workers <n>', 'worker threads (default: VERIFY_WORKERS, else one per core; embedded store only)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', "\nWith STORE=elasticsearch (and the service's ELASTICSEARCH_* settings) in the environment, reads the cluster the service writes to; keys still come from --data-dir.\n")
    .action(async (opts: VerifyOptions) => {
      const progress = progressBar(!opts.json && Boolean(process.stderr.isTTY));
      const onProgress = (chain: string, done: number, total: number) => progress.update(chain, done, total);
      if (opts.offline) {
        if (!fs.existsSync(opts.offline) || !fs.statSync(opts.offline).isDirectory()) {
          process.stderr.write(`auditctl verify: no export directory at ${opts.offline} (write one with: npx auditctl export --chain <id> --out <dir>)\n`);
          process.exitCode = 2;
          return;
        }
        try {
          // One export, or a category's exports (one subdirectory per shard chain).
          const result = await verifyExportSet(opts.offline, { workers: workerCount(opts.workers, 0), publicKeys: pinnedKeys(opts.keys), onProgress });
          progress.stop();
          const { manifests: _manifests, ...plain } = result;
          printVerifyResult(plain, Boolean(opts.json));
          process.exitCode = result.ok ? 0 : 1;
        } catch (err) {
          progress.stop();
          if (!(err instanceof ExportFormatError)) throw err;
          process.stderr.write(`auditctl verify: ${err.message}\n`);
          process.exitCode = 2;
        }
        return;
      }

      const dataDir = resolveDataDir(opts.dataDir);
      const config = cliConfig(dataDir);
      const opened = await openCliStore('verify', config);
      if (!opened) return;
      const store = opened.events;
      if (opts.chain !== undefined) {
        const known = [...new Set([...(await store.chains()), ...(await opened.checkpoints.chains())])].sort();
        if (chainsNamedBy(opts.chain, known).length === 0) {
          await opened.close();
          const list = known.length === 0 ? 'it holds no chain yet' : `chains: ${known.slice(0, 20).join(', ')}${known.length > 20 ? `, … (${known.length})` : ''}`;
          process.stderr.write(`auditctl verify: no chain "${opts.chain}" in this store (${list})\n`);
          process.exitCode = 2;
          return;
        }
      }
      const keyring = new FileKeyProvider(dataDir);
      const pinned = pinnedKeys(opts.keys);
      const integrity = new IntegrityService(store, {
        checkpoints: opened.checkpoints,
        // The keyring of the data dir (never created here); pin keys obtained out of band with --keys.
        publicKeys: () => pinned ?? (keyring.hasKeys() ? keyring.publicKeys() : []),
        // The service's chain readers: worker threads read the embedded data dir; Elasticsearch is read in-process.
        chains: opened.chainReaders,
        workers: opened.chainReaders.worker ? workerCount(opts.workers, config.integrity?.verifyWorkers ?? 0) : undefined,
      });
      try {
        const result = await integrity.verify({ chain: opts.chain, full: opts.full === true }, onProgress);
        progress.stop();
        printVerifyResult(result, Boolean(opts.json));
        // Which path checked the records, after the OK report (BREAK lines stay the whole output: scripts read them).
        if (!opts.json && result.ok) process.stdout.write(`verification path: ${opened.chainReaders.path()}\n`);
        process.exitCode = result.ok ? 0 : 1;
        await opened.recordRead('verify', {
          action: 'integrity.verify',
          filters: { chain: opts.chain, intact: result.ok },
          resource: { type: 'Chain' },
          recordCount: result.verified,
          outcome: 'success',
        });
      } finally {
        progress.stop();
        await opened.close();
      }
    });
}
