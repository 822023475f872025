/**
 * The shipped rule set: every file in detection-rules/ loads, every rule's examples pass (the same
 * check as `npx auditctl rules test`), and every runbook renders for an alert of its rule.
 */
import * as path from 'node:path';
import { DetectionEngine } from './detection-engine';
import { buildScenarioContext, buildScenarioEvents, formatExampleReport, runRuleExamples } from './rule-examples';
import { loadRules } from './rule-loader';
import { RunbookRenderer } from './runbook-renderer';

const root = path.resolve(__dirname, '../../..');
const rulesDir = path.join(root, 'detection-rules');
const runbooksDir = path.join(root, 'runbooks');

describe('default detection rules', () => {
  const rules = loadRules(rulesDir, { runbooksDir });

  it('covers the rule set the issue asks for', () => {
    expect(rules.map((r) => r.id).sort()).toEqual([
      'break-glass-access',
      'brute-force-then-success',
      'bulk-export',
      'bulk-phi-read',
      'coworker-record',
      'department-mismatch',
      'dormant-account-access',
      'mtls-failures-by-client',
      'mtls-failures-by-source-ip',
      'name-search-then-record',
      'no-care-relationship',
      'outside-usual-hours',
      'permission-denial-burst',
      'related-person',
      'same-address',
      'same-surname',
      'self-access',
      'sensitive-segment-without-treatment',
      'service-account-new-ip',
      'terminated-user',
      'unusual-volume',
      'vip-record',
    ]);
    // Every rule says why its alerts fire, with stable kebab-case codes.
    for (const rule of rules) expect({ rule: rule.id, reasons: rule.reasons?.length }).toEqual({ rule: rule.id, reasons: expect.any(Number) });
  });

  it('passes every rule example (fires and quiet)', () => {
    const results = runRuleExamples(rules);
    const report = formatExampleReport(results);
    expect({ failed: results.filter((r) => !r.passed).map((r) => r.ruleId), report }).toEqual({ failed: [], report: expect.any(String) });
    for (const rule of results) {
      expect(rule.scenarios.some((s) => s.expectation === 'fires')).toBe(true);
      expect(rule.scenarios.some((s) => s.expectation === 'quiet')).toBe(true);
    }
  });

  it('renders each rule runbook for an alert of that rule, with triage, containment, escalation and breach notes', () => {
    const renderer = new RunbookRenderer(runbooksDir);
    for (const rule of rules) {
      const scenario = rule.examples.fires[0];
      const { events } = buildScenarioEvents(rule.id, 'fires', 0, scenario);
      const engine = new DetectionEngine([rule], { context: buildScenarioContext(rule.examples.context, scenario) });
      const alerts = events.flatMap((e, i) => [...engine.process(e, i + 1)]);
      expect(alerts.length).toBeGreaterThan(0);
      const markdown = renderer.render(rule.runbook, alerts[0], rule);
      expect(markdown).toContain(alerts[0].id);
      for (const heading of ['## Triage', '## Containment', '## Escalate to the privacy officer', '164.402', 'four factors']) {
        expect({ rule: rule.id, has: heading, ok: markdown.includes(heading) }).toEqual({ rule: rule.id, has: heading, ok: true });
      }
      expect(markdown).not.toMatch(/\{\{|\}\}/);
    }
  });
});
