/**
 * The streaming engine through its public surface: sliding windows per kind, late events within
 * and beyond the allowance, eviction by watermark, suppression, evidence capping, deterministic
 * ids, replays, and snapshot/restore giving the same alerts as an uninterrupted run.
 */
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { DetectionAlert } from './alert';
import { DetectionEngine, DetectionSnapshot } from './detection-engine';
import { InMemoryAccessContext } from './in-memory-access-context';
import { loadRules } from './rule-loader';
import { withRuleOverrides } from './rule-overrides';
import { DAY, defineRule, event, feed, HOUR, MINUTE, SECOND, T0 } from './test-support';

const failedLogin = (offset: number, actor = 'user-1', ip = '203.0.113.5') =>
  event(offset, { category: 'authentication', action: 'login', outcome: 'failure', actor: { id: actor, type: 'user', ip } });
const login = (offset: number, actor = 'user-1', ip = '203.0.113.5') =>
  event(offset, { category: 'authentication', action: 'login', outcome: 'success', actor: { id: actor, type: 'user', ip } });
const readOf = (offset: number, patient: string, actor = 'user-1') => event(offset, { patient: { id: patient }, actor: { id: actor, type: 'user', role: 'nurse', ip: '10.0.0.10' } });

const denials = defineRule({ id: 'denials', kind: 'threshold', where: { outcome: 'denied' }, groupBy: ['actor.id'], gte: 5, window: '5m', suppress: '30m' });
const distinctPatients = defineRule({ id: 'distinct-patients', kind: 'cardinality', where: { action: 'read' }, groupBy: ['actor.id'], distinct: 'patient.id', gte: 5, window: '10m' });
const exportSum = defineRule({ id: 'export-sum', kind: 'threshold', where: { action: 'export' }, groupBy: ['actor.id'], sum: 'recordCount', gte: 1000, window: '1h' });
const bruteForce = defineRule({
  id: 'brute-force',
  kind: 'sequence',
  where: { category: 'authentication', action: 'login' },
  groupBy: ['actor.id'],
  steps: [{ where: { outcome: 'failure' }, gte: 3 }, { where: { outcome: 'success' } }],
  window: '10m',
  suppress: '0s',
});
const breakGlass = defineRule({ id: 'break-glass', kind: 'match', where: { action: 'break_glass' }, groupBy: ['actor.id', 'patient.id'], suppress: '1h' });

const denied = (offset: number, actor = 'user-1') => event(offset, { outcome: 'denied', actor: { id: actor, type: 'user' } });

describe('threshold (count per group in a sliding window)', () => {
  it('fires when the count within any window reaches gte, even across clock-aligned boundaries', () => {
    const engine = new DetectionEngine([denials]);
    // 14:04:00 .. 14:08:00 straddles a 5-minute boundary that a tumbling window would split.
    const alerts = feed(engine, [0, 1, 2, 3, 4].map((m) => denied(4 * MINUTE + m * MINUTE)));
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ ruleId: 'denials', count: 5, threshold: 5, groupKey: { 'actor.id': 'user-1' }, position: 4 });
    expect(alerts[0].windowEnd).toBe(new Date(T0 + 8 * MINUTE).toISOString());
    expect(alerts[0].windowStart).toBe(new Date(T0 + 3 * MINUTE).toISOString());
  });

  it('stays quiet when the same count is spread wider than the window', () => {
    const engine = new DetectionEngine([denials]);
    expect(feed(engine, [0, 2, 4, 6, 8].map((m) => denied(m * 80 * SECOND)))).toHaveLength(0);
  });

  it('counts each group on its own', () => {
    const engine = new DetectionEngine([denials]);
    const events = [0, 1, 2, 3, 4].flatMap((i) => [denied(i * SECOND, 'a'), ...(i < 4 ? [denied(i * SECOND, 'b')] : [])]);
    const alerts = feed(engine, events);
    expect(alerts.map((a) => a.groupKey['actor.id'])).toEqual(['a']);
  });

  it('sums a field (recordCount) instead of counting when `sum` is set', () => {
    const engine = new DetectionEngine([exportSum]);
    const exp = (offset: number, n?: number) => event(offset, { action: 'export', ...(n === undefined ? {} : { recordCount: n }) });
    expect(feed(engine, [exp(0, 400), exp(10 * MINUTE, 300), exp(20 * MINUTE)])).toHaveLength(0);
    const alerts = feed(engine, [exp(30 * MINUTE, 300)]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ sum: 1000, count: 4 });
    // An hour later the early exports have left the window.
    expect(feed(engine, [exp(90 * MINUTE + 1, 400)])).toHaveLength(0);
  });
});

describe('cardinality (distinct values per group)', () => {
  it('counts distinct patients, not reads', () => {
    const engine = new DetectionEngine([distinctPatients]);
    expect(feed(engine, [1, 2, 3, 4, 1, 2, 3, 4, 1].map((p, i) => readOf(i * SECOND, `p-${p}`)))).toHaveLength(0);
    const alerts = feed(engine, [readOf(20 * SECOND, 'p-5')]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ distinctCount: 5, count: 10 });
    expect(alerts[0].summary.topPatients[0]).toEqual({ patientId: 'p-1', count: 3 });
    expect(alerts[0].summary.distinctPatients).toBe(5);
  });

  it('slides: values leave the window as it moves', () => {
    const engine = new DetectionEngine([distinctPatients]);
    // Four patients, then a fifth 11 minutes after the first: only four are inside any window.
    const alerts = feed(engine, [readOf(0, 'p-1'), readOf(5 * MINUTE, 'p-2'), readOf(6 * MINUTE, 'p-3'), readOf(7 * MINUTE, 'p-4'), readOf(11 * MINUTE, 'p-5')]);
    expect(alerts).toHaveLength(0);
    expect(feed(engine, [readOf(12 * MINUTE, 'p-6')])).toHaveLength(1);
  });
});

