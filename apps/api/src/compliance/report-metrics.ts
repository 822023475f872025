/**
 * Prometheus metrics of compliance reports and legal holds, registered in the service's metrics
 * registry. Labels are report kinds, formats and results only: never who or which patient.
 */
import { Injectable } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '@app/pipeline';

@Injectable()
export class ReportMetrics {
  private readonly reports: Counter<'kind' | 'format' | 'result'>;
  private readonly rows: Histogram<'kind'>;
  private readonly duration: Histogram<'format'>;

  constructor(metrics: MetricsService) {
    const registers = [metrics.registry];
    this.reports = new Counter({
      name: 'audit_reports_total',
      help: 'Compliance reports by kind, format and result (ok, client_gone, error).',
      labelNames: ['kind', 'format', 'result'] as const,
      registers,
    });
    this.rows = new Histogram({
      name: 'audit_report_rows',
      help: 'Rows per compliance report.',
      labelNames: ['kind'] as const,
      buckets: [0, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000],
      registers,
    });
    this.duration = new Histogram({
      name: 'audit_report_duration_seconds',
      help: 'Time to stream a whole compliance report.',
      labelNames: ['format'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
  }

  completed(kind: string, format: string, rows: number, seconds: number): void {
    this.reports.inc({ kind, format, result: 'ok' });
    this.rows.observe({ kind }, rows);
    this.duration.observe({ format }, seconds);
  }

  failed(kind: string, format: string, result: 'client_gone' | 'error'): void {
    this.reports.inc({ kind, format, result });
  }
}
