/**
 * The compliance officer's console pages: patient access history, user activity, signed reports
 * (download, and a check of a downloaded file), legal holds, verification status per chain and
 * retention runs. Thin: CompliancePagesService builds the pages, ReportService streams reports;
 * scopes as the API's, and every view is recorded in the access log (@AuditAccess; reports record
 * themselves like the API's).
 */
import { Body, Controller, Get, Inject, Logger, Param, Post, Query, Render, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Problems } from '@app/core';
import { AuditAccess } from '@app/pipeline';
import { ReportKind, ReportResponseMeta, ReportService, verifyReportFile } from '@app/reports';
import { CurrentPrincipal, KeyProvider, Principal, RequireScope, SessionRoute } from '@app/security';
import { HttpReportSink } from '../compliance/http-report-sink';
import { REPORT_KEY_PROVIDER } from '../compliance/report-key-provider';
import { CompliancePagesService } from './compliance-pages.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { pageModel } from './console-page';
import type { ConsoleRequest } from './console-session.authenticator';

const countRows = (r: unknown) => (r as { rows?: unknown[] }).rows?.length ?? 0;
/** Largest report file the check accepts. */
const MAX_CHECK_BYTES = 1 << 30;

/** Downloads from the console are attachments in every format. */
class DownloadReportSink extends HttpReportSink {
  constructor(private readonly response: Response) {
    super(response);
  }

  override start(meta: ReportResponseMeta): void {
    super.start(meta);
    this.response.setHeader('Content-Disposition', `attachment; filename="${meta.fileName}"`);
  }
}

@ApiExcludeController()
@Controller('console')
@SessionRoute()
@UseFilters(ConsoleExceptionFilter)
export class CompliancePagesController {
  private readonly logger = new Logger('Console');

  constructor(
    private readonly pages: CompliancePagesService,
    private readonly reports: ReportService,
    @Inject(REPORT_KEY_PROVIDER) private readonly keys: KeyProvider,
  ) {}

  @Get('patients')
  @RequireScope('events:read', 'reports:read')
  @AuditAccess('console.patient-access', { count: countRows })
  @Render('patients')
  async patients(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal) {
    return pageModel(req, 'Patient access history', await this.pages.patientHistory(params, p, (req.ip ?? req.socket?.remoteAddress)));
  }

  @Get('users')
  @RequireScope('events:read', 'reports:read')
  @AuditAccess('console.user-activity', { count: countRows })
  @Render('users')
  async users(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal) {
    return pageModel(req, 'User activity', await this.pages.userActivity(params, p, (req.ip ?? req.socket?.remoteAddress)));
  }

  @Get('reports')
  @RequireScope('reports:read')
  @Render('reports')
  reportsPage(@Req() req: ConsoleRequest, @Query('patient') patient?: string, @Query('actor') actor?: string) {
    return pageModel(req, 'Signed reports', { patient: patient ?? '', actor: actor ?? '' });
  }

  /** Streams a signed report (recorded in the access log by ReportService, as from the API). */
  @Get('reports/download')
  @RequireScope('reports:read')
  async download(@Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal, @Res() res: Response) {
    const kind = params.kind;
    if (kind !== 'patient-access' && kind !== 'user-activity') throw Problems.validation([{ pointer: '/query/kind', message: 'must be patient-access or user-activity' }]);
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params)) if (k !== 'kind' && v !== '') rest[k] = v;
    const query = this.reports.parse(kind as ReportKind, rest);
    try {
      await this.reports.generate(query, { sub: p.sub, role: p.role, via: p.via }, new DownloadReportSink(res));
    } catch (err) {
      if (!res.headersSent) throw err;
      this.logger.warn(`console report aborted kind=${kind} format=${query.format}`);
      res.destroy();
    }
  }

  /** Checks a report file the browser sends (raw bytes): signature and body hash, with this service's report keys. */
  @Post('reports/check')
  @RequireScope('reports:read')
  async check(@Req() req: ConsoleRequest) {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'report-check-'));
    const file = path.join(dir, 'report');
    try {
      let bytes = 0;
      await pipeline(
        req,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (bytes > MAX_CHECK_BYTES) throw Problems.tooLarge('The report file is too large to check here; use auditctl report verify.');
            yield chunk;
          }
        },
        fs.createWriteStream(file, { mode: 0o600 }),
      );
      const keys = new Map(this.keys.publicKeys().map((k) => [k.keyId, k.publicKeyPem]));
      const verdict = await verifyReportFile(file, keys);
      const b = verdict.block;
      return {
        ok: verdict.ok,
        reason: verdict.reason,
        summary: b ? `${b.query.kind} report (${b.query.format}), generated ${b.generatedAt}, signed with key ${b.keyId}, body SHA-256 ${b.reportSha256}` : null,
      };
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }

  @Get('holds')
  @RequireScope('retention:read')
  @AuditAccess('console.legal-holds', { resource: 'LegalHold', count: (r) => (r as { holds?: unknown[] }).holds?.length ?? 0 })
  @Render('holds')
  async holds(@Req() req: ConsoleRequest, @CurrentPrincipal() p: Principal, @Query('placed') placed?: string) {
    return pageModel(req, 'Legal holds', { ...(await this.pages.holdList(p, (req.ip ?? req.socket?.remoteAddress))), placed, canWrite: p.scopes.includes('retention:write') });
  }

  @Post('holds')
  @RequireScope('retention:write')
  async placeHold(@Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const hold = await this.pages.placeHold((body ?? {}) as Record<string, unknown>, p);
    res.redirect(303, `/console/holds?placed=${encodeURIComponent(hold.id)}`);
  }

  @Post('holds/:id/release')
  @RequireScope('retention:write')
  async releaseHold(@Res() res: Response, @Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    await this.pages.releaseHold(id, (body ?? {}) as Record<string, unknown>, p);
    res.redirect(303, '/console/holds');
  }

  @Get('integrity')
  @RequireScope('integrity:read')
  @AuditAccess('console.integrity', { resource: 'Chain', count: (r) => (r as { chains?: unknown[] }).chains?.length ?? 0 })
  @Render('integrity')
  async integrity(@Req() req: ConsoleRequest, @Query('verify') verify?: string) {
    return pageModel(req, 'Verification status', await this.pages.integrityStatus(verify === 'all'));
  }

  @Get('retention')
  @RequireScope('retention:read')
  @Render('retention')
  async retention(@Req() req: ConsoleRequest) {
    return pageModel(req, 'Retention runs', await this.pages.retentionRuns());
  }
}
