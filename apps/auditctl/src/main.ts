/**
 * `npx auditctl`: the operator's command line (CONTRACT "Running it"). Every command takes
 * `--data-dir` (default: DATA_DIR, then ./data).
 */
import 'reflect-metadata';
import { Command, CommanderError } from 'commander';
import { seedCommand } from './commands/seed.command';
import { tokenCommand } from './commands/token.command';
import { verifyCommand } from './commands/verify.command';

export function buildCli(): Command {
  const program = new Command('auditctl')
    .description('Command-line tool of the HIPAA audit-log service')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(tokenCommand());
  program.addCommand(verifyCommand());
  program.addCommand(seedCommand());
  return program;
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