describe('sequence (A then B for the same group within the window)', () => {
  it('fires on the success after enough failures, with the steps in the context', () => {
    const engine = new DetectionEngine([bruteForce]);
    const alerts = feed(engine, [failedLogin(0), failedLogin(10 * SECOND), failedLogin(20 * SECOND), login(30 * SECOND)]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].context?.steps).toEqual([
      { name: 'step 1', count: 3 },
      { name: 'step 2', count: 1 },
    ]);
    expect(alerts[0].count).toBe(4);
  });

  it('needs the order, the same group and the window', () => {
    expect(feed(new DetectionEngine([bruteForce]), [login(0), failedLogin(1), failedLogin(2), failedLogin(3)])).toHaveLength(0);
    expect(feed(new DetectionEngine([bruteForce]), [failedLogin(0), failedLogin(1), failedLogin(2), login(3, 'user-2')])).toHaveLength(0);
    expect(feed(new DetectionEngine([bruteForce]), [failedLogin(0), failedLogin(1), failedLogin(2), login(11 * MINUTE)])).toHaveLength(0);
  });

  it('consumes the events of a completed sequence (no second alert for the next success)', () => {
    const engine = new DetectionEngine([bruteForce]);
    const alerts = feed(engine, [failedLogin(0), failedLogin(1000), failedLogin(2000), login(3000), login(4000)]);
    expect(alerts).toHaveLength(1);
    expect(feed(engine, [failedLogin(5000), failedLogin(6000), failedLogin(7000), login(8000)])).toHaveLength(1);
  });

  it('a late failure (within the allowance) completes a sequence whose success already arrived', () => {
    const engine = new DetectionEngine([bruteForce]);
    expect(feed(engine, [failedLogin(10 * SECOND), failedLogin(20 * SECOND), login(30 * SECOND)])).toHaveLength(0);
    const alerts = feed(engine, [failedLogin(5 * SECOND)]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].windowEnd).toBe(new Date(T0 + 30 * SECOND).toISOString());
  });
});

describe('match', () => {
  it('alerts per event, suppressed per group', () => {
    const engine = new DetectionEngine([breakGlass]);
    const bg = (offset: number, patient: string) => event(offset, { action: 'break_glass', patient: { id: patient } });
    const alerts = feed(engine, [bg(0, 'p-1'), bg(10 * MINUTE, 'p-1'), bg(11 * MINUTE, 'p-2'), bg(61 * MINUTE, 'p-1')]);
    expect(alerts.map((a) => [a.groupKey['patient.id'], a.windowStart])).toEqual([
      ['p-1', new Date(T0).toISOString()],
      ['p-2', new Date(T0 + 11 * MINUTE).toISOString()],
      ['p-1', new Date(T0 + 61 * MINUTE).toISOString()],
    ]);
    expect(engine.stats().suppressed).toBe(1);
  });

  it('still alerts when a groupBy field is missing (as null)', () => {
    const alerts = feed(new DetectionEngine([breakGlass]), [event(0, { action: 'break_glass' })]);
    expect(alerts[0].groupKey).toEqual({ 'actor.id': 'user-1', 'patient.id': null });
  });

  it('category, action, outcome and actor type conditions mean the same in every form the rule index reads', () => {
    // The index decides the plain sets (a value, a list, eq, in) before the rule runs; the other forms
    // (not, in with not, prefix, nested in any/not) stay in the rule's own check. Each rule alerts on exactly
    // the events its where admits, whichever decides.
    const rules = [
      defineRule({ id: 'plain', kind: 'match', where: { category: 'data_access', action: ['read', 'export'], outcome: { eq: 'success' }, 'actor.type': { in: ['user'] } }, groupBy: [] }),
      defineRule({ id: 'mixed', kind: 'match', where: { category: { in: ['data_access', 'security'], not: 'security' }, outcome: { not: 'success' } }, groupBy: [] }),
      defineRule({ id: 'prefixed', kind: 'match', where: { action: { prefix: 'ex' }, 'actor.type': 'service' }, groupBy: [] }),
      defineRule({ id: 'nested', kind: 'match', where: { any: [{ outcome: 'denied' }, { action: 'export' }], not: { 'actor.type': 'service' } }, groupBy: [] }),
      defineRule({ id: 'unexplained', kind: 'match', where: { action: 'read', explained: false }, groupBy: [] }),
    ];
    const events = [
      event(0, { action: 'read', patient: { id: 'p-1' } }),
      event(1, { action: 'export', actor: { id: 'svc', type: 'service' } }),
      event(2, { action: 'export', outcome: 'denied' }),
      event(3, { category: 'security', outcome: 'failure' }),
      event(4, { outcome: 'failure' }),
      event(5, { action: 'query', outcome: 'denied', actor: { id: 'svc', type: 'service' } }),
    ];
    const fired = feed(new DetectionEngine(rules), events).map((a) => `${a.ruleId}@${a.position}`);
    expect(fired.sort()).toEqual(
      ['plain@0', 'unexplained@0', 'prefixed@1', 'mixed@2', 'nested@2', 'mixed@4', 'mixed@5'].sort(),
    );
  });
});

