/**
 * What a destination receives about an alert (minimum necessary): the rule, severity, reasons,
 * window and count, a link to the console where a person with the right role sees the rest, and
 * the actor and patient only as keyed-HMAC tokens unless the destination opted into identifiers in
 * clear. No evidence, no group values, no IPs. Also the stable delivery id receivers de-duplicate on.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AlertRecord } from '../alert-lifecycle';
import type { Destination } from './destinations-config';

export interface DeliveredAlert {
  id: string;
  ruleId: string;
  title: string;
  severity: string;
  reasons: string[];
  windowStart: string;
  windowEnd: string;
  count: number;
  raisedAt: string;
  /** Token (`tok_…` keyed HMAC) unless the destination has `identifiers: clear`. */
  actor?: string;
  patient?: string;
  link: string;
}

/** One message: a single alert, or a digest of several (rate limit, digest), or a test. */
export interface DeliveryMessage {
  /** Stable: the same alert to the same destination always carries the same id (UUID-shaped). */
  deliveryId: string;
  kind: 'alert' | 'digest' | 'test';
  destination: string;
  alerts: DeliveredAlert[];
  /** digest: how many alerts it covers (all listed). */
  count: number;
}

export interface IdentifierTokens {
  token(id: string): string;
}

export function deliveryIdFor(destination: string, alertIds: readonly string[]): string {
  const hex = createHash('sha256').update(`${destination}\u0000${alertIds.join('\u0000')}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function deliveredAlert(record: AlertRecord, destination: Destination, tokens: IdentifierTokens, consoleUrl: string): DeliveredAlert {
  const ident = (v: string | undefined) => (v === undefined ? undefined : destination.identifiers === 'clear' ? v : tokens.token(v));
  return {
    id: record.id,
    ruleId: record.ruleId,
    title: record.title,
    severity: record.severity,
    reasons: record.reasons ?? [],
    windowStart: record.windowStart,
    windowEnd: record.windowEnd,
    count: record.count,
    raisedAt: record.createdAt,
    actor: ident(record.actor),
    patient: ident(record.patient),
    link: `${consoleUrl.replace(/\/+$/, '')}/console/alerts/${encodeURIComponent(record.id)}`,
  };
}

export function messageFor(destination: string, alerts: DeliveredAlert[], kind: DeliveryMessage['kind']): DeliveryMessage {
  return { deliveryId: deliveryIdFor(destination, alerts.map((a) => a.id)), kind, destination, alerts, count: alerts.length };
}

/**
 * A test message (kind `test`): a made-up alert of rule `delivery-test` with no identifiers, linking
 * to the console's alert list. `auditctl alerts test-delivery` and the console's admin page send it.
 */
export function testMessage(destination: string, consoleUrl: string, severity = 'low'): DeliveryMessage {
  const now = new Date().toISOString();
  const alert: DeliveredAlert = {
    id: randomUUID(),
    ruleId: 'delivery-test',
    title: 'Alert delivery test (not a real alert)',
    severity: SEV_RANK[severity] !== undefined ? severity : 'low',
    reasons: ['delivery-test'],
    windowStart: now,
    windowEnd: now,
    count: 0,
    raisedAt: now,
    link: `${consoleUrl.replace(/\/+$/, '')}/console/alerts`,
  };
  return messageFor(destination, [alert], 'test');
}

/** One line of text for chat and mail subjects. */
export function headline(m: DeliveryMessage): string {
  if (m.kind === 'digest') {
    const top = m.alerts.reduce((s, a) => (SEV_RANK[a.severity] > SEV_RANK[s] ? a.severity : s), 'low');
    return `[${top.toUpperCase()}] ${m.count} audit alerts (digest)`;
  }
  const a = m.alerts[0];
  return `${m.kind === 'test' ? '[TEST] ' : ''}[${a.severity.toUpperCase()}] ${a.title}`;
}

export const SEV_RANK: Record<string, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** Plain text body (mail, chat). */
export function textBody(m: DeliveryMessage): string {
  const lines: string[] = [];
  if (m.kind === 'digest') lines.push(`${m.count} alerts since the last message to ${m.destination}.`, '');
  for (const a of m.alerts) {
    lines.push(`${a.severity.toUpperCase()} ${a.title} (rule ${a.ruleId})`);
    lines.push(`  reasons: ${a.reasons.join(', ') || '-'}; events: ${a.count}; window ${a.windowStart} .. ${a.windowEnd}`);
    if (a.actor) lines.push(`  user: ${a.actor}`);
    if (a.patient) lines.push(`  patient: ${a.patient}`);
    lines.push(`  ${a.link}`);
  }
  lines.push('', `delivery id ${m.deliveryId}`);
  return lines.join('\n');
}
