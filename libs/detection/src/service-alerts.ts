/**
 * Alerts the service raises about itself rather than about an access: a break found by the
 * integrity verification (`integrity-break`), and an integration whose events are dated far ahead
 * of or behind the server clock (`data-quality-clock-skew`, at most one per integration per alert
 * period). They go through the normal alert path (stored like
 * any alert, listed by GET /v1/alerts and the console queue, delivered by alert delivery) and carry
 * no PHI: only chain names, sequence numbers, break kinds, column names, integration names and
 * counts. Their ids are
 * deterministic in what they are about (not in when they were found), so the same break found again
 * (next period, after a restart) is the same alert, stored once.
 */
import { alertId, DetectionAlert } from './alert';
import { AlertEvidence, EvidenceSummary } from './evidence';

export const INTEGRITY_BREAK_RULE_ID = 'integrity-break';

/** What a verification found (ChainBreak of @app/ledger, without its free-text detail). */
export interface IntegrityBreakFacts {
  chain: string;
  seq: number;
  kind: string;
  column?: string;
}

const NO_EVIDENCE: AlertEvidence = { eventIds: [], firstEventId: '', lastEventId: '', total: 0, truncated: false };

function emptySummary(at: string): EvidenceSummary {
  return {
    eventCount: 0,
    firstEventAt: at,
    lastEventAt: at,
    spanMs: 0,
    distinctPatients: 0,
    topPatients: [],
    distinctActors: 0,
    actors: [],
    distinctSourceIps: 0,
    sourceIps: [],
    sourceSystems: [],
    integrations: [],
  };
}

/** The `integrity-break` alert for one chain's first break, dated when it was found. */
export function integrityBreakAlert(b: IntegrityBreakFacts, foundAt: string): DetectionAlert {
  const groupKey: Record<string, string | number> = { chain: b.chain, seq: b.seq, kind: b.kind, ...(b.column ? { column: b.column } : {}) };
  return {
    id: alertId(INTEGRITY_BREAK_RULE_ID, JSON.stringify(groupKey), 0, ''),
    ruleId: INTEGRITY_BREAK_RULE_ID,
    title: 'Audit log integrity break: stored records do not match their hash chain',
    severity: 'critical',
    kind: 'match',
    runbook: INTEGRITY_BREAK_RULE_ID,
    tags: ['integrity', 'hipaa-164.312(c)(1)', 'hipaa-164.312(b)'],
    groupKey,
    windowStart: foundAt,
    windowEnd: foundAt,
    count: 1,
    evidence: NO_EVIDENCE,
    summary: emptySummary(foundAt),
    position: -1,
    reasons: ['integrity-break'],
  };
}

export const DISK_PRESSURE_RULE_ID = 'disk-pressure';

/**
 * The `disk-pressure` data-quality alert: free space under DATA_DIR fell below DISK_FREE_FLOOR_BYTES
 * (durability-monitor.ts), raised once per crossing (its id is the crossing's time), before the disk
 * is full and events are refused. Sizes in MiB only.
 */
export function diskPressureAlert(facts: { freeMiB: number; floorMiB: number }, foundAt: string): DetectionAlert {
  const groupKey: Record<string, string | number> = { filesystem: 'DATA_DIR', floorMiB: facts.floorMiB };
  return {
    id: alertId(DISK_PRESSURE_RULE_ID, JSON.stringify(groupKey), Date.parse(foundAt), ''),
    ruleId: DISK_PRESSURE_RULE_ID,
    title: 'Disk space under the audit data dir is below its floor: events will be refused when it is full',
    severity: 'high',
    kind: 'match',
    runbook: DISK_PRESSURE_RULE_ID,
    tags: ['data-quality', 'operations', 'hipaa-164.312(b)'],
    groupKey: { ...groupKey, freeMiB: facts.freeMiB },
    windowStart: foundAt,
    windowEnd: foundAt,
    count: 1,
    evidence: NO_EVIDENCE,
    summary: emptySummary(foundAt),
    position: -1,
    reasons: ['disk-pressure'],
  };
}

export const CLOCK_SKEW_RULE_ID = 'data-quality-clock-skew';

/** One integration's events flagged for their clock in one alert period (ClockSkewNotice of @app/pipeline). */
export interface ClockSkewFacts {
  integration: string;
  periodStartMs: number;
  ahead: number;
  behind: number;
}

/** The clock data-quality alert of one integration and period (the same period gives the same id). */
export function clockSkewAlert(n: ClockSkewFacts, raisedAt: string): DetectionAlert {
  const groupKey = { 'source.integration': n.integration };
  const reasons = [...(n.ahead > 0 ? ['clock-ahead'] : []), ...(n.behind > 0 ? ['clock-behind'] : [])];
  return {
    id: alertId(CLOCK_SKEW_RULE_ID, JSON.stringify(groupKey), n.periodStartMs, ''),
    ruleId: CLOCK_SKEW_RULE_ID,
    title: 'Audit events dated far from the server clock (sender clock)',
    severity: 'medium',
    kind: 'match',
    runbook: CLOCK_SKEW_RULE_ID,
    tags: ['data-quality', 'hipaa-164.312(b)'],
    groupKey,
    windowStart: new Date(n.periodStartMs).toISOString(),
    windowEnd: raisedAt,
    count: n.ahead + n.behind,
    evidence: NO_EVIDENCE,
    summary: { ...emptySummary(raisedAt), integrations: [n.integration] },
    position: -1,
    reasons,
  };
}
