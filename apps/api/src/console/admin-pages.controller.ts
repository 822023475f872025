/**
 * The admin's console pages: people and roles, integrations (client certificates and tokens),
 * rules (switch off and on, exceptions, audit trail) and the context feeds and alert destinations
 * (with a test message per destination).
 * Thin: AdminPagesService and RuleOverridesService do the work; every change is recorded in the access
 * log before the page answers. A one-time password or a token is rendered once in the answer to the
 * form that made it (no-store), never kept in clear.
 */
import { Body, Controller, Get, Param, Post, Render, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { RuleOverridesService } from '@app/detection/service';
import { CurrentPrincipal, Principal, RequireScope, SessionRoute } from '@app/security';
import { AdminPagesService, formFields } from './admin-pages.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { pageModel } from './console-page';
import type { ConsoleRequest } from './console-session.authenticator';

@ApiExcludeController()
@Controller('console/admin')
@SessionRoute()
@UseFilters(ConsoleExceptionFilter)
export class AdminPagesController {
  constructor(
    private readonly pages: AdminPagesService,
    private readonly rules: RuleOverridesService,
  ) {}

  @Get('people')
  @RequireScope('users:manage')
  @Render('admin-people')
  async people(@Req() req: ConsoleRequest) {
    return pageModel(req, 'People and roles', await this.pages.people());
  }

  @Post('people')
  @RequireScope('users:manage')
  async addPerson(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const added = await this.pages.addPerson(body);
    await this.pages.recordChange(p, 'console.admin.account.add', 'POST /console/admin/people', { account: added.name, role: added.role }, 'ConsoleAccount', req.socket?.remoteAddress);
    res.setHeader('cache-control', 'no-store');
    res.render('admin-people', pageModel(req, 'People and roles', { ...(await this.pages.people()), added }));
  }

  @Get('integrations')
  @RequireScope('integrations:manage')
  @Render('admin-integrations')
  async integrations(@Req() req: ConsoleRequest) {
    return pageModel(req, 'Integrations', await this.pages.integrationList());
  }

  @Post('integrations/token')
  @RequireScope('integrations:manage')
  async issueToken(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const issued = await this.pages.issueToken(body);
    await this.pages.recordChange(p, 'console.admin.token.issue', 'POST /console/admin/integrations/token', { integration: issued.integration, tokenId: issued.tokenId, expiresAt: issued.expiresAt }, 'Token', req.socket?.remoteAddress);
    res.setHeader('cache-control', 'no-store');
    res.render('admin-integrations', pageModel(req, 'Integrations', { ...(await this.pages.integrationList()), issued }));
  }

  @Post('integrations/certificate')
  @RequireScope('integrations:manage')
  async issueCertificate(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const certificate = await this.pages.issueCertificate(body);
    await this.pages.recordChange(p, 'console.admin.certificate.issue', 'POST /console/admin/integrations/certificate', { integration: certificate.integration, fingerprint: certificate.fingerprint }, 'ClientCertificate', req.socket?.remoteAddress);
    res.render('admin-integrations', pageModel(req, 'Integrations', { ...(await this.pages.integrationList()), certificate }));
  }

  @Post('integrations/revoke')
  @RequireScope('integrations:manage')
  async revoke(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const revoked = await this.pages.revoke(body);
    await this.pages.recordChange(p, `console.admin.revoke.${revoked.what}`, 'POST /console/admin/integrations/revoke', { what: revoked.what, ...(revoked.integration ? { integration: revoked.integration } : {}), count: String(revoked.count) }, 'Credential', req.socket?.remoteAddress);
    res.render('admin-integrations', pageModel(req, 'Integrations', { ...(await this.pages.integrationList()), revoked }));
  }

  @Get('rules')
  @RequireScope('rules:manage')
  @Render('admin-rules')
  rulesPage(@Req() req: ConsoleRequest) {
    return pageModel(req, 'Rules', this.pages.rulesPage());
  }

  @Post('rules/:id/disable')
  @RequireScope('rules:manage')
  async disable(@Req() req: ConsoleRequest, @Res() res: Response, @Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    await this.rules.setEnabled(id, false, p.sub, formFields(body));
    await this.pages.recordChange(p, 'console.admin.rule.disable', 'POST /console/admin/rules/:id/disable', { rule: id }, 'DetectionRule', req.socket?.remoteAddress);
    res.redirect(303, `/console/admin/rules#rule-${encodeURIComponent(id)}`);
  }

  @Post('rules/:id/enable')
  @RequireScope('rules:manage')
  async enable(@Req() req: ConsoleRequest, @Res() res: Response, @Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    await this.rules.setEnabled(id, true, p.sub, formFields(body));
    await this.pages.recordChange(p, 'console.admin.rule.enable', 'POST /console/admin/rules/:id/enable', { rule: id }, 'DetectionRule', req.socket?.remoteAddress);
    res.redirect(303, `/console/admin/rules#rule-${encodeURIComponent(id)}`);
  }

  @Post('rules/:id/exceptions')
  @RequireScope('rules:manage')
  async addException(@Req() req: ConsoleRequest, @Res() res: Response, @Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const added = await this.rules.addException(id, p.sub, formFields(body));
    await this.pages.recordChange(p, 'console.admin.rule.exception.add', 'POST /console/admin/rules/:id/exceptions', { rule: id, exception: added.id, field: added.field }, 'DetectionRule', req.socket?.remoteAddress);
    res.redirect(303, `/console/admin/rules#rule-${encodeURIComponent(id)}`);
  }

  @Post('rules/:id/exceptions/:exceptionId/remove')
  @RequireScope('rules:manage')
  async removeException(@Req() req: ConsoleRequest, @Res() res: Response, @Param('id') id: string, @Param('exceptionId') exceptionId: string, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    await this.rules.removeException(id, exceptionId, p.sub, formFields(body));
    await this.pages.recordChange(p, 'console.admin.rule.exception.remove', 'POST /console/admin/rules/:id/exceptions/:exceptionId/remove', { rule: id, exception: exceptionId }, 'DetectionRule', req.socket?.remoteAddress);
    res.redirect(303, `/console/admin/rules#rule-${encodeURIComponent(id)}`);
  }

  @Get('feeds')
  @RequireScope('context:read')
  @Render('admin-feeds')
  feeds(@Req() req: ConsoleRequest) {
    return pageModel(req, 'Context feeds and alert destinations', { ...this.pages.feeds(), canTest: req.principal?.scopes.includes('integrations:manage') ?? false });
  }

  @Post('feeds/test-delivery')
  @RequireScope('integrations:manage')
  async testDelivery(@Req() req: ConsoleRequest, @Res() res: Response, @Body() body: unknown, @CurrentPrincipal() p: Principal) {
    const tested = await this.pages.testDelivery(body);
    await this.pages.recordChange(
      p,
      'console.admin.delivery.test',
      'POST /console/admin/feeds/test-delivery',
      { destination: tested.destination, deliveryId: tested.deliveryId, outcome: tested.delivered ? 'delivered' : 'failed', ...(tested.error ? { error: tested.error } : {}) },
      'AlertDestination',
      req.socket?.remoteAddress,
    );
    res.setHeader('cache-control', 'no-store');
    res.render('admin-feeds', pageModel(req, 'Context feeds and alert destinations', { ...this.pages.feeds(), canTest: true, tested }));
  }
}
