/**
 * `auditctl token --role R [--sub S] [--ttl D]`: mints a bearer token the service on this data dir
 * accepts. Refuses (exit 2) on a data dir the service never started on (no token signing key): a
 * key created here would not be the running service's, and its tokens would get 401.
 */
import { Command, Option } from 'commander';
import { CredentialRevocationService, ROLES, Role, TokenService } from '@app/security';
import { StoreUnavailableError } from '@app/storage';
import { openRevocationStore } from '../cli-revocation-store';
import { usesElasticsearch } from '../cli-store';
import { cliConfig, missingTokenKey, resolveDataDir } from '../data-dir';

/**
 * `auditctl token revoke (--id <token id or token> | --sub <id>)`: records the revocation in the data
 * dir's database (with STORE=elasticsearch: the cluster's); every service refuses the token(s)
 * within seconds (REVOCATION_POLL_MS; REVOCATION_SYNC_MS on Elasticsearch).
 */
function tokenRevokeCommand(): Command {
  return new Command('revoke')
    .description('revoke one token (--id: its id, jti, or the token itself) or every token of a subject issued until now (--sub)')
    .option('--id <token id>', 'the token id (jti) or the whole token')
    .option('--sub <id>', 'the subject (user or integration id): every token issued to it until now')
    .option('--reason <text>', 'why (kept with the revocation)')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action(async (_local: unknown, cmd: Command) => {
      // --sub and --data-dir are options of `token` too: take them wherever they were given.
      const opts = cmd.optsWithGlobals<{ id?: string; sub?: string; reason?: string; dataDir?: string }>();
      if ((opts.id === undefined) === (opts.sub === undefined)) {
        process.stderr.write('auditctl token revoke: give exactly one of --id <token id> or --sub <id>\n');
        process.exitCode = 2;
        return;
      }
      const config = cliConfig(opts.dataDir);
      const opened = await openRevocationStore(config);
      try {
        const service = new CredentialRevocationService(opened.store, resolveDataDir(opts.dataDir));
        const r = opts.id !== undefined ? await service.revokeToken(opts.id, opts.reason) : await service.revokeSubject(opts.sub!, opts.reason);
        const where = usesElasticsearch(config) ? 'every service on this cluster refuses' : 'services on this data dir refuse';
        process.stdout.write(`revoked ${r.kind === 'token' ? `token ${r.value}` : `every token of ${r.value} issued until ${r.revokedAt}`}; ${where} it within seconds\n`);
      } catch (err) {
        if (!(err instanceof RangeError) && !(err instanceof StoreUnavailableError)) throw err;
        process.stderr.write(`auditctl token revoke: ${err.message}\n`);
        process.exitCode = 2;
      } finally {
        await opened.close();
      }
    });
}

export function tokenCommand(): Command {
  const command = new Command('token')
    .description('print a bearer token for a role, signed with the data dir\'s token key (created by the service at its first start)')
    .addOption(new Option('--role <role>', 'role of the token (required to mint)').choices([...ROLES]))
    .option('--sub <id>', 'subject (user or integration id)')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 12h, 30d', '12h')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action(async (opts: { role?: Role; sub?: string; ttl: string; dataDir?: string }) => {
      // Not makeOptionMandatory: that would demand --role of `token revoke` too.
      if (opts.role === undefined) {
        process.stderr.write("error: required option '--role <role>' not specified\n");
        process.exitCode = 1;
        return;
      }
      const config = cliConfig(opts.dataDir);
      const missing = missingTokenKey(config);
      if (missing) {
        process.stderr.write(`auditctl token: ${missing}\n`);
        process.exitCode = 2;
        return;
      }
      const tokens = new TokenService(config);
      const token = await tokens.issue({ role: opts.role, sub: opts.sub, ttl: opts.ttl });
      process.stdout.write(token + '\n');
    });
  command.addCommand(tokenRevokeCommand());
  return command;
}