describe('match with burst (issue 22: one flood is not hundreds of alerts)', () => {
  const flood = defineRule({ id: 'flood', kind: 'match', where: { action: 'break_glass' }, groupBy: ['actor.id', 'patient.id'], suppress: '4h', burst: { by: 'source.integration', max: 3, window: '1m' } });
  const bg = (offset: number, n: number, integration = 'ehr-gateway') =>
    event(offset, { action: 'break_glass', actor: { id: `u-${n}`, type: 'user' }, patient: { id: `p-${n}` }, source: { system: integration, integration } });

  it('raises max alerts per source and window, then one that stands for the rest, and counts the rest as suppressed', () => {
    const engine = new DetectionEngine([flood]);
    const alerts = feed(engine, Array.from({ length: 50 }, (_, i) => bg(i * SECOND, i)));
    expect(alerts).toHaveLength(4);
    expect(alerts.slice(0, 3).map((a) => a.context)).toEqual([undefined, undefined, undefined]);
    expect(alerts[3].context).toEqual({ burst: { field: 'source.integration', value: 'ehr-gateway', max: 3, window: '1m' } });
    expect(alerts[3]).toMatchObject({ windowStart: new Date(T0).toISOString(), windowEnd: new Date(T0 + MINUTE).toISOString(), patient: 'p-3' });
    expect(engine.stats().suppressed).toBe(46);
  });

  it('folds each source on its own, and opens a new burst once event time leaves the window', () => {
    const engine = new DetectionEngine([flood]);
    const alerts = feed(engine, [...Array.from({ length: 10 }, (_, i) => bg(i * SECOND, i)), bg(11 * SECOND, 100, 'lis'), bg(MINUTE, 200), bg(MINUTE + 1, 201)]);
    expect(alerts.map((a) => [a.patient, a.context?.burst?.value ?? null])).toEqual([
      ['p-0', null], ['p-1', null], ['p-2', null], ['p-3', 'ehr-gateway'],
      ['p-100', null],
      ['p-200', null], ['p-201', null],
    ]);
  });

  it('counts an out-of-order event of the same source into the current burst instead of reopening it', () => {
    const engine = new DetectionEngine([flood]);
    // 80 s out of order (within the 2 min allowance): interleaving old times must not restart the count.
    const alerts = feed(engine, [bg(100 * SECOND, 0), bg(100 * SECOND + 1, 1), bg(20 * SECOND, 2), bg(100 * SECOND + 2, 3), bg(100 * SECOND + 3, 4)]);
    expect(alerts.map((a) => a.patient)).toEqual(['p-0', 'p-1', 'p-2', 'p-3']);
    expect(alerts[3].context?.burst).toBeDefined();
  });

  it('keeps a burst across snapshot and restore: a restarted worker does not start the count again', () => {
    const engine = new DetectionEngine([flood]);
    const before = feed(engine, Array.from({ length: 2 }, (_, i) => bg(i * SECOND, i)));
    const restarted = new DetectionEngine([flood]);
    expect(restarted.restore(JSON.parse(JSON.stringify(engine.snapshot())) as DetectionSnapshot)).toEqual({ restored: ['flood'], reset: [] });
    const after = feed(restarted, Array.from({ length: 10 }, (_, i) => bg((2 + i) * SECOND, 2 + i)));
    expect([...before, ...after].map((a) => a.patient)).toEqual(['p-0', 'p-1', 'p-2', 'p-3']);
  });

  it("an excepted actor's alerts (rule overrides) neither use up the burst nor stand for it", () => {
    const kiosk = (offset: number, n: number) =>
      event(offset, { action: 'break_glass', actor: { id: 'svc-kiosk', type: 'user' }, patient: { id: `k-${n}` }, source: { system: 'ehr-gateway', integration: 'ehr-gateway' } });
    const traffic = () => [...Array.from({ length: 10 }, (_, i) => kiosk(i * SECOND, i)), ...Array.from({ length: 5 }, (_, i) => bg((20 + i) * SECOND, i))];
    const state = { disabled: new Map(), exceptions: [{ id: 'x1', ruleId: 'flood', field: 'actor.id', value: 'svc-kiosk', reason: 'shared kiosk', createdBy: 'admin', createdAt: '' }] };
    const alerts = feed(withRuleOverrides(new DetectionEngine([flood]), { state: () => state }), traffic());
    expect(alerts.map((a) => [a.patient, a.context?.burst ? 'burst' : 'own'])).toEqual([['p-0', 'own'], ['p-1', 'own'], ['p-2', 'own'], ['p-3', 'burst']]);
    // Without the exception the kiosk's ten are the burst, and the users' five are folded into it.
    expect(feed(new DetectionEngine([flood]), traffic()).map((a) => a.patient)).toEqual(['k-0', 'k-1', 'k-2', 'k-3']);
  });

  it('a rule whose burst changed starts with empty state (the burst is part of the fingerprint)', () => {
    const engine = new DetectionEngine([flood]);
    feed(engine, [bg(0, 0)]);
    const wider = defineRule({ ...flood, burst: { by: 'source.integration', max: 5, window: '1m' } });
    expect(new DetectionEngine([wider]).restore(engine.snapshot())).toEqual({ restored: [], reset: ['flood'] });
  });
});

