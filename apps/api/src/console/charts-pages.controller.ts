/**
 * The console's alert-volume page: alerts over time by severity, for whoever reads alerts, as
 * server-rendered SVG with a table of the same numbers. Recorded in the access log like alert reads.
 */
import { Controller, Get, Query, Render, Req, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AuditAccess } from '@app/pipeline';
import { RequireScope, SessionRoute } from '@app/security';
import { ChartsPagesService } from './charts-pages.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { pageModel } from './console-page';
import type { ConsoleRequest } from './console-session.authenticator';

@ApiExcludeController()
@Controller('console')
@SessionRoute()
@UseFilters(ConsoleExceptionFilter)
export class ChartsPagesController {
  constructor(private readonly charts: ChartsPagesService) {}

  @Get('trends')
  @RequireScope('alerts:read')
  @AuditAccess('console.alerts.volume', { resource: 'Alert' })
  @Render('trends')
  async trends(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>) {
    return pageModel(req, 'Alert volume', await this.charts.alertVolume(params));
  }
}
