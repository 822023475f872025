/**
 * Rule overrides: what an admin changes about the loaded rules without editing their files. A rule
 * can be switched off (its alerts are no longer raised) and given exceptions (no alert for one
 * value of one of its groupBy fields, e.g. `actor.id = svc-backup` for a bulk-read rule), each
 * with a reason. Every change is kept in an audit trail saying who changed what, when and why.
 *
 * Detection honours them where alerts leave the engine (withRuleOverrides), so streaming
 * detection drops an overridden alert before it is stored. Exceptions never match patient fields:
 * they would keep a patient identifier in clear in the override store.
 */
import type { DetectionAlert } from './alert';
import type { DetectionEngine } from './detection-engine';

export interface RuleException {
  id: string;
  ruleId: string;
  /** A groupBy field of the rule (never a patient field). */
  field: string;
  value: string;
  reason: string;
  createdBy: string;
  createdAt: string;
}

export type RuleOverrideAction = 'disable' | 'enable' | 'add-exception' | 'remove-exception';

/** One entry of the audit trail. */
export interface RuleOverrideChange {
  at: string;
  by: string;
  ruleId: string;
  action: RuleOverrideAction;
  /** What changed (the exception's field and value), and the note given. */
  detail: string;
  note: string;
}

export interface RuleOverrideState {
  /** Rules switched off, with who did it and when. */
  disabled: ReadonlyMap<string, { by: string; at: string; note: string }>;
  exceptions: readonly RuleException[];
}

/** Why an alert is not raised under the overrides (null: it is). */
export function overrideSuppressing(alert: Pick<DetectionAlert, 'ruleId' | 'groupKey'>, state: RuleOverrideState): string | null {
  if (state.disabled.has(alert.ruleId)) return 'rule-disabled';
  for (const e of state.exceptions) {
    if (e.ruleId !== alert.ruleId) continue;
    const v = alert.groupKey[e.field];
    if (v !== null && v !== undefined && String(v) === e.value) return 'rule-exception';
  }
  return null;
}

/** The engine, with the alerts the overrides suppress dropped as they leave it. */
export function withRuleOverrides(engine: DetectionEngine, overrides: { state(): RuleOverrideState }, onSuppressed?: (reason: string) => void): DetectionEngine {
  // Detectors with budgets (a match rule's burst) skip what will be dropped here.
  engine.setAlertSilencer((ruleId, groupKey) => overrideSuppressing({ ruleId, groupKey }, overrides.state()) !== null);
  const process = engine.process.bind(engine);
  engine.process = (event, position, receivedAt) => {
    const raised = process(event, position, receivedAt);
    if (raised.length === 0) return raised;
    const state = overrides.state();
    if (state.disabled.size === 0 && state.exceptions.length === 0) return raised;
    return raised.filter((a) => {
      const why = overrideSuppressing(a, state);
      if (why) onSuppressed?.(why);
      return why === null;
    });
  };
  return engine;
}
