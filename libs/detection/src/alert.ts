/**
 * What the engine raises: a DetectionAlert, with everything an analyst needs to judge it (group,
 * window, counts, evidence ids, evidence summary) and a deterministic id, so replaying the same
 * events after a crash yields the same ids and the alert store can drop the duplicates.
 */
import { createHash } from 'node:crypto';
import type { AccessExplanation } from '@app/core';
import { GroupValue, CompiledRule } from './compiled-rule';
import { EventRef } from './event-ref';
import { AlertEvidence, EvidenceSummary, selectEvidence, summarizeEvidence } from './evidence';
import { RuleKind, Severity } from './rule.schema';

export interface AlertContext {
  /** new_value: the value not seen before, and (some of) the values the group was known for. */
  newValue?: string;
  knownValues?: string[];
  /** dormant: when the group was last active before this event, and how long it was idle. */
  previousActivityAt?: string;
  idleMs?: number;
  /**
   * match rules with `burst`: this alert stands for the rest of a burst (more than `max` alerts for
   * one value of `field` within `window`); the burst's further events are counted, not alerted.
   */
  burst?: { field: string; value: string | null; max: number; window: string };
  /** sequence: how many events each step contributed. */
  steps?: { name: string; count: number }[];
}

export interface DetectionAlert {
  /** Deterministic: rule id + group + window start + completing event. */
  id: string;
  ruleId: string;
  title: string;
  severity: Severity;
  kind: RuleKind;
  runbook: string;
  tags: string[];
  /** groupBy field -> value (null when a match rule's event lacked the field). */
  groupKey: Record<string, GroupValue>;
  /** The evaluated window in event time; for match rules both are the event's time. */
  windowStart: string;
  windowEnd: string;
  /** Events that contributed. */
  count: number;
  /** cardinality: distinct values of the `distinct` field in the window. */
  distinctCount?: number;
  /** threshold with `sum`: the summed field over the window. */
  sum?: number;
  /** The rule's gte, when it has one. */
  threshold?: number;
  evidence: AlertEvidence;
  summary: EvidenceSummary;
  context?: AlertContext;
  /** Position of the event whose processing raised the alert (the engine's input position). */
  position: number;
  /** Why it fired: stable kebab-case codes (CONTRACT "Alert reasons"), at least one. */
  reasons: string[];
  /** The account whose event raised the alert. */
  actor?: string;
  /** The patient of the access the alert is about (match rules, and rules grouped by patient). */
  patient?: string;
  /** How the explanation stage judged that access. */
  explanation?: AccessExplanation;
}

/** UUID-shaped (version 8, "custom") digest of the alert's identity. */
export function alertId(ruleId: string, groupKey: string, windowStartMs: number, lastEventId: string): string {
  const hex = createHash('sha256').update(`${ruleId}\u0000${groupKey}\u0000${windowStartMs}\u0000${lastEventId}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface AlertFacts {
  groupKey: string;
  groupValues: Record<string, GroupValue>;
  windowStartMs: number;
  windowEndMs: number;
  /** Contributing events in time order. */
  refs: readonly EventRef[];
  /** Which refs to keep first when over the evidence cap. */
  priority?: readonly number[];
  distinctCount?: number;
  sum?: number;
  context?: AlertContext;
  position: number;
  actor?: string;
  patient?: string;
  explanation?: AccessExplanation;
}

export function buildAlert(rule: CompiledRule, facts: AlertFacts, evidenceCap: number): DetectionAlert {
  const evidence = selectEvidence(facts.refs, evidenceCap, facts.priority);
  const alert: DetectionAlert = {
    id: alertId(rule.id, facts.groupKey, facts.windowStartMs, evidence.lastEventId),
    ruleId: rule.id,
    title: rule.title,
    severity: rule.severity,
    kind: rule.kind,
    runbook: rule.runbook,
    tags: [...rule.tags],
    groupKey: facts.groupValues,
    windowStart: new Date(facts.windowStartMs).toISOString(),
    windowEnd: new Date(facts.windowEndMs).toISOString(),
    count: facts.refs.length,
    evidence,
    summary: summarizeEvidence(facts.refs),
    position: facts.position,
    reasons: [...(rule.definition.reasons ?? [rule.id])],
  };
  if (facts.actor !== undefined) alert.actor = facts.actor;
  if (facts.patient !== undefined) alert.patient = facts.patient;
  if (facts.explanation !== undefined) alert.explanation = facts.explanation;
  if (facts.distinctCount !== undefined) alert.distinctCount = facts.distinctCount;
  if (facts.sum !== undefined) alert.sum = facts.sum;
  if (rule.definition.gte !== undefined) alert.threshold = rule.definition.gte;
  if (facts.context) alert.context = facts.context;
  return alert;
}
