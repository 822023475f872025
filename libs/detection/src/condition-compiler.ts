/**
 * Rule conditions (`where:` maps) checked and compiled into plain closures, once, at load time.
 * The event hot path then runs only closures over already-parsed values: no YAML, no lookups by
 * operator name, no allocation. Problems are collected with the path of the offending key so the
 * loader can say exactly which line of which rule is wrong.
 *
 * Condition language (documented for rule authors in detection-rules/README.md):
 *   where: { <field>: <matcher>, any: [<where>...], all: [<where>...], not: <where>, time: <time> }
 *   <matcher>: scalar (equals) | [scalars] (any of) | { eq, in, not, gte, gt, lte, lt, prefix, exists, contains }
 *   <time>: { zone?, between?: [HH:MM, HH:MM], outside?: [HH:MM, HH:MM], days?: [mon..sun] }
 */
import { AccessEvent } from '@app/core';
import { compileBaselineCondition } from './baseline-condition';
import { compileFieldGetter, describeAnyField, describeField, FieldSpec, unknownFieldMessage } from './event-fields';
import { EventFacts, factsWithoutContext } from './event-facts';
import { isValidTimeZone, WEEKDAYS, ZoneClock } from './zone-clock';

/**
 * A compiled condition. `epochMs` is the event's parsed occurredAt (parsed once per event);
 * `facts` is the engine's per-event context (absent outside the engine: no context, no baselines).
 */
export type Predicate = (event: AccessEvent, epochMs: number, facts?: EventFacts) => boolean;

export type IssuePath = (string | number)[];
export interface Issue {
  path: IssuePath;
  message: string;
}

export interface ConditionContext {
  /** Zone for `time:` conditions that do not name one. */
  timeZone: string;
  issues: Issue[];
}

type Scalar = string | number | boolean;
type ValueTest = (value: unknown) => boolean;

export const MATCH_ALL: Predicate = () => true;
const MATCH_NONE: Predicate = () => false;

const FIELD_OPERATORS = ['eq', 'in', 'not', 'gte', 'gt', 'lte', 'lt', 'prefix', 'exists', 'contains'] as const;
const TIME_KEYS = ['zone', 'between', 'outside', 'days'] as const;
const CLOCK_PATTERN = /^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** AND of several predicates, unrolled for the common short cases. */
export function allOf(predicates: Predicate[]): Predicate {
  const list = predicates.filter((p) => p !== MATCH_ALL);
  if (list.length === 0) return MATCH_ALL;
  if (list.length === 1) return list[0];
  if (list.length === 2) {
    const [a, b] = list;
    return (e, t, f) => a(e, t, f) && b(e, t, f);
  }
  if (list.length === 3) {
    const [a, b, c] = list;
    return (e, t, f) => a(e, t, f) && b(e, t, f) && c(e, t, f);
  }
  return (e, t, f) => {
    for (let i = 0; i < list.length; i++) if (!list[i](e, t, f)) return false;
    return true;
  };
}

function anyOf(predicates: Predicate[]): Predicate {
  if (predicates.length === 0) return MATCH_NONE;
  if (predicates.length === 1) return predicates[0];
  return (e, t, f) => {
    for (let i = 0; i < predicates.length; i++) if (predicates[i](e, t, f)) return true;
    return false;
  };
}

