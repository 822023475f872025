/**
 * Memory follows the windows, not the history: a million events from a million distinct groups
 * leave only the groups still inside a window (plus the late allowance and one sweep interval),
 * and none once the watermark has moved past them all. Counts groups; asserts nothing on timing.
 */
import { AccessEvent } from '@app/core';
import { DetectionEngine } from './detection-engine';
import { defineRule, HOUR, T0 } from './test-support';

describe('state eviction under many distinct groups', () => {
  it('tracks only the groups inside their windows while 1,000,000 distinct groups stream through', () => {
    const rules = [
      defineRule({ id: 'per-user-count', kind: 'threshold', groupBy: ['actor.id'], gte: 1000, window: '1m' }),
      defineRule({ id: 'per-user-patients', kind: 'cardinality', groupBy: ['actor.id'], distinct: 'patient.id', gte: 1000, window: '1m' }),
      defineRule({
        id: 'per-user-sequence',
        kind: 'sequence',
        groupBy: ['actor.id'],
        steps: [{ where: { outcome: 'failure' }, gte: 3 }, { where: { outcome: 'success' } }],
        window: '1m',
      }),
    ];
    const engine = new DetectionEngine(rules, { allowedLateness: '2m' });
    const total = 1_000_000;
    const spacingMs = 10;
    // A group lives at most window (1m) + lateness (2m) + one sweep interval ((1m + 2m) / 4 = 45 s)
    // after its last event: 225 s of events per rule, whatever the total.
    const bound = rules.length * Math.ceil((225_000 / spacingMs) * 1.05);
    let peak = 0;
    const e: AccessEvent = {
      id: '',
      occurredAt: '',
      category: 'data_access',
      action: 'read',
      outcome: 'failure',
      actor: { id: '', type: 'user' },
      patient: { id: 'p-1' },
      source: { system: 'ehr' },
    };
    for (let i = 0; i < total; i++) {
      // A fresh object per event, as the pipeline delivers them (the engine may keep references).
      const next: AccessEvent = { ...e, id: `e-${i}`, occurredAt: new Date(T0 + i * spacingMs).toISOString(), actor: { id: `user-${i}`, type: 'user' } };
      engine.process(next, i + 1);
      if (i % 50_000 === 49_999) {
        const groups = engine.trackedGroups();
        peak = Math.max(peak, groups);
        expect(groups).toBeLessThanOrEqual(bound);
      }
    }
    expect(engine.stats().processed).toBe(total);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(total / 10);

    // An hour later in event time every one of those groups has left its window.
    engine.process({ ...e, id: 'late-comer', occurredAt: new Date(T0 + total * spacingMs + HOUR).toISOString(), actor: { id: 'someone', type: 'user' } }, total + 1);
    expect(engine.trackedGroups()).toBeLessThanOrEqual(rules.length);
  }, 300_000);
});
