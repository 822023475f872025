/**
 * Console pages that are charts: alert volume over time by severity (for whoever reads alerts) and a
 * patient's access timeline (compliance). Server-rendered SVG with a table of the same numbers;
 * the timeline's reads are recorded in the access log like the API's event queries.
 */
import { Controller, Get, Query, Render, Req, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, Principal, RequireScope, SessionRoute } from '@app/security';
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
  trends(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>) {
    return pageModel(req, 'Alert volume', this.charts.alertVolume(params));
  }

  @Get('access-timeline')
  @RequireScope('events:read', 'reports:read')
  @AuditAccess('console.events.timeline', { resource: 'AccessEvent', count: (r) => (r as { recordsShown?: number }).recordsShown ?? 0 })
  @Render('access-timeline')
  async timeline(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal) {
    return pageModel(req, 'Patient access timeline', await this.charts.patientTimeline(params, p));
  }
}
