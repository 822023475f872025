/**
 * The shape of a rule file (CONTRACT "Rule file", plus the extensions documented in
 * detection-rules/README.md), as a zod schema. This is the first of two checks: the shape here,
 * then the meaning (conditions, fields each kind needs) in compileRule.
 */
import { z } from 'zod';
import { DURATION_HINT, tryParseDuration } from './duration';
import { describeField, unknownFieldMessage } from './event-fields';
import { isValidTimeZone } from './zone-clock';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * `match`, `threshold`, `cardinality`, `sequence` come from the CONTRACT; `new_value` and `dormant`
 * are extensions for "service account used from a new IP" and "dormant account" rules.
 */
export const RULE_KINDS = ['match', 'threshold', 'cardinality', 'sequence', 'new_value', 'dormant'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

const KEBAB_CASE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const KEBAB_HINT = 'must be kebab-case: lower-case letters and digits joined by single hyphens';

const durationText = z
  .string({ invalid_type_error: DURATION_HINT })
  .refine((text) => tryParseDuration(text) !== null, DURATION_HINT);

const fieldPath = z
  .string({ invalid_type_error: 'must be an event field path such as actor.id' })
  .refine((path) => describeField(path) !== null, (path) => ({ message: unknownFieldMessage(path) }));

/** Conditions are a free-form map here; compileWhere checks them field by field. */
const whereMap = z.record(z.unknown(), { invalid_type_error: 'must be a map of field conditions' });

const timestampText = z
  .string({ invalid_type_error: 'must be an RFC 3339 timestamp (quote it)' })
  .refine((text) => !Number.isNaN(Date.parse(text)), 'must be an RFC 3339 timestamp such as 2024-03-05T15:00:00Z');

/** Context records an example states (users, patients, encounters; rule-examples.ts builds an in-memory context). */
const exampleContext = z
  .object({
    users: z.array(z.record(z.unknown())).optional(),
    patients: z.array(z.record(z.unknown())).optional(),
    encounters: z.array(z.record(z.unknown())).optional(),
  })
  .strict();

/** One event of an example: a partial canonical event plus the timing and repeat helpers. */
const exampleEvent = z.record(z.unknown(), { invalid_type_error: 'must be a (partial) event map' });

const scenarioObject = z
  .object({
    name: z.string().min(1).optional(),
    /** Time of the first event (default 2024-03-05T15:00:00Z, a Tuesday afternoon UTC). */
    start: timestampText.optional(),
    /** Merged into every event of the scenario. */
    base: z.record(z.unknown()).optional(),
    events: z.array(exampleEvent).min(1, 'needs at least one event'),
    /** Exact number of alerts expected (default: at least one for `fires`, none for `quiet`). */
    expect: z.number().int().min(0).optional(),
    /** Context for this scenario (added to the examples' shared context). */
    context: exampleContext.optional(),
  })
  .strict();

/** A scenario is an object as above, or just its list of events. */
const scenario = z.preprocess((value) => (Array.isArray(value) ? { events: value } : value), scenarioObject);

const sequenceStep = z
  .object({
    name: z.string().min(1).optional(),
    where: whereMap,
    /** How many events of this step are needed (the last step takes exactly one). */
    gte: z.number().int().min(1).default(1),
    /**
     * A field (event or context, e.g. query.names, patient.context.family) whose value links this
     * step's events to the completing event: they must share a value. All steps or none say it.
     */
    link: z.string({ invalid_type_error: 'must be a field path such as patient.context.family' }).optional(),
  })
  .strict();

export const RULE_SCHEMA = z
  .object({
    id: z.string().regex(KEBAB_CASE, KEBAB_HINT).max(100),
    title: z.string().min(1).max(200),
    description: z.string().max(4000).optional(),
    severity: z.enum(SEVERITIES),
    kind: z.enum(RULE_KINDS),
    enabled: z.boolean().default(true),
    where: whereMap.optional(),
    /** Conditions the event completing an alert must also meet (state is still kept from every `where` event). */
    when: whereMap.optional(),
    groupBy: z.array(fieldPath).max(5).default([]),
    distinct: fieldPath.optional(),
    sum: fieldPath.optional(),
    gte: z.number().positive().optional(),
    window: durationText.optional(),
    suppress: durationText.optional(),
    /**
     * match rules: at most `max` alerts per value of `by` (e.g. source.integration) within `window`;
     * the rest of that burst is folded into one alert that stands for it, so one flood cannot bury the queue.
     */
    burst: z.object({ by: fieldPath, max: z.number().int().min(1).max(10_000), window: durationText }).strict().optional(),
    idle: durationText.optional(),
    learn: durationText.optional(),
    steps: z.array(sequenceStep).optional(),
    timeZone: z
      .string()
      .refine(isValidTimeZone, 'must be an IANA time zone such as America/New_York or UTC')
      .optional(),
    runbook: z.string().regex(KEBAB_CASE, KEBAB_HINT),
    tags: z.array(z.string().min(1).max(100)).default([]),
    references: z.array(z.string().min(1)).optional(),
    /** Why an alert of this rule fired, as stable kebab-case codes (CONTRACT "Alert reasons"); default: the rule id. */
    reasons: z.array(z.string().regex(KEBAB_CASE, KEBAB_HINT).max(100)).min(1).max(10).optional(),
    examples: z
      .object({
        /** Context shared by every scenario of the rule. */
        context: exampleContext.optional(),
        fires: z.array(scenario).min(1, 'needs at least one scenario that must raise an alert'),
        quiet: z.array(scenario).min(1, 'needs at least one scenario that must stay quiet'),
      })
      .strict(),
  })
  .strict();

export type ExampleScenario = z.output<typeof scenarioObject>;
export type ExampleContext = z.output<typeof exampleContext>;
export type SequenceStepDefinition = z.output<typeof sequenceStep>;

/** A validated rule as loaded from a file (`source` is the file it came from). */
export type RuleDefinition = z.output<typeof RULE_SCHEMA> & { source?: string };
