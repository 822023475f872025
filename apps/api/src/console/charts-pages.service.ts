/**
 * Data of the console's alert-volume page: alerts per day (or hour) by severity. On the embedded
 * store: one GROUP BY over the alerts table's indexed event-time column. With STORE=elasticsearch:
 * one search of the shared alert index (a terms aggregation on severity with a histogram of
 * `windowEndMs` under it; no document read), so every instance shows the cluster's alerts.
 * (A patient's access timeline is drawn on the patient access page.)
 */
import { FieldError, Problems } from '@app/core';
import type { SqliteDb } from '@app/storage';
import type { SharedAlertIndex } from '@app/detection';
import { SEVERITY_ORDER, VolumeBucket, alertVolumeChart, type ChartSeverity } from './charts/svg-charts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const SPANS: Record<string, { days: number; bucket: number }> = { '2': { days: 2, bucket: HOUR }, '7': { days: 7, bucket: DAY }, '30': { days: 30, bucket: DAY }, '90': { days: 90, bucket: DAY } };
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Built in AuditorAdminPagesModule: the embedded database, or (STORE=elasticsearch) the shared alert index. */
export class ChartsPagesService {
  constructor(
    private readonly db: SqliteDb | null,
    private readonly shared?: SharedAlertIndex,
  ) {}

  async alertVolume(params: Record<string, unknown>) {
    const errors: FieldError[] = [];
    const daysText = typeof params.days === 'string' && params.days !== '' ? params.days : '30';
    const span = SPANS[daysText];
    if (!span) errors.push({ pointer: '/query/days', message: `must be one of ${Object.keys(SPANS).join(', ')}` });
    const toText = typeof params.to === 'string' && params.to !== '' ? params.to : undefined;
    if (toText !== undefined && (!DATE.test(toText) || Number.isNaN(Date.parse(toText)))) errors.push({ pointer: '/query/to', message: 'must be a date (YYYY-MM-DD)' });
    if (errors.length) throw Problems.validation(errors);
    if (!this.db && !this.shared) return { available: false, days: daysText, spans: Object.keys(SPANS) };
    // Up to the end of `to`, else of the day of the newest alert (event time), so the chart shows recent activity.
    const newest = toText ? null : await this.newestMs();
    const endDay = toText ? Date.parse(toText) : Math.floor((newest ?? Date.now()) / DAY) * DAY;
    const end = endDay + DAY;
    const start = end - span!.days * DAY;
    const rows = await this.countRows(start, end, span!.bucket);
    const count = Math.round((end - start) / span!.bucket);
    const buckets: VolumeBucket[] = Array.from({ length: count }, (_, i) => ({ start: new Date(start + i * span!.bucket).toISOString(), counts: {} }));
    for (const r of rows) {
      const bucket = buckets[Math.floor(r.b)];
      if (bucket && (SEVERITY_ORDER as readonly string[]).includes(r.severity)) bucket.counts[r.severity as ChartSeverity] = r.n;
    }
    const label = span!.bucket === HOUR ? (iso: string) => `${iso.slice(5, 10)} ${iso.slice(11, 13)}h` : (iso: string) => iso.slice(0, 10);
    const chart = alertVolumeChart(buckets, { title: `Alerts per ${span!.bucket === HOUR ? 'hour' : 'day'} by severity, ${new Date(start).toISOString().slice(0, 10)} to ${new Date(end - 1).toISOString().slice(0, 10)} (event time)`, bucketLabel: label });
    return { available: true, days: daysText, to: new Date(endDay).toISOString().slice(0, 10), spans: Object.keys(SPANS), chart };
  }

  /** Event time (epoch ms) of the newest alert's window end, or null without alerts. */
  private async newestMs(): Promise<number | null> {
    if (this.shared) {
      const resp = await this.shared.client.search({ index: this.shared.index, size: 0, track_total_hits: false, allow_partial_search_results: false, aggs: { newest: { max: { field: 'windowEndMs' } } } });
      return (resp.aggregations as unknown as { newest: { value: number | null } }).newest.value;
    }
    return (this.db!.prepare('SELECT MAX(window_end_ms) AS m FROM alerts').get() as { m: number | null }).m;
  }

  /** Alerts whose window ended in [start, end), counted by severity and bucket number `b` (0 = the first). */
  private async countRows(start: number, end: number, bucket: number): Promise<{ severity: string; b: number; n: number }[]> {
    if (this.shared) {
      // `start` is a whole day, so histogram keys (multiples of `bucket`) fall on the chart's buckets.
      const resp = await this.shared.client.search({
        index: this.shared.index,
        size: 0,
        track_total_hits: false,
        allow_partial_search_results: false,
        query: { bool: { filter: [{ range: { windowEndMs: { gte: start, lt: end } } }] } },
        aggs: { severity: { terms: { field: 'severity', size: 10 }, aggs: { period: { histogram: { field: 'windowEndMs', interval: bucket, min_doc_count: 1 } } } } },
      });
      const aggs = resp.aggregations as unknown as { severity: { buckets: { key: string; period: { buckets: { key: number; doc_count: number }[] } }[] } };
      return aggs.severity.buckets.flatMap((s) => s.period.buckets.map((p) => ({ severity: s.key, b: Math.round((p.key - start) / bucket), n: p.doc_count })));
    }
    return this.db!
      .prepare('SELECT severity, (window_end_ms - ?) / ? AS b, COUNT(*) AS n FROM alerts WHERE window_end_ms >= ? AND window_end_ms < ? GROUP BY b, severity')
      .all(start, bucket, start, end) as { severity: string; b: number; n: number }[];
  }
}
