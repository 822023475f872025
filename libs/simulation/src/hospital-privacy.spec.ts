/**
 * The privacy proof: a simulated hospital week (300 staff, 7 days, 24/7 shifts, late batches and a
 * clock an hour behind) fed in receive order through the real detection engine with the real
 * default rules (detection-rules/) and the simulator's context raises no alert on its benign
 * traffic, and exactly one alert, of the expected rule and reason, for each planted scenario.
 */
import * as path from 'node:path';
import { DetectionAlert, DetectionEngine, loadRules } from '@app/detection';
import { InMemoryAccessContext } from '@app/detection/in-memory-access-context';
import { buildHospital, hospitalContext, hospitalTraffic, PlantedScenario } from '@app/simulation';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const rules = loadRules(path.join(ROOT, 'detection-rules'), { runbooksDir: path.join(ROOT, 'runbooks') });

function describeAlert(a: DetectionAlert): string {
  return `${a.ruleId} ${JSON.stringify(a.groupKey)} at ${a.windowEnd}`;
}

describe('privacy detection on a simulated hospital week', () => {
  const hospital = buildHospital({ staff: 300, days: 7, seed: 11, start: new Date('2026-03-02T00:00:00Z'), eventsPerShift: 120 });
  const alerts: DetectionAlert[] = [];
  let events = 0;

  beforeAll(() => {
    const problems: string[] = [];
    const context = InMemoryAccessContext.fromRecords(hospitalContext(hospital), problems);
    expect(problems).toEqual([]);
    const engine = new DetectionEngine(rules, { allowedLateness: '2m', defaultTimeZone: 'UTC', context });
    for (const { event, receivedAtMs } of hospitalTraffic(hospital)) {
      alerts.push(...engine.process(event, events, receivedAtMs));
      events++;
    }
  });

  const scenarioOf = (a: DetectionAlert, planted: readonly PlantedScenario[]) =>
    planted.filter((p) => a.evidence.eventIds.some((id) => p.eventIds.includes(id))).map((p) => p.scenario);

  it('raises no alert on the benign traffic', () => {
    expect(events).toBeGreaterThan(100_000);
    const benign = alerts.filter((a) => scenarioOf(a, hospital.planted).length === 0);
    expect(benign.map(describeAlert)).toEqual([]);
  });

  it.each(hospital.planted.map((p) => [p.scenario, p] as const))('raises exactly one alert for the planted %s', (_name, planted) => {
    const mine = alerts.filter((a) => scenarioOf(a, [planted]).length > 0);
    expect(mine.map(describeAlert)).toHaveLength(1);
    const [alert] = mine;
    expect(planted.rules).toContain(alert.ruleId);
    expect(alert.reasons.some((r) => planted.reasons.includes(r))).toBe(true);
    expect(alert.actor).toBe(planted.actorId);
  });
});
