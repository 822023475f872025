/**
 * `npx auditctl`: the operator's command line (CONTRACT "Running it"). Every command takes
 * `--data-dir` (default: DATA_DIR, then ./data).
 */
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { alertsCommand } from './commands/alerts.command';
import { contextCommand } from './commands/context.command';
import { dataKeysCommand } from './commands/data-keys.command';
import { detectCommand } from './commands/detect.command';
import { exportCommand } from './commands/export.command';
import { keysCommand } from './commands/keys.command';
import { migrateCommand } from './commands/migrate.command';
import { certsCommand } from './commands/certs.command';
import { backupCommand, restoreCommand } from './commands/backup.command';
import { reportCommand } from './commands/report.command';
import { retentionCommand } from './commands/retention.command';
import { rulesCommand } from './commands/rules.command';
import { seedCommand } from './commands/seed.command';
import { tokenCommand } from './commands/token.command';
import { usersCommand } from './commands/users.command';
import { verifyCommand } from './commands/verify.command';

export function buildCli(): Command {
  const program = new Command('auditctl')
    .description('Command-line tool of the HIPAA audit-log service')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(tokenCommand());
  program.addCommand(verifyCommand());
  program.addCommand(exportCommand());
  program.addCommand(keysCommand());
  program.addCommand(seedCommand());
  program.addCommand(rulesCommand());
  program.addCommand(detectCommand());
  program.addCommand(reportCommand());
  program.addCommand(dataKeysCommand());
  program.addCommand(retentionCommand());
  program.addCommand(contextCommand());
  program.addCommand(migrateCommand());
  program.addCommand(certsCommand());
  program.addCommand(backupCommand());
  program.addCommand(restoreCommand());
  program.addCommand(usersCommand());
  program.addCommand(alertsCommand());
  return program;
}

// A closed pipe (`auditctl verify | head`) ends the command quietly, as other command-line tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

buildCli()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`auditctl: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
