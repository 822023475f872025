/**
 * Compliance reports over HTTP (issue 6): patient access, user activity, break-glass and failed
 * access, as JSON, CSV or HTML, streamed (the response is written while the store is read) and
 * signed (signature block at the end, plus Report-Sha256 / Report-Signature trailers). Also the
 * public keys that check report signatures. Thin: ReportService does the work.
 */
import { applyDecorators, Controller, Get, Inject, Logger, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ReportKind, ReportService } from '@app/reports';
import { CurrentPrincipal, KeyProvider, Principal, RequireScope } from '@app/security';
import { ClientGoneError, HttpReportSink } from './http-report-sink';
import { ReportMetrics } from './report-metrics';
import { REPORT_KEY_PROVIDER } from './report-key-provider';

/** A streamed report route: its path, scope, summary and query parameters (`required` first). */
function ReportRoute(path: ReportKind, summary: string, required: 'patient' | 'actor' | null, optional: ('patient' | 'actor')[]) {
  return applyDecorators(
    Get(path),
    RequireScope('reports:read'),
    ApiOperation({ summary }),
    ApiProduces('application/json', 'text/csv', 'text/html'),
    ...(required ? [ApiQuery({ name: required, required: true })] : []),
    ...optional.map((name) => ApiQuery({ name, required: false })),
    ApiQuery({ name: 'from', required: false, description: 'RFC 3339 or YYYY-MM-DD, inclusive (event time)' }),
    ApiQuery({ name: 'to', required: false, description: 'RFC 3339 or YYYY-MM-DD, exclusive (event time)' }),
    ApiQuery({ name: 'format', required: false, enum: ['json', 'csv', 'html'], description: 'default json' }),
  );
}

@ApiTags('reports')
@ApiBearerAuth()
@Controller('v1/reports')
export class ReportsController {
  private readonly logger = new Logger('Reports');

  constructor(
    private readonly reports: ReportService,
    private readonly metrics: ReportMetrics,
    @Inject(REPORT_KEY_PROVIDER) private readonly keys: KeyProvider,
  ) {}

  @ReportRoute('patient-access', 'Who accessed this patient\u2019s records: who (id, role, unit), when, what kind of record, why, outcome. Streamed and signed.', 'patient', ['actor'])
  async patientAccess(@Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    await this.stream('patient-access', params, p, res);
  }

  @ReportRoute('user-activity', 'Everything one user (actor) did. Streamed and signed.', 'actor', ['patient'])
  async userActivity(@Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    await this.stream('user-activity', params, p, res);
  }

  @ReportRoute('break-glass', 'Emergency (break-glass) access: action break_glass or details.breakGlass. Streamed and signed.', null, ['patient', 'actor'])
  async breakGlass(@Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    await this.stream('break-glass', params, p, res);
  }

  @ReportRoute('failed-access', 'Failed and refused attempts (outcome failure or denied, every category). Streamed and signed.', null, ['patient', 'actor'])
  async failedAccess(@Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal, @Res() res: Response): Promise<void> {
    await this.stream('failed-access', params, p, res);
  }

  @Get('keys')
  @RequireScope('reports:read')
  @ApiOperation({ summary: 'Public keys that check report signatures ({ keyId, publicKeyPem }), current last.' })
  keyList() {
    return { keys: this.keys.publicKeys().map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem, createdAt: k.createdAt, retiredAt: k.retiredAt ?? null })) };
  }

  private async stream(kind: ReportKind, params: Record<string, unknown>, p: Principal, res: Response): Promise<void> {
    // Invalid parameters throw here, before any byte: the problem filter answers 400.
    const query = this.reports.parse(kind, params);
    const started = performance.now();
    try {
      const result = await this.reports.generate(query, { sub: p.sub, role: p.role, via: p.via }, new HttpReportSink(res));
      const seconds = (performance.now() - started) / 1000;
      this.metrics.completed(kind, query.format, result.rows, seconds);
      this.logger.log(`report generated kind=${kind} format=${query.format} rows=${result.rows} bytes=${result.bytes} sha256=${result.reportSha256} keyId=${result.keyId} ms=${Math.round(seconds * 1000)}`);
    } catch (err) {
      this.metrics.failed(kind, query.format, err instanceof ClientGoneError ? 'client_gone' : 'error');
      if (!res.headersSent) throw err;
      // Mid-stream: the status is already sent. Cut the connection so the client sees a truncated
      // report (no signature block: it cannot verify) rather than a complete-looking one.
      this.logger.warn(`report aborted kind=${kind} format=${query.format} reason=${err instanceof ClientGoneError ? 'client_gone' : (err as Error)?.constructor?.name ?? 'error'}`);
      res.destroy();
    }
  }
}