describe('late events', () => {
  it('within the allowance: placed in event time, so arrival order does not matter', () => {
    const inOrder = feed(new DetectionEngine([denials]), [0, 1, 2, 3, 4].map((s) => denied(s * SECOND, 'x')));
    const ids = inOrder.length;
    const engine = new DetectionEngine([denials]);
    const shuffled = [1, 2, 3, 4, 0].map((s) => denied(s * SECOND, 'x'));
    const alerts = feed(engine, shuffled);
    expect(ids).toBe(1);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].evidence.firstEventId).toBe(shuffled[4].id);
    expect(alerts[0].evidence.lastEventId).toBe(shuffled[3].id);
    expect(alerts[0].windowEnd).toBe(new Date(T0 + 4 * SECOND).toISOString());
    expect(engine.stats().lateDropped).toBe(0);
  });

  it('late cardinality events count toward the windows they belong to', () => {
    const engine = new DetectionEngine([distinctPatients], { allowedLateness: '2m' });
    feed(engine, [readOf(60 * SECOND, 'p-2'), readOf(70 * SECOND, 'p-3'), readOf(80 * SECOND, 'p-4'), readOf(90 * SECOND, 'p-5')]);
    const alerts = feed(engine, [readOf(0, 'p-1')]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].distinctCount).toBe(5);
  });

  it('beyond the allowance: evaluated in the late lane of its stream (issue 13: late data is never silently dropped)', () => {
    const engine = new DetectionEngine([denials, breakGlass], { allowedLateness: '2m' });
    feed(engine, [denied(10 * MINUTE), denied(10 * MINUTE + 1), denied(10 * MINUTE + 2), denied(10 * MINUTE + 3)]);
    const alerts = feed(engine, [denied(5 * MINUTE), event(5 * MINUTE, { action: 'break_glass', patient: { id: 'p-1' } })]);
    expect(alerts.map((a) => a.ruleId)).toEqual(['break-glass']);
    expect(engine.stats()).toMatchObject({ lateDropped: 0, lateLaned: 2, lanes: 1, processed: 6, unevaluated: {} });
    // Four more late denials complete a window of five in the lane.
    const more = feed(engine, [1, 2, 3, 4].map((s) => denied(5 * MINUTE + s * SECOND)));
    expect(more.map((a) => a.ruleId)).toEqual(['denials']);
    expect(more[0].windowEnd).toBe(new Date(T0 + 5 * MINUTE + 4 * SECOND).toISOString());
  });

  it('a nightly batch of yesterday from another integration raises its own alerts; live traffic is unaffected', () => {
    const engine = new DetectionEngine([distinctPatients]);
    const live = (offset: number, patient: string, actor: string) =>
      event(offset, { patient: { id: patient }, actor: { id: actor, type: 'user' }, source: { system: 'ehr', integration: 'ehr-gateway' } });
    const batch = (offset: number, patient: string) =>
      event(offset - DAY, { patient: { id: patient }, actor: { id: 'night-snoop', type: 'user' }, source: { system: 'legacy', integration: 'legacy-batch' } });
    const events: AccessEvent[] = [];
    for (let i = 0; i < 10; i++) {
      events.push(live(i * SECOND, `p-${i % 2}`, 'day-nurse'));
      events.push(batch(i * SECOND, `q-${i}`));
    }
    const alerts = feed(engine, events);
    expect(alerts.map((a) => [a.ruleId, a.actor])).toEqual([['distinct-patients', 'night-snoop']]);
    expect(alerts[0].windowEnd.slice(0, 10)).toBe('2024-03-04');
    expect(engine.stats()).toMatchObject({ lateLaned: 10, lateDropped: 0, unevaluated: {} });
  });

  it('no source can move another source\'s clock (issue 22): one event dated now + 4 min does not blind the others', () => {
    const engine = new DetectionEngine([distinctPatients], { allowedLateness: '2m', maxFutureSkew: '5m' });
    const now = T0;
    const attack = event(4 * MINUTE, { source: { system: 'a', integration: 'integration-a' }, patient: { id: 'x' }, actor: { id: 'svc', type: 'service' } });
    expect(engine.process(attack, 1, now)).toEqual([]);
    const reads = [0, 1, 2, 3, 4, 5].map((i) =>
      event(i * SECOND, { patient: { id: `p-${i}` }, actor: { id: 'snoop', type: 'user' }, source: { system: 'b', integration: 'integration-b' } }),
    );
    const alerts = reads.flatMap((e, i) => [...engine.process(e, i + 2, now + i * SECOND)]);
    expect(alerts.map((a) => a.actor)).toEqual(['snoop']);
    expect(engine.stats()).toMatchObject({ lateDropped: 0, lateLaned: 0 });
  });

  it('a partition lagging minutes behind another holds the watermark back instead of being dropped', () => {
    const engine = new DetectionEngine([distinctPatients], { allowedLateness: '2m' });
    // Authentication (one partition) runs 6 minutes ahead of data access (another) from the same integration.
    const events: AccessEvent[] = [readOf(0, 'p-0')];
    for (let i = 0; i < 8; i++) {
      events.push(event(6 * MINUTE + i * 10 * SECOND, { category: 'authentication', action: 'login', actor: { id: `u-${i}`, type: 'user' } }));
      events.push(readOf(i * 10 * SECOND, `p-${i}`));
    }
    const alerts = feed(engine, events);
    expect(alerts).toHaveLength(1);
    expect(engine.stats()).toMatchObject({ lateDropped: 0, lateLaned: 0 });
  });

  it('what even a lane cannot place is counted per source and raises one data-quality alert', () => {
    const engine = new DetectionEngine([denials], { allowedLateness: '2m' });
    feed(engine, [denied(60 * MINUTE)]);
    const src = { system: 'lab', integration: 'lab-feed' };
    const alerts = feed(engine, [event(30 * MINUTE, { outcome: 'denied', source: src }), event(10 * MINUTE, { outcome: 'denied', source: src }), event(9 * MINUTE, { outcome: 'denied', source: src })]);
    expect(alerts.map((a) => [a.ruleId, a.reasons, a.groupKey])).toEqual([
      ['data-quality-unevaluated', ['unevaluated-events'], { 'source.integration': 'lab-feed', 'source.system': 'lab' }],
    ]);
    expect(alerts[0].actor).toBeUndefined();
    expect(alerts[0].patient).toBeUndefined();
    expect(engine.stats()).toMatchObject({ lateLaned: 3, lateDropped: 2, unevaluated: { 'lab-feed': 2 } });
    expect(engine.stats().rules['data-quality-unevaluated']).toMatchObject({ alerts: 1, suppressed: 1 });
  });

  it('clamps an occurredAt far ahead of its receive time so it cannot blind the windows', () => {
    const engine = new DetectionEngine([denials], { maxFutureSkew: '5m' });
    engine.process(denied(365 * DAY), 1, T0);
    expect(engine.stats().futureClamped).toBe(1);
    // Without the clamp the watermark would sit a year ahead and these would all be too late.
    const alerts = feed(engine, [1, 2, 3, 4, 5].map((s) => denied(4 * MINUTE + s * SECOND)), 2);
    expect(alerts).toHaveLength(1);
    expect(engine.stats().lateDropped).toBe(0);
  });

  it('counts events whose time cannot be read under their source, with a data-quality alert dated by their receive time', () => {
    const engine = new DetectionEngine([denials]);
    expect(engine.process({ ...denied(0), occurredAt: 'yesterday' }, 1)).toEqual([]);
    expect(engine.stats()).toMatchObject({ invalidTime: 1, unevaluated: { 'ehr-gateway': 1 } });
    const alerts = engine.process({ ...denied(0), occurredAt: 'tomorrow' }, 2, T0);
    expect(alerts.map((a) => [a.ruleId, a.windowEnd])).toEqual([['data-quality-unevaluated', new Date(T0).toISOString()]]);
    expect(engine.stats().unevaluated).toEqual({ 'ehr-gateway': 2 });
  });
});

