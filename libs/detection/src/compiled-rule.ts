/**
 * Turns a validated rule definition into what the engine runs: compiled predicates, group-key
 * functions, windows in milliseconds, and the checks each kind needs (a cardinality rule must say
 * what is distinct, a dormant rule how long "idle" is …). Used by the loader (to report problems
 * with their paths) and by the engine (to build its detectors), so both agree on what a rule means.
 */
import { createHash } from 'node:crypto';
import { AccessEvent } from '@app/core';
import { AnyFieldGetter, compileAnyFieldGetter, compileWhere, indexHints, IndexHints, Issue, IssuePath, Predicate, requiresUnexplained, whereAfterIndex } from './condition-compiler';
import { parseDuration } from './duration';
import { compileFieldGetter, describeAnyField, describeField, FieldGetter, unknownFieldMessage } from './event-fields';
import { RuleDefinition, RuleKind, Severity } from './rule.schema';

export type GroupValue = string | number | boolean | null;

export interface CompiledStep {
  name: string;
  where: Predicate;
  gte: number;
  /** The step's link field (sequence `link`): its events must share a value with the completing event's. */
  link?: AnyFieldGetter;
}

export interface CompiledRule {
  readonly definition: RuleDefinition;
  readonly id: string;
  readonly kind: RuleKind;
  readonly severity: Severity;
  readonly title: string;
  readonly runbook: string;
  readonly tags: readonly string[];
  /** The rule-level condition (for sequences: common to every step). */
  readonly where: Predicate;
  /** What the event that completes an alert must also meet (MATCH_ALL without `when`). */
  readonly when: Predicate;
  readonly steps: readonly CompiledStep[];
  readonly groupBy: readonly string[];
  /** Group key text, or undefined when a groupBy field is missing from the event. */
  readonly groupKeyOf: (event: AccessEvent) => string | undefined;
  /** Group key text where missing fields count as null (match rules alert regardless). */
  readonly groupKeyOrNullOf: (event: AccessEvent) => string;
  readonly groupValuesOf: (event: AccessEvent) => Record<string, GroupValue>;
  /** The `distinct` field (cardinality, new_value) or the `sum` field (threshold). */
  readonly valueOf: FieldGetter | null;
  readonly gte: number;
  readonly windowMs: number;
  readonly suppressMs: number;
  /** match rules with `burst`: how many alerts per value of `by` within `windowMs` before the rest is folded. */
  readonly burst: CompiledBurst | null;
  readonly idleMs: number;
  readonly learnMs: number;
  /** False when no event of this category, action, outcome and actor type can match (the engine's rule index). */
  readonly mayMatch: (category: unknown, action: unknown, outcome: unknown, actorType: unknown) => boolean;
  /**
   * `where` less what the rule index and the unexplained check decide before it runs
   * (condition-compiler whereAfterIndex): what the engine checks for a rule its index offered for
   * the event, after skipping it for an explained access when `requiresUnexplained`.
   */
  readonly whereAfterIndex: Predicate;
  /** The top-level `where` requires `explained: false` (lets the engine skip the rule for explained accesses). */
  readonly requiresUnexplained: boolean;
  /** Changes whenever the rule's state would mean something else; a restore drops mismatched state. */
  readonly fingerprint: string;
}

export interface CompiledBurst {
  byPath: string;
  by: FieldGetter;
  max: number;
  windowMs: number;
  window: string;
}

export interface CompileRuleOptions {
  /** Zone for time-of-day conditions of rules without `timeZone` (default UTC). */
  defaultTimeZone?: string;
}

/** Fields each kind needs (`true`) or may not use (`false`); unlisted fields are optional. */
const KIND_FIELDS: Record<RuleKind, Partial<Record<'distinct' | 'sum' | 'gte' | 'window' | 'idle' | 'learn' | 'steps', boolean>>> = {
  match: { distinct: false, sum: false, gte: false, window: false, idle: false, learn: false, steps: false },
  threshold: { gte: true, window: true, distinct: false, idle: false, learn: false, steps: false },
  cardinality: { distinct: true, gte: true, window: true, sum: false, idle: false, learn: false, steps: false },
  sequence: { steps: true, window: true, distinct: false, sum: false, gte: false, idle: false, learn: false },
  new_value: { distinct: true, window: true, sum: false, gte: false, idle: false, steps: false },
  dormant: { idle: true, window: true, distinct: false, sum: false, gte: false, learn: false, steps: false },
};

const KIND_PURPOSE: Record<RuleKind, string> = {
  match: 'one alert per matching event',
  threshold: 'a count (or sum) per group within a window',
  cardinality: 'distinct values per group within a window',
  sequence: 'steps in order per group within a window',
  new_value: 'a value not seen for the group within the window',
  dormant: 'activity after a group was idle',
};

