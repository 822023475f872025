/** `auditctl token --role R [--sub S] [--ttl D]`: mints a bearer token the service on this data dir accepts. */
import { Command, Option } from 'commander';
import { ROLES, Role, TokenService } from '@app/security';
import { cliConfig } from '../data-dir';

export function tokenCommand(): Command {
  return new Command('token')
    .description('print a bearer token for a role, signed with the data dir\'s token key')
    .addOption(new Option('--role <role>', 'role of the token').choices([...ROLES]).makeOptionMandatory())
    .option('--sub <id>', 'subject (user or integration id)')
    .option('--ttl <duration>', 'lifetime, e.g. 15m, 12h, 30d', '12h')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .action(async (opts: { role: Role; sub?: string; ttl: string; dataDir?: string }) => {
      const tokens = new TokenService(cliConfig(opts.dataDir));
      const token = await tokens.issue({ role: opts.role, sub: opts.sub, ttl: opts.ttl });
      process.stdout.write(token + '\n');
    });
}