describe('state is evicted once the watermark passes its window', () => {
  it('drops idle groups (and keeps one while its suppression can still matter)', () => {
    const engine = new DetectionEngine([denials], { allowedLateness: '1m' });
    feed(engine, [1, 2, 3, 4, 5].map((s) => denied(s * SECOND, 'alerted')));
    feed(engine, [denied(0, 'quiet-1'), denied(0, 'quiet-2')]);
    expect(engine.trackedGroups()).toBe(3);
    // 10 minutes on: windows (5m) + lateness (1m) passed, suppression (30m) of "alerted" has not.
    feed(engine, [denied(10 * MINUTE, 'other')]);
    expect(engine.trackedGroups()).toBe(2);
    feed(engine, [denied(50 * MINUTE, 'other')]);
    expect(engine.trackedGroups()).toBe(1);
    expect(engine.stats().rules.denials.groups).toBe(1);
  });
});

describe('suppression', () => {
  it('one alert per rule and group per suppress period; then again', () => {
    const engine = new DetectionEngine([denials]);
    const burst = (start: number) => Array.from({ length: 20 }, (_, i) => denied(start + i * 10 * SECOND));
    expect(feed(engine, burst(0))).toHaveLength(1);
    expect(engine.stats().suppressed).toBe(15);
    expect(feed(engine, burst(31 * MINUTE))).toHaveLength(1);
  });
});

