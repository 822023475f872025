/**
 * Test double of the RuleOverrideStore port, in memory. It passes the same contract as the SQLite
 * and Elasticsearch adapters (test/contracts/rule-override-store.contract.spec.ts).
 */
import { randomUUID } from 'node:crypto';
import { RuleException, RuleOverrideChange, RuleOverrideState, RuleOverrideStore } from '@app/detection';

/** What a restarted double finds (`new InMemoryRuleOverrideStore(same.kept)`). */
export interface KeptOverrides {
  disabled: Map<string, { by: string; at: string; note: string }>;
  exceptions: RuleException[];
  trail: RuleOverrideChange[];
}

export class InMemoryRuleOverrideStore implements RuleOverrideStore {
  constructor(
    readonly kept: KeptOverrides = { disabled: new Map(), exceptions: [], trail: [] },
    private readonly now: () => Date = () => new Date(),
  ) {}

  state(): RuleOverrideState {
    return { disabled: new Map(this.kept.disabled), exceptions: this.kept.exceptions.map((e) => ({ ...e })) };
  }

  async setEnabled(ruleId: string, enabled: boolean, by: string, note: string): Promise<boolean> {
    if (this.kept.disabled.has(ruleId) !== enabled) return false; // already in that state
    const at = this.now().toISOString();
    if (enabled) this.kept.disabled.delete(ruleId);
    else this.kept.disabled.set(ruleId, { by, at, note });
    this.kept.trail.push({ at, by, ruleId, action: enabled ? 'enable' : 'disable', detail: enabled ? 'rule switched on' : 'rule switched off', note });
    return true;
  }

  async addException(e: Omit<RuleException, 'id' | 'createdAt'>): Promise<RuleException> {
    const full: RuleException = { ...e, id: randomUUID(), createdAt: this.now().toISOString() };
    this.kept.exceptions.push(full);
    this.kept.trail.push({ at: full.createdAt, by: full.createdBy, ruleId: full.ruleId, action: 'add-exception', detail: `${full.field} = ${full.value}`, note: full.reason });
    return { ...full };
  }

  async removeException(id: string, by: string, note: string): Promise<RuleException | null> {
    const i = this.kept.exceptions.findIndex((x) => x.id === id);
    if (i < 0) return null;
    const [found] = this.kept.exceptions.splice(i, 1);
    this.kept.trail.push({ at: this.now().toISOString(), by, ruleId: found.ruleId, action: 'remove-exception', detail: `${found.field} = ${found.value}`, note });
    return found;
  }

  history(limit: number, ruleId?: string): RuleOverrideChange[] {
    return this.kept.trail
      .filter((c) => ruleId === undefined || c.ruleId === ruleId)
      .reverse()
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }
}