/** Compiles a `where:` map (absent means "every event"). */
export function compileWhere(raw: unknown, path: IssuePath, ctx: ConditionContext): Predicate {
  if (raw === undefined) return MATCH_ALL;
  if (!isPlainObject(raw)) {
    ctx.issues.push({ path, message: 'must be a map of field conditions, e.g. { action: read, outcome: success }' });
    return MATCH_NONE;
  }
  const parts: Predicate[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const here = [...path, key];
    switch (key) {
      case 'same':
        parts.push(compileSame(value, here, ctx));
        break;
      case 'baseline':
        parts.push(compileBaselineCondition(value, here, ctx));
        break;
      case 'any':
      case 'all': {
        if (!Array.isArray(value) || value.length === 0) {
          ctx.issues.push({ path: here, message: `must be a non-empty list of conditions` });
          continue;
        }
        const nested = value.map((item, i) => compileWhere(item, [...here, i], ctx));
        parts.push(key === 'any' ? anyOf(nested) : allOf(nested));
        break;
      }
      case 'not': {
        const inner = compileWhere(value, here, ctx);
        parts.push((e, t, f) => !inner(e, t, f));
        break;
      }
      case 'time':
        parts.push(compileTimeCondition(value, here, ctx));
        break;
      default: {
        const spec = describeAnyField(key);
        if (!spec) {
          ctx.issues.push({ path: here, message: unknownFieldMessage(key) });
          continue;
        }
        parts.push(compileFieldCondition(spec, value, here, ctx));
      }
    }
  }
  return allOf(parts);
}

function checkValue(spec: FieldSpec, value: unknown, path: IssuePath, ctx: ConditionContext): boolean {
  if (!isScalar(value)) {
    ctx.issues.push({ path, message: 'must be a text, number or boolean value' });
    return false;
  }
  switch (spec.type) {
    case 'number':
      if (typeof value !== 'number') {
        ctx.issues.push({ path, message: `${spec.path} holds numbers; write the value without quotes` });
        return false;
      }
      return true;
    case 'scalar':
      return true;
    case 'boolean':
      if (typeof value !== 'boolean') {
        ctx.issues.push({ path, message: `${spec.path} is true or false` });
        return false;
      }
      return true;
    default:
      if (typeof value !== 'string') {
        ctx.issues.push({ path, message: `${spec.path} holds text; quote the value` });
        return false;
      }
      if (spec.values && !spec.values.includes(value)) {
        ctx.issues.push({ path, message: `"${value}" is not a valid ${spec.path} (one of: ${spec.values.join(', ')})` });
        return false;
      }
      return true;
  }
}

function checkValueList(spec: FieldSpec, value: unknown, path: IssuePath, ctx: ConditionContext): Scalar[] | null {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    ctx.issues.push({ path, message: 'must list at least one value' });
    return null;
  }
  let ok = true;
  list.forEach((item, i) => {
    if (!checkValue(spec, item, Array.isArray(value) ? [...path, i] : path, ctx)) ok = false;
  });
  return ok ? (list as Scalar[]) : null;
}

function memberTest(values: Scalar[]): ValueTest {
  if (values.length === 1) {
    const only = values[0];
    return (v) => v === only;
  }
  const set = new Set<unknown>(values);
  return (v) => set.has(v);
}

/** For list-valued fields (sensitivity) a value test holds when any element passes. */
function lift(spec: FieldSpec, test: ValueTest): ValueTest {
  if (spec.type !== 'string-list' && spec.type !== 'token-list') return test;
  return (v) => {
    if (!Array.isArray(v)) return false;
    for (let i = 0; i < v.length; i++) if (test(v[i])) return true;
    return false;
  };
}

function compileFieldCondition(spec: FieldSpec, raw: unknown, path: IssuePath, ctx: ConditionContext): Predicate {
  const tests: ValueTest[] = [];
  if (spec.type === 'token' || spec.type === 'token-list') {
    // Tokens are opaque keyed hashes: only presence, and equality with another field (`same`), mean anything.
    const ok = isPlainObject(raw) && Object.keys(raw).length === 1 && typeof raw.exists === 'boolean';
    if (!ok) {
      ctx.issues.push({ path, message: `${spec.path} holds a keyed token (never a clear value): use { exists: true|false }, or compare it with same: [${spec.path}, <other field>]` });
      return MATCH_NONE;
    }
  }
  const test = compileValueTests(spec, raw, path, ctx, tests);
  if (!test) return MATCH_NONE;
  if (spec.context) {
    const get = spec.context;
    return (e, t, f) => test(get(f ?? factsWithoutContext(e, t)));
  }
  const get = compileFieldGetter(spec.path);
  return (e) => test(get(e));
}

