/**
 * The seed traffic against the real default rules (detection-rules/): benign traffic raises no
 * alert at all, and each planted pattern raises exactly one alert in its own group, when posted
 * in the order `auditctl seed` posts it (planSeedRequests, batches within a tick reordered).
 */
import * as path from 'node:path';
import { AccessEvent, EventValidator } from '@app/core';
import { DetectionAlert, DetectionEngine, loadRules } from '@app/detection';
import { generateTraffic, planSeedRequests, postTicks, prng, SEED_PLANTED_RULES } from '@app/simulation';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const rules = loadRules(path.join(ROOT, 'detection-rules'), { runbooksDir: path.join(ROOT, 'runbooks') });

/** A commit order the seed command produces: postTicks with batches acknowledged after random delays. */
async function commitOrder(events: AccessEvent[], seed: number): Promise<AccessEvent[]> {
  const rand = prng(seed);
  const out: AccessEvent[] = [];
  await postTicks(planSeedRequests(events), async (batch) => {
    await new Promise((r) => setTimeout(r, rand() < 0.5 ? 0 : Math.floor(rand() * 3)));
    out.push(...batch.events);
  });
  return out;
}

/** Largest amount of event time by which a committed event precedes an event committed after it. */
function worstDisorder(order: AccessEvent[]): number {
  let newest = -Infinity;
  let worst = 0;
  for (const e of order) {
    const t = Date.parse(e.occurredAt);
    worst = Math.max(worst, newest - t);
    newest = Math.max(newest, t);
  }
  return worst;
}

function detect(events: AccessEvent[]): DetectionAlert[] {
  const engine = new DetectionEngine(rules, { allowedLateness: '2m', defaultTimeZone: 'UTC' });
  const alerts: DetectionAlert[] = [];
  events.forEach((e, i) => alerts.push(...engine.process(e, i, e.occurredAt)));
  return alerts;
}

const groupOf = (a: { ruleId?: string; rule?: string; groupKey?: object; group?: object }) =>
  `${a.ruleId ?? a.rule} ${JSON.stringify(Object.entries((a.groupKey ?? a.group)!).sort())}`;

describe('synthetic seed traffic', () => {
  it.each([
    [3_000, 42],
    [20_000, 7],
    [60_000, 11],
  ])('benign traffic (%i events, seed %i) raises no alert', async (n, seed) => {
    const { events, planted } = generateTraffic({ events: n, seed, suspicious: false, day: new Date('2026-03-03T00:00:00Z') });
    expect(planted).toEqual([]);
    const alerts = detect(await commitOrder(events, seed));
    expect(alerts.map((a) => `${a.ruleId} ${JSON.stringify(a.groupKey)}`)).toEqual([]);
  });

  it.each([
    [3_000, 42],
    [20_000, 5],
    [6_000, 77],
    [6_000, 78],
  ])('each planted pattern raises exactly one alert in its group (%i events, seed %i)', async (n, seed) => {
    const { events, planted } = generateTraffic({ events: n, seed, day: new Date('2026-03-03T00:00:00Z') });
    // Every rule that needs neither context nor learned baselines is planted (the others stay quiet here).
    expect([...new Set(planted.map((p) => p.rule))].sort()).toEqual([...SEED_PLANTED_RULES].sort());
    for (const id of SEED_PLANTED_RULES) expect(rules.map((r) => r.id)).toContain(id);
    const order = await commitOrder(events, seed);
    expect(worstDisorder(order)).toBeLessThanOrEqual(90_000);
    const alerts = detect(order);
    expect(alerts.map(groupOf).sort()).toEqual(planted.map(groupOf).sort());
    for (const alert of alerts) {
      const pattern = planted.find((p) => groupOf(p) === groupOf(alert))!;
      for (const id of alert.evidence.eventIds) expect(pattern.eventIds).toContain(id);
    }
  });

  it('generates valid canonical events only', () => {
    const validator = new EventValidator();
    const { events } = generateTraffic({ events: 5_000, seed: 9 });
    const bad = events.flatMap((e) => validator.errorsFor(e).map((err) => `${e.id} ${err.pointer} ${err.message}`));
    expect(bad).toEqual([]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  it('posts every event once, in ticks of at most one integration batch each', () => {
    const { events } = generateTraffic({ events: 5_000, seed: 3 });
    const ticks = planSeedRequests(events, { maxBatch: 50 });
    const posted = ticks.flatMap((t) => t.flatMap((b) => b.events.map((e) => e.id)));
    expect(posted.sort()).toEqual(events.map((e) => e.id).sort());
    for (const tick of ticks) {
      expect(new Set(tick.map((b) => b.integration)).size).toBe(tick.length);
      const times = tick.flatMap((b) => b.events.map((e) => Date.parse(e.occurredAt)));
      expect(Math.max(...times) - Math.min(...times)).toBeLessThanOrEqual(30_000);
      for (const b of tick) expect(b.events.length).toBeLessThanOrEqual(50);
      for (const b of tick) for (const e of b.events) expect(e.source.integration ?? 'sample-ehr').toBe(b.integration);
    }
  });

  it('keeps at most 3 ticks in flight, each started after the one 3 before it was acknowledged', async () => {
    const ticks = planSeedRequests(generateTraffic({ events: 2_000, seed: 4 }).events);
    const remaining = ticks.map((t) => t.length);
    const tickOf = new Map(ticks.flatMap((t, k) => t.map((b) => [b, k] as const)));
    let inFlight = 0;
    let most = 0;
    await postTicks(ticks, async (batch) => {
      const k = tickOf.get(batch)!;
      if (k >= 3) expect(remaining[k - 3]).toBe(0);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      inFlight--;
      remaining[k]--;
    });
    expect(remaining.every((n) => n === 0)).toBe(true);
    expect(most).toBeGreaterThan(1);
    await expect(postTicks(ticks, async () => Promise.reject(new Error('503')))).rejects.toThrow('503');
  });
});
