/**
 * Counts of alerts by severity and by rule for the queue's header, on the embedded store: two
 * GROUP BY queries over the alerts table's indexed columns (status, severity, rule_id), so the
 * counts stay cheap however long the queue. Scale-out deployments (alerts in Elasticsearch) get null
 * and the page shows no counts.
 */
import type { SqliteDb } from '@app/storage';

export interface AlertCountsView {
  bySeverity: { severity: string; count: number }[];
  byRule: { rule: string; count: number }[];
  total: number;
}

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low'];

export class AlertCounts {
  constructor(private readonly db: SqliteDb | null) {}

  counts(status?: string): AlertCountsView | null {
    if (!this.db) return null;
    const where = status ? 'WHERE status = ?' : '';
    const args = status ? [status] : [];
    const sev = this.db.prepare(`SELECT severity, COUNT(*) AS n FROM alerts ${where} GROUP BY severity`).all(...args) as { severity: string; n: number }[];
    const rules = this.db.prepare(`SELECT rule_id, COUNT(*) AS n FROM alerts ${where} GROUP BY rule_id ORDER BY n DESC LIMIT 50`).all(...args) as { rule_id: string; n: number }[];
    return {
      bySeverity: sev.map((r) => ({ severity: r.severity, count: r.n })).sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity)),
      byRule: rules.map((r) => ({ rule: r.rule_id, count: r.n })),
      total: sev.reduce((n, r) => n + r.n, 0),
    };
  }
}
