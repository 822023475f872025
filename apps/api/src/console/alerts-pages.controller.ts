/**
 * The SOC analyst's console pages: the alert queue and one alert, and the case actions on them.
 * Thin: AnalystPagesService builds the pages and does case work through the API's services; scopes are declared like the API's (alerts:read,
 * alerts:write) and every page view is recorded in the access log (@AuditAccess).
 */
import { Body, Controller, Get, Param, Post, Query, Render, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, Principal, RequireScope, SessionRoute } from '@app/security';
import { AnalystPagesService } from './analyst-pages.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { pageModel } from './console-page';
import type { ConsoleRequest } from './console-session.authenticator';

@ApiExcludeController()
@Controller('console/alerts')
@SessionRoute()
@UseFilters(ConsoleExceptionFilter)
export class AlertsPagesController {
  constructor(private readonly pages: AnalystPagesService) {}

  @Get()
  @RequireScope('alerts:read')
  @AuditAccess('console.alerts.query', { resource: 'Alert', count: (r) => ((r as { alerts?: unknown[] }).alerts ?? []).length })
  @Render('alerts')
  async queue(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal) {
    const data = await this.pages.queue(params, p);
    return pageModel(req, 'Alert queue', { ...data, done: params.done, refreshSeconds: 30 });
  }

  @Get(':id')
  @RequireScope('alerts:read')
  @AuditAccess('console.alerts.view', { resource: 'Alert', count: (r) => (r as { recordsShown?: number }).recordsShown ?? 1 })
  @Render('alert')
  async detail(@Req() req: ConsoleRequest, @Param('id') id: string, @CurrentPrincipal() p: Principal) {
    const data = await this.pages.detail(id, p, (req.ip ?? req.socket?.remoteAddress));
    return pageModel(req, data.alert.title, data);
  }

  @Post('bulk')
  @RequireScope('alerts:write')
  async bulk(@Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const result = await this.pages.bulk((body ?? {}) as Record<string, unknown>, p);
    res.redirect(303, `/console/alerts?done=${result.done}${result.failed ? `&failed=${result.failed}` : ''}`);
  }

  /** acknowledge, resolve, reopen, assign, comment: the same calls as `POST /v1/alerts/{id}/<action>`. */
  @Post(':id/:action')
  @RequireScope('alerts:write')
  async act(@Res() res: Response, @Param('id') id: string, @Param('action') action: string, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    await this.pages.act(id, action, (body ?? {}) as Record<string, unknown>, p);
    res.redirect(303, `/console/alerts/${encodeURIComponent(id)}`);
  }
}
