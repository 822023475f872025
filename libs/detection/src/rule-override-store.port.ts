/** The RuleOverrideStore port: where admins' rule overrides and their audit trail are kept. */
import type { RuleException, RuleOverrideChange, RuleOverrideState } from './rule-overrides';

/** Where overrides are kept (the embedded database: sqlite-rule-overrides.ts; Elasticsearch: es-rule-overrides.ts). */
export interface RuleOverrideStore {
  /** The current overrides (kept in memory; cheap to call for every alert). */
  state(): RuleOverrideState;
  setEnabled(ruleId: string, enabled: boolean, by: string, note: string): Promise<boolean>;
  addException(exception: Omit<RuleException, 'id' | 'createdAt'>): Promise<RuleException>;
  removeException(id: string, by: string, note: string): Promise<RuleException | null>;
  /** The audit trail, newest first. */
  history(limit: number, ruleId?: string): RuleOverrideChange[];
}

export const RULE_OVERRIDE_STORE = Symbol('RULE_OVERRIDE_STORE');
