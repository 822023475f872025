/**
 * `auditctl verify [--chain C] [--offline DIR]`: recomputes every chain and checks every signed
 * checkpoint of a data dir (on all cores), or checks an export directory with no database and no
 * service (`--offline`). Both print the same lines: `OK: ...` and exit 0, or
 * `BREAK: chain C seq N kind K (...)` and exit 1; 2 when there is nothing to verify. The online
 * check is recorded in the access log (OS user, via cli, chain, records verified).
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { ExportFormatError, IntegrityService, VerifyResult, parsePublicKeys, verifyExport } from '@app/pipeline';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { SqliteCheckpointStore, TieredSqliteEventStore, databasePath, openDatabase } from '@app/storage';
import { recordCliRead } from '../access-log';
import { cliConfig, resolveDataDir } from '../data-dir';
import { progressBar } from '../progress';

interface VerifyOptions {
  dataDir?: string;
  chain?: string;
  json?: boolean;
  offline?: string;
  keys?: string;
  workers?: string;
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
    const b = result.break!;
    process.stdout.write(`BREAK: chain ${b.chain} seq ${b.seq} kind ${b.kind}${b.detail ? ` (${b.detail})` : ''}\n`);
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
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .option('--chain <id>', 'verify only this chain')
    .option('--offline <dir>', 'verify an export directory (auditctl export) instead of the data dir')
    .option('--keys <file>', 'check checkpoint signatures with these public keys only ([{ keyId, publicKeyPem }] or the GET /v1/integrity/checkpoints answer)')
    .option('--workers <n>', 'worker threads (default: VERIFY_WORKERS, else one per core)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: VerifyOptions) => {
      const progress = progressBar(!opts.json && Boolean(process.stderr.isTTY));
      const onProgress = (chain: string, done: number, total: number) => progress.update(chain, done, total);
      if (opts.offline) {
        try {
          const result = await verifyExport(opts.offline, { workers: workerCount(opts.workers, 0), publicKeys: pinnedKeys(opts.keys), onProgress });
          progress.stop();
          const { manifest: _manifest, ...plain } = result;
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
      if (!fs.existsSync(databasePath(dataDir))) {
        process.stderr.write(`auditctl verify: no audit database in ${dataDir} (use --data-dir)\n`);
        process.exitCode = 2;
        return;
      }
      const config = cliConfig(dataDir);
      const db = openDatabase(dataDir);
      // Sealed fields are decrypted before hashing: the chain covers the plaintext records.
      const store = new TieredSqliteEventStore(db, embeddedFieldProtection(config));
      const keyring = new FileKeyProvider(dataDir);
      const pinned = pinnedKeys(opts.keys);
      const integrity = new IntegrityService(store, {
        checkpoints: new SqliteCheckpointStore(db),
        // The keyring of the data dir (never created here); pin keys obtained out of band with --keys.
        publicKeys: () => pinned ?? (keyring.hasKeys() ? keyring.publicKeys() : []),
        sqlite: { kind: 'sqlite', dataDir, dataKeysDir: config.dataKeysDir, tokenizationKeyFile: config.tokenizationKeyFile },
        workers: workerCount(opts.workers, config.integrity?.verifyWorkers ?? 0),
      });
      try {
        const result = await integrity.verify({ chain: opts.chain }, onProgress);
        progress.stop();
        printVerifyResult(result, Boolean(opts.json));
        process.exitCode = result.ok ? 0 : 1;
        await recordCliRead('verify', db, store, {
          action: 'integrity.verify',
          filters: { chain: opts.chain, intact: result.ok },
          resource: { type: 'Chain' },
          recordCount: result.verified,
          outcome: 'success',
        });
      } finally {
        progress.stop();
        await store.close();
      }
    });
}
