/**
 * `auditctl rules test [--dir]`: loads every rule file (a bad file is reported with the file, the
 * field and why) and runs each rule's own examples through the real engine: `fires` scenarios must
 * raise alerts, `quiet` ones must not, also across a snapshot/restore after every event. Prints one
 * line per scenario; exit code 0 when all pass, 1 on any failure.
 */
import { Command } from 'commander';
import * as path from 'node:path';
import { formatExampleReport, loadRules, RuleLoadError, runRuleExamples } from '@app/detection';

interface RulesTestOptions {
  dir?: string;
  runbooksDir?: string;
  dataDir?: string;
}

export function rulesCommand(): Command {
  const rules = new Command('rules').description('detection rules');
  rules
    .command('test')
    .description("run every rule file's examples (fires / quiet); exit code 1 on any failure")
    .option('--dir <dir>', 'rule directory (default: $RULES_DIR, then ./detection-rules)')
    .option('--runbooks-dir <dir>', 'runbook directory the rules must reference (default: $RUNBOOKS_DIR, then ./runbooks)')
    .option('--data-dir <dir>', 'accepted like every command; rules test reads no data')
    .action((opts: RulesTestOptions) => {
      const dir = path.resolve(opts.dir ?? process.env.RULES_DIR ?? './detection-rules');
      const runbooksDir = path.resolve(opts.runbooksDir ?? process.env.RUNBOOKS_DIR ?? './runbooks');
      let loaded;
      try {
        loaded = loadRules(dir, { runbooksDir });
      } catch (error) {
        if (!(error instanceof RuleLoadError)) throw error;
        process.stdout.write(`FAIL: the rules in ${dir} do not load\n`);
        for (const p of error.problems) process.stdout.write(`  ${path.relative(process.cwd(), p.file) || p.file}: ${p.path}: ${p.message}\n`);
        process.exitCode = 1;
        return;
      }
      const results = runRuleExamples(loaded);
      process.stdout.write(formatExampleReport(results) + '\n');
      process.exitCode = results.every((r) => r.passed) ? 0 : 1;
    });
  return rules;
}