function compileValueTests(spec: FieldSpec, raw: unknown, path: IssuePath, ctx: ConditionContext, tests: ValueTest[]): ValueTest | null {
  if (raw === null || raw === undefined) {
    ctx.issues.push({ path, message: 'needs a value, a list of values or an operator map such as { gte: 10 }' });
    return null;
  }
  if (isScalar(raw) || Array.isArray(raw)) {
    const values = checkValueList(spec, raw, path, ctx);
    if (values) tests.push(lift(spec, memberTest(values)));
  } else if (isPlainObject(raw)) {
    const operators = Object.keys(raw);
    if (operators.length === 0) ctx.issues.push({ path, message: 'operator map is empty' });
    for (const op of operators) {
      const test = compileOperator(spec, op, raw[op], [...path, op], ctx);
      if (test) tests.push(test);
    }
  } else {
    ctx.issues.push({ path, message: 'must be a value, a list of values or an operator map' });
  }
  if (tests.length === 0) return null;
  if (tests.length === 1) return tests[0];
  return (v) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i](v)) return false;
    return true;
  };
}

/** Reads any rule field (event or context) given the event, its time and the facts. */
export type AnyFieldGetter = (event: AccessEvent, epochMs: number, facts?: EventFacts) => unknown;

export function compileAnyFieldGetter(spec: FieldSpec): AnyFieldGetter {
  if (spec.context) {
    const get = spec.context;
    return (e, t, f) => get(f ?? factsWithoutContext(e, t));
  }
  const get = compileFieldGetter(spec.path);
  return (e) => get(e);
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}

/** Equal values; a list equals a value it holds, two lists are equal when they share one. */
function sameValues(a: unknown, b: unknown): boolean {
  if (!present(a) || !present(b)) return false;
  if (Array.isArray(a)) return Array.isArray(b) ? a.some((x) => b.includes(x)) : a.includes(b);
  if (Array.isArray(b)) return b.includes(a);
  return a === b;
}

/** `same: [fieldA, fieldB]`: both present and equal (token equality for names and addresses). */
function compileSame(raw: unknown, path: IssuePath, ctx: ConditionContext): Predicate {
  if (!Array.isArray(raw) || raw.length !== 2 || !raw.every((p) => typeof p === 'string')) {
    ctx.issues.push({ path, message: 'must be two field paths to compare, e.g. [actor.context.family, patient.context.family]' });
    return MATCH_NONE;
  }
  const getters: AnyFieldGetter[] = [];
  raw.forEach((p: string, i) => {
    const spec = describeAnyField(p);
    if (!spec) ctx.issues.push({ path: [...path, i], message: unknownFieldMessage(p) });
    else getters.push(compileAnyFieldGetter(spec));
  });
  if (getters.length !== 2) return MATCH_NONE;
  const [a, b] = getters;
  return (e, t, f) => sameValues(a(e, t, f), b(e, t, f));
}

