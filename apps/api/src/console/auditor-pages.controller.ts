/**
 * The auditor's console pages: the in-browser verifier (the page only serves the form and the
 * bundled verifier; the files never reach the service), the signed checkpoints with their public
 * keys, and one event's inclusion proof with "check in this browser". Thin: AuditorPagesService
 * builds the data; every view is recorded in the access log like the API reads.
 */
import { Controller, Get, Query, Render, Req, Res, UseFilters } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { AuditAccess } from '@app/pipeline';
import { RequireScope, SessionRoute } from '@app/security';
import { AuditorPagesService } from './auditor-pages.service';
import { ConsoleExceptionFilter } from './console-exception.filter';
import { pageModel } from './console-page';
import type { ConsoleRequest } from './console-session.authenticator';

/** The bundled verifier module (console/static/verifier.js, made by `npm run build`). */
const VERIFIER_SCRIPT = '/console/static/verifier.js';

@ApiExcludeController()
@Controller('console')
@SessionRoute()
@UseFilters(ConsoleExceptionFilter)
export class AuditorPagesController {
  constructor(private readonly pages: AuditorPagesService) {}

  @Get('verify')
  @RequireScope('proofs:read')
  @Render('verify')
  verify(@Req() req: ConsoleRequest) {
    return pageModel(req, 'Verify an export or a proof', { moduleScript: VERIFIER_SCRIPT });
  }

  @Get('checkpoints')
  @RequireScope('checkpoints:read')
  @AuditAccess('console.checkpoints.query', { resource: 'Checkpoint', count: (r) => ((r as { checkpoints?: unknown[] }).checkpoints ?? []).length })
  @Render('checkpoints')
  async checkpoints(@Req() req: ConsoleRequest, @Query() params: Record<string, unknown>) {
    return pageModel(req, 'Signed checkpoints', await this.pages.checkpointList(params));
  }

  @Get('checkpoints/public-keys.json')
  @RequireScope('checkpoints:read')
  @AuditAccess('console.checkpoints.keys', { resource: 'PublicKey' })
  async publicKeys(@Res() res: Response) {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-disposition', 'attachment; filename="public-keys.json"');
    res.send(await this.pages.publicKeysJson());
  }

  @Get('proof')
  @RequireScope('proofs:read', 'checkpoints:read')
  @AuditAccess('console.events.proof', { resource: 'Proof', count: (r) => ((r as { proof?: unknown }).proof ? 1 : 0) })
  @Render('proof')
  async proof(@Req() req: ConsoleRequest, @Query('event') event: unknown) {
    return pageModel(req, 'Inclusion proof', { ...(await this.pages.proof(event)), moduleScript: VERIFIER_SCRIPT });
  }
}