describe('evidence', () => {
  it('caps the ids but always keeps the first and the last contributing event', () => {
    const rule = defineRule({ kind: 'threshold', where: { outcome: 'denied' }, groupBy: ['actor.id'], gte: 200, window: '1h' });
    const engine = new DetectionEngine([rule], { evidenceCap: 50 });
    const events = Array.from({ length: 200 }, (_, i) => denied(i * SECOND));
    const [alert] = feed(engine, events);
    expect(alert.count).toBe(200);
    expect(alert.evidence).toMatchObject({ total: 200, truncated: true, firstEventId: events[0].id, lastEventId: events[199].id });
    expect(alert.evidence.eventIds).toHaveLength(50);
    expect(alert.evidence.eventIds[0]).toBe(events[0].id);
    expect(alert.evidence.eventIds[49]).toBe(events[199].id);
    expect(alert.summary).toMatchObject({ eventCount: 200, spanMs: 199 * SECOND, sourceIps: [], sourceSystems: ['ehr'], integrations: ['ehr-gateway'] });
  });

  it('for cardinality, spends the cap on one event per distinct value first', () => {
    const rule = defineRule({ kind: 'cardinality', groupBy: ['actor.id'], distinct: 'patient.id', gte: 10, window: '1h' });
    const engine = new DetectionEngine([rule], { evidenceCap: 12 });
    // 100 reads of p-0 first, then p-1..p-9: all ten patients must be in the evidence.
    const events = [...Array.from({ length: 100 }, (_, i) => readOf(i * SECOND, 'p-0')), ...Array.from({ length: 9 }, (_, i) => readOf((200 + i) * SECOND, `p-${i + 1}`))];
    const [alert] = feed(engine, events);
    const byId = new Map(events.map((e) => [e.id, e.patient!.id]));
    expect(new Set(alert.evidence.eventIds.map((id) => byId.get(id))).size).toBe(10);
    expect(alert.evidence.eventIds).toHaveLength(12);
    expect(alert.evidence.eventIds).toContain(events[0].id);
    expect(alert.evidence.eventIds).toContain(events[108].id);
  });
});

describe('new_value and dormant', () => {
  const newIp = defineRule({ kind: 'new_value', where: { 'actor.type': 'service' }, groupBy: ['actor.id'], distinct: 'actor.ip', window: '30d' });
  const svc = (offset: number, ip: string) => event(offset, { actor: { id: 'svc-1', type: 'service', ip } });

  it('new_value: the first value teaches, a new one alerts once, and forgotten values are new again', () => {
    const engine = new DetectionEngine([newIp]);
    expect(feed(engine, [svc(0, '10.1.0.1'), svc(HOUR, '10.1.0.1')])).toHaveLength(0);
    const alerts = feed(engine, [svc(2 * HOUR, '10.1.0.2'), svc(3 * HOUR, '10.1.0.2')]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].context).toEqual({ newValue: '10.1.0.2', knownValues: ['10.1.0.1'] });
    expect(alerts[0].evidence.eventIds).toHaveLength(2);
    feed(engine, [svc(40 * DAY, '10.1.0.2')]);
    expect(feed(engine, [svc(40 * DAY + HOUR, '10.1.0.1')])).toHaveLength(1);
  });

  it('dormant: alerts on activity after the idle period, not before, and forgets after the window', () => {
    const rule = defineRule({ kind: 'dormant', groupBy: ['actor.id'], idle: '30d', window: '90d' });
    const engine = new DetectionEngine([rule]);
    expect(feed(engine, [readOf(0, 'p'), readOf(29 * DAY, 'p')])).toHaveLength(0);
    const alerts = feed(engine, [readOf(60 * DAY, 'p')]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].context).toMatchObject({ idleMs: 31 * DAY, previousActivityAt: new Date(T0 + 29 * DAY).toISOString() });
    expect(feed(engine, [readOf(200 * DAY, 'p')])).toHaveLength(0);
    expect(engine.trackedGroups()).toBe(1);
  });
});

/**
 * Deterministic pseudo-random traffic for the default rules: benign noise, planted suspicious
 * patterns (round robin), some events up to 90 s late and a few far too late, long quiet gaps.
 */
function syntheticTraffic(count: number, seed = 42): AccessEvent[] {
  let state = seed;
  const rand = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]) => xs[int(xs.length)];
  const events: AccessEvent[] = [];
  let clock = 0;
  let planted = 0;
  const user = (id: string, extra: Partial<AccessEvent['actor']> = {}) => ({ id, type: 'user' as const, role: 'nurse', ip: `10.0.0.${int(20)}`, ...extra });
  const plant = (n: number, make: (i: number, at: number) => AccessEvent) => {
    for (let i = 0; i < n; i++) {
      clock += 1 + int(3 * SECOND);
      events.push(make(i, clock));
    }
  };
  while (events.length < count) {
    clock += int(4 * SECOND);
    const skew = rand() < 0.05 ? -int(90 * SECOND) : rand() < 0.002 ? -10 * MINUTE : 0;
    const at = clock + skew;
    const roll = rand();
    if (roll < 0.8) {
      events.push(event(at, { patient: { id: `p-${int(30)}` }, actor: user(`user-${int(40)}`, { role: pick(['nurse', 'physician']) }), purpose: pick(['TREAT', 'PAYMENT']), sensitivity: rand() < 0.01 ? ['vip'] : undefined }));
    } else if (roll < 0.9) {
      events.push(event(at, { category: 'authentication', action: 'login', outcome: rand() < 0.1 ? 'failure' : 'success', actor: user(`user-${int(40)}`) }));
    } else if (roll < 0.95) {
      events.push(event(at, { actor: { id: `svc-${int(3)}`, type: 'service', ip: `10.9.0.${int(2)}` }, patient: { id: `p-${int(30)}` } }));
    } else if (roll < 0.995) {
      const kind = planted++ % 8;
      const who = `user-${100 + planted}`;
      if (kind === 0) plant(60, (i, t) => event(t, { patient: { id: `bulk-${i}` }, actor: user(who) }));
      if (kind === 1) {
        plant(6, (_i, t) => event(t, { category: 'authentication', action: 'login', outcome: 'failure', actor: user(who) }));
        plant(1, (_i, t) => event(t, { category: 'authentication', action: 'login', outcome: 'success', actor: user(who) }));
      }
      if (kind === 2) plant(12, (_i, t) => event(t, { category: 'authentication', action: 'tls_handshake', outcome: 'failure', actor: { id: 'gw', type: 'service', ip: `198.51.100.${planted % 250}` }, tls: { result: 'failure', clientSubject: `CN=c${planted}` } }));
      if (kind === 3) plant(12, (i, t) => event(t, { outcome: 'denied', actor: user(who), patient: { id: `d-${i}` } }));
      if (kind === 4) plant(3, (_i, t) => event(t, { action: 'export', recordCount: 2500, actor: user(who) }));
      if (kind === 5) plant(1, (_i, t) => event(t, { actor: { id: `svc-${int(3)}`, type: 'service', ip: `203.0.113.${planted % 250}` } }));
      if (kind === 6) plant(1, (_i, t) => event(t, { action: 'break_glass', actor: user(who), patient: { id: 'p-1' } }));
      if (kind === 7) plant(1, (_i, t) => event(t, { actor: user(`user-${int(40)}`), patient: { id: 'p-2' }, sensitivity: ['substance_use'] }));
    } else {
      clock += rand() < 0.1 ? 35 * DAY : 6 * HOUR;
    }
  }
  return events.slice(0, count);
}