function compileOperator(spec: FieldSpec, op: string, value: unknown, path: IssuePath, ctx: ConditionContext): ValueTest | null {
  switch (op) {
    case 'eq': {
      if (Array.isArray(value)) {
        ctx.issues.push({ path, message: 'eq takes one value; use in: [...] for several' });
        return null;
      }
      return checkValue(spec, value, path, ctx) ? lift(spec, memberTest([value as Scalar])) : null;
    }
    case 'in':
    case 'contains': {
      if (op === 'contains' && spec.type !== 'string-list' && spec.type !== 'token-list') {
        ctx.issues.push({ path, message: `contains applies to list fields (sensitivity); ${spec.path} holds one value, use eq or in` });
        return null;
      }
      if (op === 'in' && !Array.isArray(value)) {
        ctx.issues.push({ path, message: 'in takes a list of values' });
        return null;
      }
      const values = checkValueList(spec, value, path, ctx);
      return values ? lift(spec, memberTest(values)) : null;
    }
    case 'not': {
      // "not" holds for a missing field too: `purpose: { not: TREAT }` matches events without a purpose.
      const values = checkValueList(spec, value, path, ctx);
      if (!values) return null;
      const member = lift(spec, memberTest(values));
      return (v) => !member(v);
    }
    case 'gte':
    case 'gt':
    case 'lte':
    case 'lt': {
      if (spec.type !== 'number' && spec.type !== 'scalar') {
        ctx.issues.push({ path, message: `${op} compares numbers; ${spec.path} is not a numeric field (recordCount, details.<key>)` });
        return null;
      }
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        ctx.issues.push({ path, message: `${op} needs a number` });
        return null;
      }
      const bound = value;
      if (op === 'gte') return (v) => typeof v === 'number' && v >= bound;
      if (op === 'gt') return (v) => typeof v === 'number' && v > bound;
      if (op === 'lte') return (v) => typeof v === 'number' && v <= bound;
      return (v) => typeof v === 'number' && v < bound;
    }
    case 'prefix': {
      if (spec.type === 'number') {
        ctx.issues.push({ path, message: `prefix compares text; ${spec.path} holds numbers` });
        return null;
      }
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0 || !list.every((p) => typeof p === 'string' && p.length > 0)) {
        ctx.issues.push({ path, message: 'prefix needs a non-empty text or a list of them' });
        return null;
      }
      const prefixes = list as string[];
      return lift(spec, (v) => {
        if (typeof v !== 'string') return false;
        for (let i = 0; i < prefixes.length; i++) if (v.startsWith(prefixes[i])) return true;
        return false;
      });
    }
    case 'exists': {
      if (typeof value !== 'boolean') {
        ctx.issues.push({ path, message: 'exists takes true or false' });
        return null;
      }
      const present: ValueTest = (v) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
      return value ? present : (v) => !present(v);
    }
    default:
      ctx.issues.push({ path, message: `unknown operator "${op}" (one of: ${FIELD_OPERATORS.join(', ')})` });
      return null;
  }
}

function parseClock(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = CLOCK_PATTERN.exec(value);
  if (!m) return null;
  return m[3] ? 24 * 60 : Number(m[1]) * 60 + Number(m[2]);
}

function compileTimeCondition(raw: unknown, path: IssuePath, ctx: ConditionContext): Predicate {
  if (!isPlainObject(raw)) {
    ctx.issues.push({ path, message: 'must be a map such as { between: ["19:00", "07:00"], days: [sat, sun] }' });
    return MATCH_NONE;
  }
  for (const key of Object.keys(raw)) {
    if (!(TIME_KEYS as readonly string[]).includes(key)) {
      ctx.issues.push({ path: [...path, key], message: `unknown time condition "${key}" (one of: ${TIME_KEYS.join(', ')})` });
    }
  }
  let zone = ctx.timeZone;
  if (raw.zone !== undefined) {
    if (typeof raw.zone !== 'string' || !isValidTimeZone(raw.zone)) {
      ctx.issues.push({ path: [...path, 'zone'], message: 'must be an IANA time zone such as America/New_York or UTC' });
      return MATCH_NONE;
    }
    zone = raw.zone;
  }
  const clock = new ZoneClock(zone);
  const parts: Predicate[] = [];
  for (const key of ['between', 'outside'] as const) {
    const range = raw[key];
    if (range === undefined) continue;
    const start = Array.isArray(range) && range.length === 2 ? parseClock(range[0]) : null;
    const end = Array.isArray(range) && range.length === 2 ? parseClock(range[1]) : null;
    if (start === null || end === null || start === end || start === 24 * 60) {
      ctx.issues.push({ path: [...path, key], message: 'must be two different local times ["HH:MM", "HH:MM"] (start inclusive, end exclusive; may wrap past midnight)' });
      continue;
    }
    const inside: (minute: number) => boolean = start < end ? (m) => m >= start && m < end : (m) => m >= start || m < end;
    parts.push(key === 'between' ? (_e, t) => inside(clock.minuteOfDay(t)) : (_e, t) => !inside(clock.minuteOfDay(t)));
  }
  if (raw.days !== undefined) {
    const days = raw.days;
    const indexes = Array.isArray(days) ? days.map((d) => (WEEKDAYS as readonly unknown[]).indexOf(typeof d === 'string' ? d.toLowerCase() : d)) : [];
    if (!Array.isArray(days) || days.length === 0 || indexes.some((i) => i < 0)) {
      ctx.issues.push({ path: [...path, 'days'], message: `must be a list of week days (${WEEKDAYS.join(', ')})` });
    } else {
      const mask = indexes.reduce((acc, i) => acc | (1 << i), 0);
      parts.push((_e, t) => (mask & (1 << clock.dayOfWeek(t))) !== 0);
    }
  }
  if (raw.between === undefined && raw.outside === undefined && raw.days === undefined) {
    ctx.issues.push({ path, message: 'needs at least one of between, outside or days' });
    return MATCH_NONE;
  }
  return allOf(parts);
}

