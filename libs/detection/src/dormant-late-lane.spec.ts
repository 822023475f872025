/**
 * Dormant accounts when the history arrives late (issue 17): an account's old activity that
 * reaches detection after newer events of other streams (Kafka partitions consumed interleaved)
 * is judged in a late lane; the main engine still learns of it, so the account's return on time
 * raises the dormant alert instead of looking like a first appearance.
 */
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { DetectionEngine } from './detection-engine';
import { loadRules } from './rule-loader';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const dormantRule = loadRules(path.join(ROOT, 'detection-rules')).filter((r) => r.id === 'dormant-account-access');
const DAY = 86_400_000;
const T = Date.parse('2026-03-03T10:00:00Z');

let n = 0;
const event = (at: number, actor: string, category: AccessEvent['category'], integration: string): AccessEvent => ({
  id: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  occurredAt: new Date(at).toISOString(),
  category,
  action: category === 'authentication' ? 'login' : 'read',
  outcome: 'success',
  actor: { id: actor, type: 'user', role: 'nurse' },
  ...(category === 'data_access' ? { patient: { id: 'MRN-1' }, purpose: 'TREAT' } : {}),
  source: { system: 'ehr', integration },
});

function run(events: AccessEvent[]): { alerts: string[]; lateLaned: number } {
  const engine = new DetectionEngine(dormantRule, { allowedLateness: '2m' });
  const alerts = events.flatMap((e, i) => engine.process(e, i, e.occurredAt)).map((a) => `${a.ruleId} ${a.groupKey['actor.id']}`);
  return { alerts, lateLaned: engine.stats().lateLaned };
}

describe('dormant rule with history judged in a late lane', () => {
  const today = [event(T, 'u-other', 'data_access', 'ehr'), event(T + 60_000, 'u-other', 'data_access', 'ehr')];
  const oldLogin = event(T - 45 * DAY, 'u-dormant', 'authentication', 'portal');
  const returnLogin = event(T + 120_000, 'u-dormant', 'authentication', 'portal');

  it('raises the alert when the 45-day-old login reaches detection after newer events of another stream', () => {
    const r = run([...today, oldLogin, returnLogin]);
    expect(r.lateLaned).toBe(1);
    expect(r.alerts).toEqual(['dormant-account-access u-dormant']);
  });

  it('raises it once, as when the history arrives first', () => {
    expect(run([oldLogin, ...today, returnLogin]).alerts).toEqual(['dormant-account-access u-dormant']);
  });

  it('stays quiet for an account whose late activity is recent', () => {
    const recent = event(T - 10 * 60_000, 'u-active', 'authentication', 'portal');
    const back = event(T + 120_000, 'u-active', 'authentication', 'portal');
    expect(run([...today, recent, back]).alerts).toEqual([]);
  });
});