/** Counts turns of the event loop (a setImmediate callback that re-arms itself) until stop(). */
function immediateTicker(): { stop(): number } {
  let ticks = 0;
  let running = true;
  const tick = () => {
    ticks++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop: () => {
      running = false;
      return ticks;
    },
  };
}

describe('restarts', () => {
  const rules = loadRules(path.resolve(__dirname, '../../../detection-rules'));
  const traffic = syntheticTraffic(20_000);
  const uninterrupted = feed(new DetectionEngine(rules), traffic, 1);

  it('the synthetic traffic exercises most rules', () => {
    expect(new Set(uninterrupted.map((a) => a.ruleId)).size).toBeGreaterThanOrEqual(8);
  });

  it('snapshot/restore mid-stream gives exactly the alerts of an uninterrupted run', () => {
    const alerts: DetectionAlert[] = [];
    let engine = new DetectionEngine(rules);
    let position = 1;
    for (let start = 0; start < traffic.length; start += 1_777) {
      alerts.push(...feed(engine, traffic.slice(start, start + 1_777), position));
      position += traffic.slice(start, start + 1_777).length;
      const saved = JSON.parse(JSON.stringify(engine.snapshot())) as DetectionSnapshot;
      engine = new DetectionEngine(rules);
      expect(engine.restore(saved).reset).toEqual([]);
      expect(engine.lastPosition).toBe(position - 1);
    }
    expect(alerts).toEqual(uninterrupted);
  });

  it('a snapshot built in turns of the event loop is the one snapshot() gives, and restores to the same alerts', async () => {
    const alerts: DetectionAlert[] = [];
    let engine = new DetectionEngine(rules);
    let position = 1;
    const ticker = immediateTicker();
    let turns = 0;
    try {
      for (let start = 0; start < traffic.length; start += 4_999) {
        const slice = traffic.slice(start, start + 4_999);
        alerts.push(...feed(engine, slice, position));
        position += slice.length;
        const inTurns = await engine.snapshotInTurns(0);
        expect(JSON.stringify(inTurns)).toBe(JSON.stringify(engine.snapshot()));
        engine = new DetectionEngine(rules);
        expect(engine.restore(JSON.parse(JSON.stringify(inTurns)) as DetectionSnapshot).reset).toEqual([]);
      }
    } finally {
      turns = ticker.stop();
    }
    expect(alerts).toEqual(uninterrupted);
    // Other work ran while the snapshots were being built.
    expect(turns).toBeGreaterThan(0);
  });

  it('a window of thousands of entries is snapshotted in several turns, and restores to the same alerts', async () => {
    const wide = defineRule({ id: 'wide', kind: 'cardinality', where: { action: 'read' }, groupBy: ['actor.id'], distinct: 'patient.id', gte: 2_500, window: '1h' });
    const reads = Array.from({ length: 3_000 }, (_, i) => readOf(i * 100, `p-${i}`));
    const engine = new DetectionEngine([wide]);
    feed(engine, reads.slice(0, 2_000));
    const ticker = immediateTicker();
    const inTurns = await engine.snapshotInTurns(0);
    expect(ticker.stop()).toBeGreaterThan(2);
    expect(JSON.stringify(inTurns)).toBe(JSON.stringify(engine.snapshot()));
    const restored = new DetectionEngine([wide]);
    restored.restore(JSON.parse(JSON.stringify(inTurns)) as DetectionSnapshot);
    expect(feed(restored, reads.slice(2_000), 2_001)).toEqual(feed(engine, reads.slice(2_000), 2_001));
  });

  it('refuses events (and a restore) while a snapshot is being built, and takes them again once it is done', async () => {
    const engine = new DetectionEngine(rules);
    feed(engine, traffic.slice(0, 5_000), 1);
    const building = engine.snapshotInTurns(0);
    expect(() => engine.process(traffic[5_000], 5_001)).toThrow(/snapshot/);
    expect(() => engine.restore(engine.snapshot())).toThrow(/snapshot/);
    await expect(engine.snapshotInTurns(0)).rejects.toThrow(/already being built/);
    const saved = await building;
    expect(saved.lastPosition).toBe(5_000);
    expect(() => engine.process(traffic[5_000], 5_001)).not.toThrow();
    expect(engine.lastPosition).toBe(5_001);
  });

  it('a snapshot keeps the state of its position while the engine goes on (windows and learned baselines)', () => {
    const engine = new DetectionEngine(rules);
    feed(engine, traffic.slice(0, 10_000), 1);
    const saved = engine.snapshot();
    const text = JSON.stringify(saved);
    // Serialized later (in turns, while events flow): nothing the engine does since may show in it.
    feed(engine, traffic.slice(10_000), 10_001);
    expect(JSON.stringify(saved)).toBe(text);
  });

  it('a crash after a snapshot: replaying from an earlier position skips what was already evaluated', () => {
    const engine = new DetectionEngine(rules);
    feed(engine, traffic.slice(0, 10_000), 1);
    const saved = JSON.parse(JSON.stringify(engine.snapshot())) as DetectionSnapshot;
    const restarted = new DetectionEngine(rules);
    restarted.restore(saved);
    // The service replays from a little before the snapshot: those positions are ignored.
    const replayed = feed(restarted, traffic.slice(9_000), 9_001);
    expect(restarted.stats().replaysSkipped).toBe(1_000);
    const firstRunAfter = uninterrupted.filter((a) => a.position > 10_000);
    expect(replayed).toEqual(firstRunAfter);
  });

  it('alert ids are deterministic across independent runs', () => {
    const again = feed(new DetectionEngine(rules), traffic, 1);
    expect(again.map((a) => a.id)).toEqual(uninterrupted.map((a) => a.id));
    expect(new Set(uninterrupted.map((a) => a.id)).size).toBe(uninterrupted.length);
  });

  it('a rule changed since the snapshot starts empty; the others keep their state', () => {
    const engine = new DetectionEngine([denials, distinctPatients]);
    feed(engine, [denied(0), denied(1), denied(2), denied(3)]);
    const changed = { ...denials, window: '6m' };
    const restored = new DetectionEngine([changed, distinctPatients]);
    expect(restored.restore(engine.snapshot())).toEqual({ restored: ['distinct-patients'], reset: ['denials'] });
    expect(restored.stats().rules.denials.groups).toBe(0);
  });
});

