/**
 * `auditctl report verify <file>`: checks a saved compliance report (JSON, CSV or HTML) against its
 * signature block: the SHA-256 of everything before the block, and the Ed25519 signature with the
 * public key its keyId names (from the data dir's keyring, or --public-key). Exit 0 when it verifies,
 * 1 when it does not (and says why), 2 when it cannot run. Prints no report content.
 */
import { Command } from 'commander';
import * as fs from 'node:fs';
import { keysFromDataDir, keysFromFile, verifyReportFile } from '@app/reports';
import { resolveDataDir } from '../data-dir';

export function reportCommand(): Command {
  const report = new Command('report').description('compliance reports');
  report
    .command('verify')
    .description('verify a saved report: body SHA-256 and Ed25519 signature; exit 1 when it fails')
    .argument('<file>', 'the saved report (.json, .csv or .html, exactly as downloaded)')
    .option('--data-dir <dir>', 'data directory whose signing keyring holds the public keys (default: $DATA_DIR, then ./data)')
    .option('--public-key <file>', 'a PEM public key, or JSON with { keyId, publicKeyPem } entries (e.g. from GET /v1/reports/keys)')
    .option('--json', 'print the verdict as JSON')
    .action(async (file: string, opts: { dataDir?: string; publicKey?: string; json?: boolean }) => {
      if (!fs.existsSync(file)) {
        process.stderr.write(`auditctl report verify: no file ${file}\n`);
        process.exitCode = 2;
        return;
      }
      const keys = opts.publicKey ? keysFromFile(opts.publicKey) : keysFromDataDir(resolveDataDir(opts.dataDir));
      if (keys.size === 0) {
        process.stderr.write('auditctl report verify: no public keys (use --data-dir of the service, or --public-key)\n');
        process.exitCode = 2;
        return;
      }
      const verdict = await verifyReportFile(file, keys);
      const b = verdict.block;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            { ok: verdict.ok, reason: verdict.reason, format: verdict.format ?? null, reportSha256: b?.reportSha256 ?? null, computedSha256: verdict.computedSha256 ?? null, keyId: b?.keyId ?? null, generatedAt: b?.generatedAt ?? null, kind: b?.query.kind ?? null },
            null,
            2,
          ) + '\n',
        );
      } else if (verdict.ok) {
        process.stdout.write(`OK: ${b!.query.kind} report (${verdict.format}) generated ${b!.generatedAt}; SHA-256 ${b!.reportSha256} signed by key ${b!.keyId}.\n`);
      } else {
        process.stdout.write(`FAILED: ${verdict.reason}\n`);
      }
      process.exitCode = verdict.ok ? 0 : 1;
    });
  return report;
}
