/**
 * Helpers of the detection end-to-end tests: post seed traffic the way `auditctl seed` does (in
 * event-time ticks, each integration with its own token), wait until streaming detection has
 * evaluated everything committed, read every alert page, and check an event against a rule.
 */
import { AccessEvent } from '@app/core';
import { compileRuleOrThrow, RuleDefinition } from '@app/detection';
import { postTicks as postTicksInWindow, SeedBatch } from '@app/simulation';
import { ApiClient } from '../../apps/auditctl/src/api-client';

export interface AlertJson {
  id: string;
  ruleId: string;
  severity: string;
  status: string;
  groupKey: Record<string, string | number | boolean | null>;
  windowStart: string;
  windowEnd: string;
  count: number;
  evidence: { eventIds: string[]; firstEventId: string; lastEventId: string; total: number; truncated: boolean };
  runbook: string | { name: string; markdown: string | null };
  history: { action: string; from: string; to: string; by: string; note?: string; at: string }[];
  acknowledgedBy?: string;
  resolvedBy?: string;
}

/** "rule {groupBy values}": the alert group a planted pattern must raise. */
export function alertGroup(ruleId: string, group: Record<string, unknown>): string {
  return `${ruleId} ${JSON.stringify(Object.entries(group).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/**
 * The group of a planted pattern as an analyst sees it: alert views show patient ids as their
 * keyed-HMAC token to callers without `events:identified` (every alerts:read role).
 */
export function plantedGroup(rule: string, group: Record<string, string>, token: (patientId: string) => string): string {
  return alertGroup(rule, Object.fromEntries(Object.entries(group).map(([k, v]) => [k, k === 'patient.id' ? token(v) : v])));
}

/** Posts ticks as `auditctl seed` does (3 ticks in flight); `clientFor` gives each integration's client. */
export async function postTicks(ticks: SeedBatch[][], clientFor: (integration: string) => Promise<ApiClient>): Promise<void> {
  await postTicksInWindow(ticks, async (batch) => {
    const client = await clientFor(batch.integration);
    const res = await client.request('POST', '/v1/events', { events: batch.events });
    if (res.status !== 202) throw new Error(`POST /v1/events answered ${res.status}: ${res.body.slice(0, 500)}`);
  });
}

/** Polls GET /v1/detection/status until every committed event has been evaluated. */
export async function waitForDetection(analyst: ApiClient, timeoutMs = 30_000): Promise<{ position: number; headPosition: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await analyst.request('GET', '/v1/detection/status');
    if (res.status !== 200) throw new Error(`GET /v1/detection/status answered ${res.status}: ${res.body}`);
    const status = JSON.parse(res.body) as { running: boolean; position: number; headPosition: number; lagEvents: number };
    if (status.running && status.lagEvents === 0 && status.position === status.headPosition) return status;
    if (Date.now() > deadline) throw new Error(`detection did not catch up: ${res.body}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every alert, following nextCursor. */
export async function allAlerts(analyst: ApiClient, query = ''): Promise<AlertJson[]> {
  const out: AlertJson[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams(query);
    params.set('limit', '1000');
    if (cursor) params.set('cursor', cursor);
    const res = await analyst.request('GET', `/v1/alerts?${params}`);
    if (res.status !== 200) throw new Error(`GET /v1/alerts answered ${res.status}: ${res.body}`);
    const page = JSON.parse(res.body) as { alerts: AlertJson[]; nextCursor: string | null };
    out.push(...page.alerts);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** Whether the event meets the rule's conditions (and, for sequences, one of its steps). */
export function satisfiesRule(rule: RuleDefinition, event: AccessEvent, timeZone = 'UTC'): boolean {
  const compiled = compileRuleOrThrow({ ...rule, enabled: true }, { defaultTimeZone: timeZone });
  const ts = Date.parse(event.occurredAt);
  return compiled.where(event, ts) && (compiled.steps.length === 0 || compiled.steps.some((s) => s.where(event, ts)));
}
