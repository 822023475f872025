/**
 * Small builders for the detection specs: rule definitions from partial objects and events from
 * partial fields, with times given as offsets from a fixed start. Not exported from the library.
 */
import { AccessEvent } from '@app/core';
import { DetectionAlert } from './alert';
import { DetectionEngine } from './detection-engine';
import { RULE_SCHEMA, RuleDefinition } from './rule.schema';

export const T0 = Date.parse('2024-03-05T15:00:00.000Z');
export const SECOND = 1_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** A validated rule from the fields a test cares about. */
export function defineRule(fields: Record<string, unknown>): RuleDefinition {
  return RULE_SCHEMA.parse({
    id: 'test-rule',
    title: 'Test rule',
    severity: 'high',
    runbook: 'test-rule',
    examples: { fires: [[{}]], quiet: [[{}]] },
    ...fields,
  });
}

let counter = 0;

/** An event at T0 + offsetMs; `fields` override the defaults (nested objects replace whole). */
export function event(offsetMs: number, fields: Partial<AccessEvent> = {}, id?: string): AccessEvent {
  counter++;
  return {
    id: id ?? `00000000-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`,
    occurredAt: new Date(T0 + offsetMs).toISOString(),
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'user-1', type: 'user', role: 'nurse', ip: '10.0.0.10' },
    source: { system: 'ehr', integration: 'ehr-gateway' },
    ...fields,
  };
}

/** Feeds events in order with positions 1..n (or from `firstPosition`) and collects the alerts. */
export function feed(engine: DetectionEngine, events: readonly AccessEvent[], firstPosition = engine.lastPosition + 1): DetectionAlert[] {
  const out: DetectionAlert[] = [];
  events.forEach((e, i) => out.push(...engine.process(e, firstPosition + i)));
  return out;
}
