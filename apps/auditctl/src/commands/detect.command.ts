/**
 * `auditctl detect --from <time> [--to <time>]`: backfill. Replays the stored events whose event
 * time is in [from, to) through the detection rules, in commit order as streaming detection does,
 * and stores the alerts through the same idempotent alert store (running it twice, or over a
 * range streaming already covered, adds nothing). Progress bar on a terminal; prints a summary per
 * rule. Works on the data dir directly (hot and warm tiers), the service may be running; with
 * STORE=elasticsearch it replays the cluster by commit position and stores the alerts in its alert
 * index, as the service does (cli-store.ts). The replay is recorded in the
 * access log (OS user, via cli, range, events evaluated).
 */
import { Command } from 'commander';
import { contextSettingsOf, detectionSettingsOf } from '@app/core';
import { loadDetectionRuntime, runBackfill, SqliteRuleOverrideStore } from '@app/detection/service';
import { AlertStore, DetectionEngine, RuleLoadError, withRuleOverrides } from '@app/detection';
import { ContextIndex, MatchingTokenizer, SqliteContextStore } from '@app/context';
import { embeddedTextSealer } from '@app/security';
import { openCliStore } from '../cli-store';
import { cliConfig } from '../data-dir';
import { progressBar } from '../progress';

interface DetectOptions {
  from: string;
  to?: string;
  dataDir?: string;
  dir?: string;
  json?: boolean;
}

function parseTime(value: string, name: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}/.test(value)) throw new Error(`${name} must be an RFC 3339 timestamp or a date (YYYY-MM-DD)`);
  return ms;
}

export function detectCommand(): Command {
  return new Command('detect')
    .description('replay stored events from --from (event time) through the detection rules and store the alerts (backfill; idempotent)')
    .requiredOption('--from <time>', 'first event time to replay (RFC 3339 or YYYY-MM-DD, inclusive)')
    .option('--to <time>', 'end of the replay (exclusive; default: everything stored)')
    .option('--data-dir <dir>', 'data directory: the store, or its keys with STORE=elasticsearch (default: $DATA_DIR, then ./data)')
    .option('--dir <dir>', 'rule directory (default: $RULES_DIR, then ./detection-rules)')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', "\nWith STORE=elasticsearch (and the service's ELASTICSEARCH_* settings) in the environment, reads the cluster the service writes to; keys still come from --data-dir.\n")
    .action(async (opts: DetectOptions) => {
      const fromMs = parseTime(opts.from, '--from');
      const toMs = opts.to === undefined ? undefined : parseTime(opts.to, '--to');
      const config = cliConfig(opts.dataDir);
      const settings = detectionSettingsOf(config);
      let runtime;
      try {
        runtime = loadDetectionRuntime(opts.dir ? { ...settings, rulesDir: opts.dir } : settings);
      } catch (error) {
        if (!(error instanceof RuleLoadError)) throw error;
        process.stderr.write(`auditctl detect: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      const opened = await openCliStore('detect', config);
      if (!opened) return;
      const store = opened.events;
      // Alerts go where the service keeps them: the embedded alert table, or the cluster's alert index.
      const alerts: AlertStore = await opened.alerts();
      const progress = progressBar(!opts.json && Boolean(process.stderr.isTTY));
      try {
        // Rules an admin switched off or gave exceptions (rule overrides, kept in the embedded database) are honoured as in streaming.
        // The context feeds as the service keeps them (embedded store): events are judged with the context as of their time.
        let createEngine = runtime.createEngine;
        if (opened.db) {
          const contextStore = new SqliteContextStore(opened.db, embeddedTextSealer(config));
          await contextStore.init();
          const context = new ContextIndex();
          await contextStore.scan((batch) => context.apply(batch));
          // Names searched for become tokens with the context's own key, as in the service (query.names).
          const names = MatchingTokenizer.forDataDir(config.dataDir, contextSettingsOf(config).matchingKeyFile);
          context.useNameTokenizer((clear) => names.token('name', clear));
          createEngine = () => new DetectionEngine(runtime.rules, { ...runtime.engineOptions, context });
        }
        const engine = opened.db ? withRuleOverrides(createEngine(), new SqliteRuleOverrideStore(opened.db)) : createEngine();
        const summary = await runBackfill(engine, { readSince: store.readSince.bind(store), lastPosition: store.lastPosition.bind(store) }, alerts, {
          range: { fromMs, toMs },
          onProgress: (scanned, total) => progress.update('detect', scanned, total),
        });
        progress.stop();
        await opened.recordRead('detect', {
          action: 'detect.backfill',
          filters: { from: new Date(fromMs).toISOString(), to: toMs === undefined ? undefined : new Date(toMs).toISOString(), rules: summary.rules.length },
          resource: { type: 'AuditEvent' },
          recordCount: summary.evaluated,
          outcome: 'success',
        });
        if (opts.json) {
          process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        } else {
          const to = toMs === undefined ? 'now' : new Date(toMs).toISOString();
          process.stdout.write(`Evaluated ${summary.evaluated} events from ${new Date(fromMs).toISOString()} to ${to} with ${summary.rules.length} rules.\n`);
          process.stdout.write(`${'rule'.padEnd(38)}${'severity'.padEnd(10)}${'alerts'.padStart(8)}${'new'.padStart(8)}\n`);
          for (const r of summary.rules) {
            process.stdout.write(`${r.ruleId.padEnd(38)}${r.severity.padEnd(10)}${String(r.raised).padStart(8)}${String(r.stored).padStart(8)}\n`);
          }
          process.stdout.write(`${summary.raised} alert(s) raised, ${summary.stored} new, ${summary.raised - summary.stored} already stored; ${summary.lateLaned} late event(s) evaluated in late lanes, ${summary.lateDropped} not evaluated by windowed rules.\n`);
        }
      } finally {
        progress.stop();
        await opened.close();
      }
    });
}