function groupKeyText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as Record<string, unknown>)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function ruleFingerprint(def: RuleDefinition, defaultTimeZone: string): string {
  const meaning = {
    kind: def.kind,
    where: def.where,
    when: def.when,
    groupBy: def.groupBy,
    distinct: def.distinct,
    sum: def.sum,
    steps: def.steps,
    burst: def.burst,
    window: def.window,
    idle: def.idle,
    learn: def.learn,
    timeZone: def.timeZone ?? defaultTimeZone,
  };
  return createHash('sha256').update(stableStringify(meaning)).digest('hex').slice(0, 16);
}

type MayMatch = CompiledRule['mayMatch'];

/** Whether a set admits a value (no set: any value; a missing field is in no set). */
function admits(set: ReadonlySet<string> | undefined, value: unknown): boolean {
  return set === undefined || (typeof value === 'string' && set.has(value));
}

function mayMatchFrom(hints: IndexHints[]): MayMatch {
  // Each entry narrows independently (rule-level AND union-of-steps is handled by the caller).
  return (category, action, outcome, actorType) =>
    hints.every((h) => admits(h.categories, category) && admits(h.actions, action) && admits(h.outcomes, outcome) && admits(h.actorTypes, actorType));
}

/** Compiles a validated definition. Problems (with paths inside the rule) go to `issues`; null if any. */
export function compileRule(def: RuleDefinition, options: CompileRuleOptions = {}, issues: Issue[] = []): CompiledRule | null {
  const before = issues.length;
  const timeZone = def.timeZone ?? options.defaultTimeZone ?? 'UTC';
  const need = KIND_FIELDS[def.kind];
  for (const [field, required] of Object.entries(need)) {
    const present = (def as Record<string, unknown>)[field] !== undefined;
    if (required && !present) issues.push({ path: [field], message: `is required for kind ${def.kind} (${KIND_PURPOSE[def.kind]})` });
    if (!required && present) issues.push({ path: [field], message: `is not used by kind ${def.kind} (${KIND_PURPOSE[def.kind]})` });
  }

  const ctx = { timeZone, issues };
  const where = compileWhere(def.where, ['where'], ctx);
  const when = compileWhere(def.when, ['when'], ctx);
  const steps: CompiledStep[] = [];
  if (def.kind === 'sequence' && def.steps) {
    if (def.steps.length < 2) issues.push({ path: ['steps'], message: 'a sequence needs at least two steps' });
    def.steps.forEach((step, i) => {
      const compiled: CompiledStep = { name: step.name ?? `step ${i + 1}`, where: compileWhere(step.where, ['steps', i, 'where'], ctx), gte: step.gte };
      if (step.link !== undefined) {
        const spec = describeAnyField(step.link);
        if (!spec) issues.push({ path: ['steps', i, 'link'], message: unknownFieldMessage(step.link) });
        else if (spec.type === 'boolean' || spec.type === 'number' || spec.type === 'timestamp') {
          issues.push({ path: ['steps', i, 'link'], message: `${step.link} holds ${spec.type === 'boolean' ? 'true/false' : 'numbers'}; a link compares names, ids or tokens` });
        } else compiled.link = compileAnyFieldGetter(spec);
      }
      steps.push(compiled);
    });
    const linked = def.steps.filter((s) => s.link !== undefined).length;
    if (linked > 0 && linked < def.steps.length) {
      issues.push({ path: ['steps'], message: 'link must be given on every step or on none: each step is linked to the completing event by its own field' });
    }
    const last = def.steps[def.steps.length - 1];
    if (last && last.gte !== 1) issues.push({ path: ['steps', def.steps.length - 1, 'gte'], message: 'the last step completes the sequence and takes exactly one event' });
  }

  if (def.kind === 'cardinality' && def.gte !== undefined && !Number.isInteger(def.gte)) {
    issues.push({ path: ['gte'], message: 'a distinct count threshold must be a whole number' });
  }
  if (def.sum !== undefined) {
    const spec = describeField(def.sum);
    if (spec && spec.type !== 'number' && spec.type !== 'scalar') {
      issues.push({ path: ['sum'], message: `${def.sum} does not hold numbers (use recordCount or a numeric details.<key>)` });
    }
  }
  if (def.kind === 'dormant' && def.groupBy.length === 0) {
    issues.push({ path: ['groupBy'], message: 'a dormant rule needs the account field(s) to track, e.g. [actor.id]' });
  }

  const ms = (text: string | undefined, fallback: number): number => (text === undefined ? fallback : parseDuration(text));
  const windowMs = ms(def.window, 0);
  const idleMs = ms(def.idle, 0);
  const learnMs = ms(def.learn, 0);
  const defaultSuppress = def.kind === 'threshold' || def.kind === 'cardinality' || def.kind === 'sequence' ? windowMs : 0;
  const suppressMs = ms(def.suppress, defaultSuppress);
  if (def.burst !== undefined && def.kind !== 'match') {
    issues.push({ path: ['burst'], message: 'only match rules take burst (windowed kinds already raise one alert per group and window)' });
  }
  const burstWindowMs = def.burst ? ms(def.burst.window, 0) : 0;
  if (def.burst !== undefined && burstWindowMs <= 0) issues.push({ path: ['burst', 'window'], message: 'must be longer than zero' });
  if (def.window !== undefined && windowMs <= 0) issues.push({ path: ['window'], message: 'must be longer than zero' });
  if (def.kind === 'dormant' && def.idle !== undefined && def.window !== undefined && windowMs <= idleMs) {
    issues.push({ path: ['window'], message: 'must be longer than idle: it is how long an account is remembered, and it must outlast the idle period to see it end' });
  }

  if (issues.length > before) return null;

  const getters = def.groupBy.map(compileFieldGetter);
  let groupKeyOf: (event: AccessEvent) => string | undefined;
  let groupKeyOrNullOf: (event: AccessEvent) => string;
  if (getters.length === 0) {
    groupKeyOf = () => '';
    groupKeyOrNullOf = () => '';
  } else if (getters.length === 1) {
    const [get] = getters;
    groupKeyOf = (e) => {
      const v = get(e);
      return v === undefined || v === null ? undefined : groupKeyText(v);
    };
    groupKeyOrNullOf = (e) => {
      const v = get(e);
      return v === undefined || v === null ? '\u0000' : groupKeyText(v);
    };
  } else {
    groupKeyOf = (e) => {
      const values: unknown[] = [];
      for (const get of getters) {
        const v = get(e);
        if (v === undefined || v === null) return undefined;
        values.push(v);
      }
      return JSON.stringify(values);
    };
    groupKeyOrNullOf = (e) => JSON.stringify(getters.map((get) => get(e) ?? null));
  }
  const groupValuesOf = (e: AccessEvent): Record<string, GroupValue> => {
    const out: Record<string, GroupValue> = {};
    def.groupBy.forEach((path, i) => {
      const v = getters[i](e);
      out[path] = v === undefined ? null : Array.isArray(v) ? v.join(',') : (v as GroupValue);
    });
    return out;
  };

  const hints: IndexHints[] = [indexHints(def.where)];
  if (def.kind === 'sequence' && def.steps) {
    const stepHints = def.steps.map((s) => indexHints(s.where));
    const stepsMay: MayMatch = (c, a, o, t) => stepHints.some((h) => mayMatchFrom([h])(c, a, o, t));
    const ruleMay = mayMatchFrom(hints);
    return build((c, a, o, t) => ruleMay(c, a, o, t) && stepsMay(c, a, o, t));
  }
  return build(mayMatchFrom(hints));

  function build(mayMatch: MayMatch): CompiledRule {
    const valuePath = def.distinct ?? def.sum;
    return {
      definition: def,
      id: def.id,
      kind: def.kind,
      severity: def.severity,
      title: def.title,
      runbook: def.runbook,
      tags: def.tags,
      where,
      when,
      steps,
      groupBy: def.groupBy,
      groupKeyOf,
      groupKeyOrNullOf,
      groupValuesOf,
      valueOf: valuePath ? compileFieldGetter(valuePath) : null,
      gte: def.gte ?? 1,
      windowMs,
      suppressMs,
      burst: def.burst ? { byPath: def.burst.by, by: compileFieldGetter(def.burst.by), max: def.burst.max, windowMs: burstWindowMs, window: def.burst.window } : null,
      idleMs,
      learnMs,
      mayMatch,
      // Compiles: it is a part of `where`, which did.
      whereAfterIndex: compileWhere(whereAfterIndex(def.where), ['where'], { timeZone, issues: [] }),
      requiresUnexplained: requiresUnexplained(def.where),
      fingerprint: ruleFingerprint(def, timeZone),
    };
  }
}

/** For code paths that already validated the rule: compile or throw with the problems. */
export function compileRuleOrThrow(def: RuleDefinition, options: CompileRuleOptions = {}): CompiledRule {
  const issues: Issue[] = [];
  const rule = compileRule(def, options, issues);
  if (!rule) {
    const list = issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`).join('; ');
    throw new Error(`rule ${def.id} does not compile: ${list}`);
  }
  return rule;
}

/** `examples.fires[0].events[2].actor.id` style paths for messages. */
export function formatIssuePath(path: IssuePath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(rule)' : out;
}