/** Categories, actions, outcomes and actor types a where map can possibly admit (undefined: any), for the engine's rule index. */
export interface IndexHints {
  categories?: ReadonlySet<string>;
  actions?: ReadonlySet<string>;
  outcomes?: ReadonlySet<string>;
  actorTypes?: ReadonlySet<string>;
}

/** The top-level fields the engine's rule index narrows rules by (indexHints). */
const INDEXED_FIELDS: readonly string[] = ['category', 'action', 'outcome', 'actor.type'];

function positiveValues(raw: unknown): Set<string> | undefined {
  if (typeof raw === 'string') return new Set([raw]);
  if (Array.isArray(raw) && raw.every((v) => typeof v === 'string')) return new Set(raw as string[]);
  if (isPlainObject(raw)) {
    if (typeof raw.eq === 'string') return new Set([raw.eq]);
    if (Array.isArray(raw.in) && raw.in.every((v) => typeof v === 'string')) return new Set(raw.in as string[]);
  }
  return undefined;
}

/** Whether a where map holds `explained: false` (or `{ eq: false }`) at its top level: it admits unexplained accesses only. */
export function requiresUnexplained(where: unknown): boolean {
  if (!isPlainObject(where)) return false;
  const e = where.explained;
  return e === false || (isPlainObject(e) && Object.keys(e).length === 1 && e.eq === false);
}

export function indexHints(where: unknown): IndexHints {
  if (!isPlainObject(where)) return {};
  return {
    categories: positiveValues(where.category),
    actions: positiveValues(where.action),
    outcomes: positiveValues(where.outcome),
    actorTypes: positiveValues(where['actor.type']),
  };
}

/** A condition that is exactly "one of these texts" (`x`, `[x, y]`, `{ eq: x }`, `{ in: [x, y] }`): the index decides it whole. */
function exactlyOneOf(raw: unknown): boolean {
  if (typeof raw === 'string') return true;
  if (Array.isArray(raw)) return raw.length > 0 && raw.every((v) => typeof v === 'string');
  if (!isPlainObject(raw)) return false;
  const keys = Object.keys(raw);
  if (keys.length !== 1) return false;
  if (keys[0] === 'eq') return typeof raw.eq === 'string';
  return keys[0] === 'in' && Array.isArray(raw.in) && raw.in.length > 0 && raw.in.every((v) => typeof v === 'string');
}

/**
 * The `where` map left for the engine to check once its rule index has chosen the rule: the index
 * only offers a rule for events whose category, action, outcome and actor type it admits
 * (indexHints), so top-level conditions that are exactly such a set are already decided; and
 * `explained: false`, when the engine skips the rule for explained accesses first
 * (requiresUnexplained), is decided too. Everything else stays, in its order. Only for a where map
 * that compiled without problems (the whole map is what the rule means and what is validated).
 */
export function whereAfterIndex(where: unknown): unknown {
  if (!isPlainObject(where)) return where;
  const unexplainedFirst = requiresUnexplained(where);
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(where)) {
    if (INDEXED_FIELDS.includes(key) && exactlyOneOf(value)) continue;
    if (key === 'explained' && unexplainedFirst) continue;
    rest[key] = value;
  }
  return rest;
}
