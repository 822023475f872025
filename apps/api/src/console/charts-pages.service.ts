/**
 * Data of the console's alert-volume page: alerts per day (or hour) by severity, counted with one
 * GROUP BY over the alerts table's indexed event-time column (embedded store; Elasticsearch
 * deployments get no chart). (A patient's access timeline is drawn on the patient access page.)
 */
import { Inject, Injectable } from '@nestjs/common';
import { FieldError, Problems } from '@app/core';
import { SQLITE_DB, type SqliteDb } from '@app/storage';
import { APP_CONFIG, AppConfig } from '@app/core';
import { SEVERITY_ORDER, VolumeBucket, alertVolumeChart, type ChartSeverity } from './charts/svg-charts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const SPANS: Record<string, { days: number; bucket: number }> = { '2': { days: 2, bucket: HOUR }, '7': { days: 7, bucket: DAY }, '30': { days: 30, bucket: DAY }, '90': { days: 90, bucket: DAY } };
const DATE = /^\d{4}-\d{2}-\d{2}$/;

@Injectable()
export class ChartsPagesService {
  private readonly db: SqliteDb | null;

  constructor(
    @Inject(SQLITE_DB) db: SqliteDb,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.db = config.scaleOut?.store === 'elasticsearch' ? null : db;
  }

  alertVolume(params: Record<string, unknown>) {
    const errors: FieldError[] = [];
    const daysText = typeof params.days === 'string' && params.days !== '' ? params.days : '30';
    const span = SPANS[daysText];
    if (!span) errors.push({ pointer: '/query/days', message: `must be one of ${Object.keys(SPANS).join(', ')}` });
    const toText = typeof params.to === 'string' && params.to !== '' ? params.to : undefined;
    if (toText !== undefined && (!DATE.test(toText) || Number.isNaN(Date.parse(toText)))) errors.push({ pointer: '/query/to', message: 'must be a date (YYYY-MM-DD)' });
    if (errors.length) throw Problems.validation(errors);
    if (!this.db) return { available: false, days: daysText, spans: Object.keys(SPANS) };
    // Up to the end of `to`, else of the day of the newest alert (event time), so the chart shows recent activity.
    const newest = (this.db.prepare('SELECT MAX(window_end_ms) AS m FROM alerts').get() as { m: number | null }).m;
    const endDay = toText ? Date.parse(toText) : Math.floor((newest ?? Date.now()) / DAY) * DAY;
    const end = endDay + DAY;
    const start = end - span!.days * DAY;
    const rows = this.db
      .prepare('SELECT severity, (window_end_ms - ?) / ? AS b, COUNT(*) AS n FROM alerts WHERE window_end_ms >= ? AND window_end_ms < ? GROUP BY b, severity')
      .all(start, span!.bucket, start, end) as { severity: string; b: number; n: number }[];
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
}
