/**
 * `auditctl users add <name> --role <role> [--reset]`: makes a local console account (or resets one)
 * in the data dir's database (STORE=elasticsearch: in the cluster, for every instance) and prints a one-time password as the LAST line of its output; the person
 * sets their own password at first sign-in. `auditctl users list` shows names, roles and whether a
 * first sign-in is pending (never hashes).
 */
import { Command, Option } from 'commander';
import type { AppConfig } from '@app/core';
import { ACCOUNT_NAME, ConsoleAccounts, ConsoleStore, CONSOLE_ROLES, addLocalAccount } from '@app/console';
import type { Role } from '@app/security';
import { openDatabase } from '@app/storage';
import { openCliStore, usesElasticsearch } from '../cli-store';
import { cliConfig } from '../data-dir';

export function usersCommand(): Command {
  const users = new Command('users').description('local web console accounts (sign-in at /console/)');
  users
    .command('add <name>')
    .description('add a console account and print a one-time password (last line); --reset gives an existing account a new one')
    .addOption(new Option('--role <role>', 'role of the account').choices([...CONSOLE_ROLES]).makeOptionMandatory())
    .option('--reset', 'replace the password (and role) of an existing account, ending its sessions')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action(async (name: string, opts: { role: Role; reset?: boolean; dataDir?: string }) => {
      if (!ACCOUNT_NAME.test(name)) {
        process.stderr.write('auditctl users add: the name must be 1-128 letters, digits, ".", "_", "@" or "-", starting with a letter or digit\n');
        process.exitCode = 2;
        return;
      }
      const config = cliConfig(opts.dataDir);
      const opened = await openAccounts('users add', config);
      if (!opened) return;
      try {
        const { outcome, password } = await addLocalAccount(opened.accounts, name, opts.role, opts.reset === true);
        if (outcome === 'exists') {
          process.stderr.write(`auditctl users add: ${name} already exists; use --reset to give it a new one-time password\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`${outcome === 'created' ? 'Created' : 'Reset'} console account ${name} (role ${opts.role}). Sign in at /console/ with this one-time password; you will be asked to choose your own:\n`);
        process.stdout.write(password + '\n');
      } finally {
        await opened.close();
      }
    });
  users
    .command('list')
    .description('list console accounts (name, role, first sign-in pending)')
    .option('--data-dir <dir>', 'data directory of the service (default: $DATA_DIR, then ./data)')
    .action(async (opts: { dataDir?: string }) => {
      const config = cliConfig(opts.dataDir);
      const opened = await openAccounts('users list', config);
      if (!opened) return;
      try {
        for (const u of await opened.accounts.users()) process.stdout.write(`${u.name}\t${u.role}${u.mustChange ? '\t(one-time password not yet changed)' : ''}${u.disabled ? '\t(disabled)' : ''}\n`);
      } finally {
        await opened.close();
      }
    });
  return users;
}

/**
 * The accounts the service signs people in with: the data dir's database, or with
 * STORE=elasticsearch the cluster's `<prefix>-console` index every instance shares.
 */
async function openAccounts(command: string, config: AppConfig): Promise<{ accounts: ConsoleAccounts; close: () => Promise<void> } | null> {
  if (!usesElasticsearch(config)) {
    // The data dir's database, opened even before the service ever ran (the first admin account).
    const db = openDatabase(config.dataDir);
    return {
      accounts: new ConsoleStore(db),
      close: async () => {
        db.close();
      },
    };
  }
  const store = await openCliStore(command, config);
  if (!store) return null;
  return { accounts: await store.consoleAccounts(), close: () => store.close() };
}
