/**
 * `auditctl certs issue <integration> --out <dir>`: a client certificate (and key, 0600) for an
 * integration, signed by the data dir's CA, with the CA certificate to trust the server;
 * `auditctl certs revoke <integration>` (or `--serial <hex>`): the service refuses those
 * certificates within seconds. Logic in CredentialRevocationService (@app/security).
 */
import { Command } from 'commander';
import { CredentialRevocationService } from '@app/security';
import { StoreUnavailableError } from '@app/storage';
import { openRevocationStore } from '../cli-revocation-store';
import { cliConfig, resolveDataDir } from '../data-dir';

/** Runs with the deployment's revocation store (the data dir's database, or the cluster with STORE=elasticsearch). */
async function withService<T>(dataDirOption: string | undefined, run: (s: CredentialRevocationService) => Promise<T> | T, command: string): Promise<void> {
  const dataDir = resolveDataDir(dataDirOption);
  const opened = await openRevocationStore(cliConfig(dataDirOption));
  try {
    await run(new CredentialRevocationService(opened.store, dataDir));
  } catch (err) {
    if (!(err instanceof RangeError) && !(err instanceof StoreUnavailableError) && (err as Error)?.name !== 'PkiError') throw err;
    process.stderr.write(`auditctl certs ${command}: ${(err as Error).message}\n`);
    process.exitCode = 2;
  } finally {
    await opened.close();
  }
}

export function certsCommand(): Command {
  const certs = new Command('certs').description('client certificates of integrations (mutual TLS): issue and revoke');
  certs
    .command('issue')
    .description('issue a client certificate for an integration, signed by the data dir\'s CA')
    .argument('<integration>', 'integration id')
    .requiredOption('--out <dir>', 'where to write <integration>.pem, <integration>-key.pem (0600) and ca.pem')
    .option('--days <n>', 'validity in days (default 365)')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action((integration: string, opts: { out: string; days?: string; dataDir?: string }) =>
      withService(
        opts.dataDir,
        async (s) => {
          const days = opts.days === undefined ? undefined : Number(opts.days);
          if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650)) throw new RangeError('--days must be a whole number of days, 1..3650');
          const c = await s.issueCertificate(integration, opts.out, days);
          process.stdout.write(`issued ${c.certPath} (key ${c.keyPath}, CA ${c.caCertPath}); serial ${c.serialNumber}, valid until ${c.notAfter.toISOString()}\n`);
        },
        'issue',
      ),
    );
  certs
    .command('revoke')
    .description('revoke every client certificate of an integration (or one, by --serial); refused within seconds')
    .argument('[integration]', 'integration id')
    .option('--serial <hex>', 'revoke this serial number only')
    .option('--reason <text>', 'why (kept with the revocation)')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action((integration: string | undefined, opts: { serial?: string; reason?: string; dataDir?: string }) =>
      withService(
        opts.dataDir,
        async (s) => {
          if ((integration === undefined) === (opts.serial === undefined)) throw new RangeError('give an integration id or --serial <hex>');
          const done = opts.serial !== undefined ? [await s.revokeCertificateSerial(opts.serial, opts.reason)] : await s.revokeCertificates(integration!, opts.reason);
          if (done.length === 0) process.stdout.write(`no certificate of ${integration} left to revoke\n`);
          for (const r of done) process.stdout.write(`revoked certificate serial ${r.value}\n`);
        },
        'revoke',
      ),
    );
  return certs;
}