describe('searches (query.names, query.parameters, linked sequence steps)', () => {
  const context = InMemoryAccessContext.fromRecords({ patients: [{ id: 'MRN-1', family: 'Okafor' }, { id: 'MRN-2', family: 'Nguyen' }] });
  const search = (offset: number, text: string, actor = 'user-1') => event(offset, { action: 'query', patient: undefined, resource: { type: 'Patient' }, query: { text }, actor: { id: actor, type: 'user' } });
  const linked = defineRule({
    id: 'search-then-open',
    kind: 'sequence',
    groupBy: ['actor.id'],
    steps: [
      { where: { action: 'query', 'query.names': { exists: true } }, link: 'query.names' },
      { where: { action: 'read', 'patient.id': { exists: true } }, link: 'patient.context.family' },
    ],
    window: '30m',
  });

  it('links a name search to the chart of that surname only, whatever was opened in between', () => {
    const engine = new DetectionEngine([linked], { context });
    const alerts = feed(engine, [search(0, 'Patient?family=OKAFOR'), readOf(MINUTE, 'MRN-2'), readOf(2 * MINUTE, 'MRN-1')]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].evidence.eventIds).toHaveLength(2);
    expect(feed(new DetectionEngine([linked], { context }), [search(0, 'Patient?family=OKAFOR'), readOf(MINUTE, 'MRN-2')])).toHaveLength(0);
  });

  it('keeps the link values across a snapshot and restore', () => {
    const engine = new DetectionEngine([linked], { context });
    feed(engine, [search(0, 'Patient?name=okafor')]);
    const restored = new DetectionEngine([linked], { context });
    restored.restore(JSON.parse(JSON.stringify(engine.snapshot())) as DetectionSnapshot);
    expect(feed(restored, [readOf(MINUTE, 'MRN-2')])).toHaveLength(0);
    expect(feed(restored, [readOf(2 * MINUTE, 'MRN-1')])).toHaveLength(1);
  });

  it('matches on the parameter names a search used; without the context name tokenizer there are no name tokens to link', () => {
    const byParameter = defineRule({ id: 'dob-search', kind: 'match', where: { 'query.parameters': { contains: 'birthdate' } } });
    const engine = new DetectionEngine([byParameter], { context });
    expect(feed(engine, [search(0, 'Patient?name=okafor&birthdate=1961'), search(SECOND, 'Patient?name=okafor')])).toHaveLength(1);
    const noTokenizer = { ...context, nameToken: undefined, userAt: context.userAt.bind(context), patientAt: context.patientAt.bind(context), encountersAt: context.encountersAt.bind(context), workforceMemberWithPatientId: context.workforceMemberWithPatientId.bind(context) };
    expect(feed(new DetectionEngine([linked], { context: noTokenizer }), [search(0, 'Patient?family=OKAFOR'), readOf(MINUTE, 'MRN-1')])).toHaveLength(0);
  });
});
