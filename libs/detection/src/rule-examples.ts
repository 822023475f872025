/**
 * Runs every rule's own examples (`examples.fires` must raise an alert, `examples.quiet` must
 * not) through a real engine, for the test suite and `npx auditctl rules test`. Each scenario runs
 * twice, the second time snapshotting and restoring the engine after every event, and the two runs
 * must agree: a rule that only works without restarts fails here, not in production. Every alert's
 * evidence must name scenario events that satisfy the rule.
 *
 * Example events are partial: missing boilerplate comes from EXAMPLE_EVENT_DEFAULTS, ids are
 * generated, times follow `at` / `after` / `every`, and `repeat: n` with `{i}` in values generates
 * runs of similar events, `{i%n}` cycling 1..n (see detection-rules/README.md). The filled events must be valid
 * canonical events.
 */
import { createHash } from 'node:crypto';
import { AccessEvent, EventValidator } from '@app/core';
import { DetectionAlert } from './alert';
import { DetectionEngine, DetectionSnapshot } from './detection-engine';
import { tryParseDuration } from './duration';
import { InMemoryAccessContext } from './in-memory-access-context';
import { ExampleContext, ExampleScenario, RuleDefinition } from './rule.schema';

export const EXAMPLE_START = '2024-03-05T15:00:00.000Z';
export const EXAMPLE_EVENT_DEFAULTS = {
  category: 'data_access',
  action: 'read',
  outcome: 'success',
  actor: { id: 'user-1', type: 'user', role: 'nurse', ip: '10.0.0.10' },
  source: { system: 'ehr', integration: 'ehr-gateway' },
} as const;

const HELPER_KEYS = new Set(['at', 'after', 'every', 'repeat']);
const MAX_REPEAT = 100_000;
const DEFAULT_STEP_MS = 1_000;

export interface ScenarioResult {
  expectation: 'fires' | 'quiet';
  index: number;
  name: string;
  passed: boolean;
  events: number;
  alerts: number;
  reasons: string[];
}

export interface RuleExampleResult {
  ruleId: string;
  source?: string;
  passed: boolean;
  scenarios: ScenarioResult[];
}

export interface RunExamplesOptions {
  /** Zone for rules without `timeZone` (default UTC, so examples do not depend on the deployment). */
  defaultTimeZone?: string;
  allowedLateness?: string | number;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `{ "patient.id": "p1" }` -> `{ patient: { id: "p1" } }` (dotted keys are a shorthand). */
function expandDotted(value: Json): Json {
  const out: Json = {};
  for (const [key, raw] of Object.entries(value)) {
    const v = isObject(raw) ? expandDotted(raw) : raw;
    const parts = key.split('.');
    // details keys may contain dots, so only the first dot after "details" splits.
    const path = parts[0] === 'details' && parts.length > 1 ? ['details', parts.slice(1).join('.')] : parts;
    let node = out;
    for (let i = 0; i < path.length - 1; i++) {
      if (!isObject(node[path[i]])) node[path[i]] = {};
      node = node[path[i]] as Json;
    }
    const leaf = path[path.length - 1];
    node[leaf] = isObject(node[leaf]) && isObject(v) ? merge(node[leaf] as Json, v) : v;
  }
  return out;
}

/** Deep merge; arrays and scalars replace, null deletes. */
function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = merge(out[key] as Json, value);
    else out[key] = value;
  }
  return out;
}

const COUNTER = /\{i(?:%(\d+))?\}/g;

/** `{i}` is the repeat counter (1, 2, 3 …); `{i%5}` cycles 1..5. */
function substitute(value: unknown, i: number): unknown {
  if (typeof value === 'string') {
    return value.replace(COUNTER, (_m, mod: string | undefined) => String(mod ? ((i - 1) % Math.max(1, Number(mod))) + 1 : i));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, i));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, i)]));
  return value;
}

