/**
 * The access log over HTTP: `GET /v1/access-log` (scope access-log:read: auditor, admin) lists who
 * read the audit data, with what filters, how many records they got, and when (refused requests and
 * command-line reads included: `?outcome=denied`, `via: cli`); and
 * `POST /v1/reidentify` (scope events:reidentify) turns a patient token back into the id, for a
 * stated reason, recorded in the access log. Thin: AccessAuditService and ReidentificationService
 * do the work. Reading the access log is itself recorded.
 */
import { Body, Controller, Get, HttpCode, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AccessAuditService, AccessLogListView, AuditAccess, ReidentificationService, ReidentifyResult } from '@app/pipeline';
import { CurrentPrincipal, Principal, RequireScope } from '@app/security';

@ApiTags('access-log')
@ApiBearerAuth()
@Controller('v1')
export class AccessLogController {
  constructor(
    private readonly accessLog: AccessAuditService,
    private readonly reidentification: ReidentificationService,
  ) {}

  @Get('access-log')
  @RequireScope('access-log:read')
  @AuditAccess('access-log.query', { resource: 'AccessLog' })
  @ApiOperation({ summary: 'Reads of the audit data (queries, views, proofs, reports, alert views, re-identifications), newest first.' })
  @ApiQuery({ name: 'actor', required: false, description: 'who read (principal sub)' })
  @ApiQuery({ name: 'action', required: false, description: 'e.g. events.query, events.read, patient.reidentify, access.denied, integrity.verify (CLI)' })
  @ApiQuery({ name: 'outcome', required: false, description: 'success, failure, or denied (refused requests: 401/403)' })
  @ApiQuery({ name: 'patient', required: false, description: 'patient id or token the read was about' })
  @ApiQuery({ name: 'from', required: false, description: 'RFC 3339, inclusive' })
  @ApiQuery({ name: 'to', required: false, description: 'RFC 3339, exclusive' })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({
    status: 200,
    description: '{ entries: [{ id, at, action, outcome, principal: { sub, role?, via? }, ip?, route, filters, patient?, recordCount, reason?, denial?: { kind, status, scope?, clientSubject?, count, since?, until? }, receipt }], nextCursor }',
  })
  async list(@Query() params: Record<string, unknown>, @CurrentPrincipal() principal: Principal): Promise<AccessLogListView> {
    return this.accessLog.list(params, principal);
  }

  @Post('reidentify')
  @HttpCode(200)
  @RequireScope('events:reidentify')
  @ApiOperation({ summary: 'Re-identify a patient token for a stated reason; recorded in the access log before the answer.' })
  @ApiBody({
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['token', 'reason'],
      properties: { token: { type: 'string', pattern: '^ptk_[a-z2-7]{24}$' }, reason: { type: 'string', minLength: 10, maxLength: 256 } },
    },
  })
  @ApiResponse({ status: 200, description: '{ token, patientId }' })
  @ApiResponse({ status: 404, description: 'No stored event carries this token.' })
  async reidentify(@Body() body: unknown, @CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<ReidentifyResult> {
    return this.reidentification.reidentify(principal, body, req.ip ?? req.socket.remoteAddress);
  }
}
