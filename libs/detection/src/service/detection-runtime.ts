/**
 * Everything detection needs from disk, loaded once at start-up (service) or per command (CLI):
 * the rule files (validated; a bad file throws RuleLoadError naming the file, the field and why),
 * the compiled runbook templates, and a factory for engines with the configured time zone and
 * late-event allowance. The service and `auditctl detect` build their engines here, so a backfill
 * evaluates exactly as streaming does.
 */
import { AccessContext, DetectionSettings, EMPTY_ACCESS_CONTEXT } from '@app/core';
import { DetectionEngine, DetectionEngineOptions } from '../detection-engine';
import { loadRules } from '../rule-loader';
import { RuleDefinition } from '../rule.schema';
import { RunbookRenderer } from '../runbook-renderer';

export interface DetectionRuntime {
  settings: DetectionSettings;
  /** Every rule file, enabled or not, in file-name order. */
  rules: RuleDefinition[];
  rulesById: Map<string, RuleDefinition>;
  runbooks: RunbookRenderer;
  engineOptions: DetectionEngineOptions;
  createEngine(): DetectionEngine;
}

export const DETECTION_RUNTIME = Symbol('DETECTION_RUNTIME');

/** `context`: what every engine joins events with (ACCESS_CONTEXT when bound; none otherwise). */
export function loadDetectionRuntime(settings: DetectionSettings, context: AccessContext = EMPTY_ACCESS_CONTEXT): DetectionRuntime {
  const rules = loadRules(settings.rulesDir, { runbooksDir: settings.runbooksDir, defaultTimeZone: settings.timeZone });
  const runbooks = new RunbookRenderer(settings.runbooksDir);
  const engineOptions: DetectionEngineOptions = { allowedLateness: settings.allowedLateness, defaultTimeZone: settings.timeZone, context };
  // Fail now, not on the first event, if the engine refuses the set (e.g. duplicate ids).
  new DetectionEngine(rules, engineOptions);
  return {
    settings,
    rules,
    rulesById: new Map(rules.map((r) => [r.id, r])),
    runbooks,
    engineOptions,
    createEngine: () => new DetectionEngine(rules, engineOptions),
  };
}
