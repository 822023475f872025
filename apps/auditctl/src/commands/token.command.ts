/**
 * `auditctl token --role R [--sub S] [--ttl D]`: mints a bearer token the service on this data dir
 * accepts. Refuses (exit 2) on a data dir the service never started on (no token signing key): a
 * key created here would not be the running service's, and its tokens would get 401.
 */
import { Command, Option } from 'commander';
import { ROLES, Role, TokenService } from '@app/security';
import { cliConfig, missingTokenKey } from '../data-dir';

export function tokenCommand(): Command {
  return new Command('token')
    .description('print a bearer token for a role, signed with the data dir\'s token key (created by the service at its first start)')
    .addOption(new Option('--role <role>', 'role of the token').choices([...ROLES]).makeOptionMandatory())
    .option('--sub <id>', 'subject (user or integration id)')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 12h, 30d', '12h')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action(async (opts: { role: Role; sub?: string; ttl: string; dataDir?: string }) => {
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
}
