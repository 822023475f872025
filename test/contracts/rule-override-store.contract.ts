/**
 * The RuleOverrideStore contract: what detection (state(), read on every alert) and the admin pages
 * (changes, the audit trail newest first) rely on from any adapter: embedded SQLite, Elasticsearch
 * and the in-memory fake. A change is in state() as soon as the call returns, and survives a restart.
 * How another running instance learns of it (the Elasticsearch store's periodic read) stays in its spec.
 */
import { RuleOverrideStore } from '@app/detection';

export interface OpenedRuleOverrideStore {
  store: RuleOverrideStore;
  /** The store as a restarted service opens it on the same storage, loaded. */
  reopen(): Promise<RuleOverrideStore>;
  close(): Promise<void>;
}

/** A clock one second further at every reading, from 2026-03-04T09:00:00Z (the adapters are given it). */
export function tickingClock(): () => Date {
  let ms = Date.parse('2026-03-04T09:00:00Z');
  return () => new Date((ms += 1000));
}

export function describeRuleOverrideStoreContract(name: string, open: () => Promise<OpenedRuleOverrideStore>): void {
  describe(`RuleOverrideStore contract: ${name}`, () => {
    let opened: OpenedRuleOverrideStore;
    let store: RuleOverrideStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('an empty store overrides nothing and has no trail', () => {
      expect(store.state()).toEqual({ disabled: new Map(), exceptions: [] });
      expect(store.history(10)).toEqual([]);
    });

    it('switches a rule off and on, recording only real changes, each in state() at once', async () => {
      expect(await store.setEnabled('bulk-phi-read', true, 'admin-ann', 'already on')).toBe(false);
      expect(await store.setEnabled('bulk-phi-read', false, 'admin-ann', 'noisy during migration')).toBe(true);
      const off = store.state().disabled.get('bulk-phi-read');
      expect(off).toEqual({ by: 'admin-ann', at: expect.any(String), note: 'noisy during migration' });
      expect(Number.isNaN(Date.parse(off!.at))).toBe(false);
      expect(await store.setEnabled('bulk-phi-read', false, 'admin-ann', 'again')).toBe(false);
      expect(await store.setEnabled('bulk-phi-read', true, 'admin-bob', 'migration over')).toBe(true);
      expect(store.state().disabled.size).toBe(0);
      expect(store.history(10).map((c) => [c.action, c.ruleId, c.by, c.note])).toEqual([
        ['enable', 'bulk-phi-read', 'admin-bob', 'migration over'],
        ['disable', 'bulk-phi-read', 'admin-ann', 'noisy during migration'],
      ]);
    });

    it('adds an exception (with an id and a time) and removes it once; an unknown id removes nothing', async () => {
      const exception = await store.addException({ ruleId: 'break-glass-access', field: 'actor.id', value: 'svc-backup', reason: 'backup job', createdBy: 'admin-bob' });
      expect(exception).toEqual({ ruleId: 'break-glass-access', field: 'actor.id', value: 'svc-backup', reason: 'backup job', createdBy: 'admin-bob', id: expect.any(String), createdAt: expect.any(String) });
      const second = await store.addException({ ruleId: 'bulk-phi-read', field: 'actor.id', value: 'svc-etl', reason: 'etl', createdBy: 'admin-ann' });
      expect(store.state().exceptions).toEqual([exception, second]);
      expect(await store.removeException(exception.id, 'admin-bob', 'job retired')).toEqual(exception);
      expect(await store.removeException(exception.id, 'admin-ann', 'twice')).toBeNull();
      expect(await store.removeException('00000000-0000-4000-8000-000000000000', 'admin-ann', 'unknown')).toBeNull();
      expect(store.state().exceptions).toEqual([second]);
    });

    it('keeps the audit trail newest first, what changed and why, limited and by rule', async () => {
      await store.setEnabled('bulk-phi-read', false, 'admin-ann', 'noisy');
      const exception = await store.addException({ ruleId: 'break-glass-access', field: 'actor.id', value: 'svc-backup', reason: 'backup job', createdBy: 'admin-bob' });
      await store.removeException(exception.id, 'admin-bob', 'job retired');
      await store.setEnabled('bulk-phi-read', true, 'admin-bob', 'quiet now');
      expect(store.history(10).map((c) => [c.action, c.ruleId, c.by, c.detail, c.note])).toEqual([
        ['enable', 'bulk-phi-read', 'admin-bob', 'rule switched on', 'quiet now'],
        ['remove-exception', 'break-glass-access', 'admin-bob', 'actor.id = svc-backup', 'job retired'],
        ['add-exception', 'break-glass-access', 'admin-bob', 'actor.id = svc-backup', 'backup job'],
        ['disable', 'bulk-phi-read', 'admin-ann', 'rule switched off', 'noisy'],
      ]);
      expect(store.history(2).map((c) => c.action)).toEqual(['enable', 'remove-exception']);
      expect(store.history(10, 'break-glass-access').map((c) => c.action)).toEqual(['remove-exception', 'add-exception']);
      const times = store.history(10).map((c) => Date.parse(c.at));
      expect([...times].sort((a, b) => b - a)).toEqual(times);
    });

    it('a restarted service finds the same overrides and trail', async () => {
      await store.setEnabled('bulk-phi-read', false, 'admin-ann', 'noisy');
      const kept = await store.addException({ ruleId: 'break-glass-access', field: 'actor.id', value: 'svc-backup', reason: 'backup job', createdBy: 'admin-bob' });
      const gone = await store.addException({ ruleId: 'break-glass-access', field: 'actor.id', value: 'svc-old', reason: 'old job', createdBy: 'admin-bob' });
      await store.removeException(gone.id, 'admin-bob', 'retired');
      const restarted = await opened.reopen();
      expect(restarted.state()).toEqual(store.state());
      expect(restarted.state().exceptions).toEqual([kept]);
      expect(restarted.history(10)).toEqual(store.history(10));
    });
  });
}