function exampleEventId(ruleId: string, expectation: string, scenario: number, n: number): string {
  const hex = createHash('sha256').update(`${ruleId}/${expectation}/${scenario}/${n}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The filled events of one scenario, or the problems that stop it from being built. */
export function buildScenarioEvents(
  ruleId: string,
  expectation: 'fires' | 'quiet',
  index: number,
  scenario: ExampleScenario,
): { events: AccessEvent[]; problems: string[] } {
  const problems: string[] = [];
  const events: AccessEvent[] = [];
  const start = Date.parse(scenario.start ?? EXAMPLE_START);
  const base = expandDotted(scenario.base ?? {});
  let cursor = start;
  scenario.events.forEach((spec, specIndex) => {
    const where = `events[${specIndex}]`;
    const duration = (key: 'after' | 'every'): number | null => {
      const raw = spec[key];
      if (raw === undefined) return null;
      const ms = typeof raw === 'string' ? tryParseDuration(raw) : null;
      if (ms === null) problems.push(`${where}.${key}: must be a duration such as 30s or 10m`);
      return ms;
    };
    const after = duration('after');
    const every = duration('every');
    const repeat = spec.repeat ?? 1;
    if (typeof repeat !== 'number' || !Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) {
      problems.push(`${where}.repeat: must be a whole number from 1 to ${MAX_REPEAT}`);
      return;
    }
    let at: number | null = null;
    if (spec.at !== undefined) {
      const text = String(spec.at);
      const relative = text.startsWith('+') ? tryParseDuration(text.slice(1)) : null;
      at = relative !== null ? start + relative : Date.parse(text);
      if (Number.isNaN(at)) {
        problems.push(`${where}.at: must be an RFC 3339 time or +<duration> from the scenario start`);
        return;
      }
    }
    const fields = expandDotted(Object.fromEntries(Object.entries(spec).filter(([k]) => !HELPER_KEYS.has(k))));
    for (let r = 0; r < repeat; r++) {
      let t: number;
      if (r > 0) t = cursor + (every ?? after ?? DEFAULT_STEP_MS);
      else if (at !== null) t = at;
      else if (events.length === 0) t = start + (after ?? 0);
      else t = cursor + (after ?? DEFAULT_STEP_MS);
      const own = substitute(fields, r + 1) as Json;
      const filled = merge(merge(structuredClone(EXAMPLE_EVENT_DEFAULTS) as Json, base), own);
      if (filled.id === undefined) filled.id = exampleEventId(ruleId, expectation, index, events.length);
      if (filled.occurredAt === undefined) filled.occurredAt = new Date(t).toISOString();
      else t = Date.parse(String(filled.occurredAt));
      cursor = t;
      events.push(filled as unknown as AccessEvent);
    }
  });
  return { events, problems };
}

/**
 * The in-memory context a scenario states (the rule's shared `examples.context` plus its own);
 * relative encounter times count from the scenario start.
 */
export function buildScenarioContext(shared: ExampleContext | undefined, scenario: ExampleScenario, problems: string[] = []): InMemoryAccessContext {
  const start = Date.parse(scenario.start ?? EXAMPLE_START);
  const ctx = new InMemoryAccessContext();
  const sharedProblems: string[] = [];
  const own: string[] = [];
  if (shared) ctx.add(expandContextRepeats(shared, sharedProblems), sharedProblems, start);
  if (scenario.context) ctx.add(expandContextRepeats(scenario.context, own), own, start);
  problems.push(...sharedProblems.map((p) => `examples.context.${p}`), ...own.map((p) => `context.${p}`));
  return ctx;
}

/** Context records may say `repeat: n`: n records with `{i}` (and `{i%k}`) replaced, as for events. */
function expandContextRepeats(context: ExampleContext, problems: string[]): ExampleContext {
  const out: ExampleContext = {};
  for (const kind of ['users', 'patients', 'encounters'] as const) {
    const records = context[kind];
    if (!records) continue;
    out[kind] = records.flatMap((record, index) => {
      const { repeat, ...rest } = record;
      if (repeat === undefined) return [record];
      if (typeof repeat !== 'number' || !Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT) {
        problems.push(`${kind}[${index}].repeat: must be a whole number from 1 to ${MAX_REPEAT}`);
        return [];
      }
      return Array.from({ length: repeat }, (_, i) => substitute(rest, i + 1) as Record<string, unknown>);
    });
  }
  return out;
}

function runEngine(
  rule: RuleDefinition,
  events: AccessEvent[],
  options: RunExamplesOptions,
  restartEveryEvent: boolean,
  context: InMemoryAccessContext,
  matched?: Set<string>,
): DetectionAlert[] {
  const engineOptions = {
    defaultTimeZone: options.defaultTimeZone ?? 'UTC',
    allowedLateness: options.allowedLateness,
    context,
    ...(matched ? { onMatch: (_rule: string, e: AccessEvent) => void matched.add(e.id) } : {}),
  };
  let engine = new DetectionEngine([{ ...rule, enabled: true }], engineOptions);
  const alerts: DetectionAlert[] = [];
  events.forEach((event, i) => {
    alerts.push(...engine.process(event, i + 1));
    if (restartEveryEvent) {
      const saved = JSON.parse(JSON.stringify(engine.snapshot())) as DetectionSnapshot;
      engine = new DetectionEngine([{ ...rule, enabled: true }], engineOptions);
      engine.restore(saved);
    }
  });
  return alerts;
}

function runScenario(
  rule: RuleDefinition,
  expectation: 'fires' | 'quiet',
  index: number,
  scenario: ExampleScenario,
  validator: EventValidator,
  options: RunExamplesOptions,
): ScenarioResult {
  const name = scenario.name ?? `${expectation} #${index + 1}`;
  const result: ScenarioResult = { expectation, index, name, passed: false, events: 0, alerts: 0, reasons: [] };
  const { events, problems } = buildScenarioEvents(rule.id, expectation, index, scenario);
  result.events = events.length;
  result.reasons.push(...problems);
  const contextProblems: string[] = [];
  const context = buildScenarioContext(rule.examples.context, scenario, contextProblems);
  result.reasons.push(...contextProblems);
  events.forEach((event, i) => {
    for (const error of validator.errorsFor(event)) result.reasons.push(`event ${i + 1}: ${error.pointer || '/'}: ${error.message}`);
  });
  if (result.reasons.length > 0) return result;

  const matched = new Set<string>();
  const alerts = runEngine(rule, events, options, false, context, matched);
  result.alerts = alerts.length;
  const expected = scenario.expect;
  if (expectation === 'quiet' && expected !== undefined && expected > 0) {
    result.reasons.push('a quiet scenario cannot expect alerts');
  } else if (expected !== undefined ? alerts.length !== expected : expectation === 'fires' ? alerts.length === 0 : alerts.length > 0) {
    const want = expected !== undefined ? `exactly ${expected}` : expectation === 'fires' ? 'at least one' : 'none';
    result.reasons.push(`expected ${want} alert(s), got ${alerts.length}`);
  }

  const restarted = runEngine(rule, events, options, true, context);
  if (JSON.stringify(restarted) !== JSON.stringify(alerts)) {
    result.reasons.push('alerts differ when the engine is snapshot and restored after every event');
  }

  const byId = new Map(events.map((e) => [e.id, e]));
  for (const alert of alerts) {
    if (alert.ruleId !== rule.id) result.reasons.push(`alert names rule ${alert.ruleId}`);
    if (!alert.reasons || alert.reasons.length === 0) result.reasons.push('alert carries no reasons');
    for (const id of alert.evidence.eventIds) {
      // The engine reports every event that met the rule's conditions (with its context and baselines then).
      const satisfies = byId.has(id) && matched.has(id);
      if (!satisfies) {
        result.reasons.push(`evidence event ${id} is not a scenario event that satisfies the rule`);
        break;
      }
    }
  }
  result.passed = result.reasons.length === 0;
  return result;
}

/** Pass/fail per rule and scenario, with reasons. */
export function runRuleExamples(rules: readonly RuleDefinition[], options: RunExamplesOptions = {}): RuleExampleResult[] {
  const validator = new EventValidator();
  return rules.map((rule) => {
    const scenarios: ScenarioResult[] = [];
    rule.examples.fires.forEach((s, i) => scenarios.push(runScenario(rule, 'fires', i, s, validator, options)));
    rule.examples.quiet.forEach((s, i) => scenarios.push(runScenario(rule, 'quiet', i, s, validator, options)));
    return { ruleId: rule.id, source: rule.source, passed: scenarios.every((s) => s.passed), scenarios };
  });
}

/** Plain-text report, one line per scenario, for the CLI. */
export function formatExampleReport(results: readonly RuleExampleResult[]): string {
  const lines: string[] = [];
  for (const rule of results) {
    lines.push(`${rule.passed ? 'PASS' : 'FAIL'} ${rule.ruleId}${rule.source ? ` (${rule.source})` : ''}`);
    for (const s of rule.scenarios) {
      lines.push(`  ${s.passed ? 'ok  ' : 'FAIL'} ${s.expectation}: ${s.name} (${s.events} events, ${s.alerts} alerts)`);
      for (const reason of s.reasons) lines.push(`       - ${reason}`);
    }
  }
  const failed = results.filter((r) => !r.passed).length;
  lines.push(`${results.length - failed}/${results.length} rules passed`);
  return lines.join('\n');
}
