/**
 * Counts of alerts by severity and by rule for the queue's header. On the embedded store: two
 * GROUP BY queries over the alerts table's indexed columns (status, severity, rule_id), so the
 * counts stay cheap however long the queue. With STORE=elasticsearch: one search of the shared
 * alert index with two terms aggregations on its indexed columns (no document read), so every
 * instance shows the cluster's counts.
 */
import type { SharedAlertIndex } from '@app/detection';
import type { SqliteDb } from '@app/storage';

export interface AlertCountsView {
  bySeverity: { severity: string; count: number }[];
  byRule: { rule: string; count: number }[];
  total: number;
}

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low'];

interface Buckets {
  buckets: { key: string; doc_count: number }[];
}

export class AlertCounts {
  constructor(
    private readonly db: SqliteDb | null,
    private readonly shared?: SharedAlertIndex,
  ) {}

  async counts(status?: string): Promise<AlertCountsView | null> {
    if (this.shared) return this.sharedCounts(this.shared, status);
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

  private async sharedCounts({ client, index }: SharedAlertIndex, status?: string): Promise<AlertCountsView> {
    const resp = await client.search({
      index,
      size: 0,
      track_total_hits: false,
      allow_partial_search_results: false,
      query: { bool: { filter: status ? [{ term: { status } }] : [] } },
      aggs: { severity: { terms: { field: 'severity', size: 10 } }, rule: { terms: { field: 'ruleId', size: 50 } } },
    });
    const aggs = resp.aggregations as unknown as { severity: Buckets; rule: Buckets };
    return {
      bySeverity: aggs.severity.buckets.map((b) => ({ severity: b.key, count: b.doc_count })).sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity)),
      byRule: aggs.rule.buckets.map((b) => ({ rule: b.key, count: b.doc_count })),
      total: aggs.severity.buckets.reduce((n, b) => n + b.doc_count, 0),
    };
  }
}
