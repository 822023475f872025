/**
 * Retention policies and legal holds over HTTP (issue 6): `GET /v1/retention/policies`, and
 * `/v1/retention/holds` to place, list, read and release holds. Thin: LegalHoldService validates,
 * stores and audits changes; reads of holds (they name patients) go to the access log through
 * @AuditAccess; the policy was loaded and validated at start.
 */
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { EVENT_CATEGORIES, Problems } from '@app/core';
import { LegalHold, LegalHoldService, LoadedRetentionPolicy, RETENTION_POLICY, retentionPolicyDocument, retentionStages } from '@app/retention';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, Principal, RequireScope } from '@app/security';

@ApiTags('retention')
@ApiBearerAuth()
@Controller('v1/retention')
export class RetentionController {
  constructor(
    private readonly holds: LegalHoldService,
    @Inject(RETENTION_POLICY) private readonly loaded: LoadedRetentionPolicy,
  ) {}

  @Get('policies')
  @RequireScope('retention:read')
  @ApiOperation({ summary: 'The retention policy per event category: window, tiers and life cycle (ages from receive time).' })
  async policies() {
    const { policy, source } = this.loaded;
    const lifecycle = Object.fromEntries(EVENT_CATEGORIES.map((c) => [c, retentionStages(policy.categories[c])]));
    return {
      source,
      countedFrom: 'receivedAt',
      /** A complete RETENTION_CONFIG document: the same policy, reusable as a config file. */
      policy: { version: 1, categories: retentionPolicyDocument(policy).categories },
      lifecycle,
      legalHolds: { active: (await this.holds.list({ status: 'active' })).holds.length },
    };
  }

  @Post('holds')
  @HttpCode(201)
  @RequireScope('retention:write')
  @ApiOperation({ summary: 'Place a legal hold by patient, actor and/or event-time range (all given criteria must match).' })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['reason', 'caseId'],
      properties: {
        patient: { type: 'string' },
        actor: { type: 'string' },
        from: { type: 'string', description: 'RFC 3339 or YYYY-MM-DD, inclusive (event time)' },
        to: { type: 'string', description: 'RFC 3339 or YYYY-MM-DD, exclusive (event time)' },
        reason: { type: 'string' },
        caseId: { type: 'string' },
      },
    },
  })
  @ApiResponse({ status: 201, description: 'The hold, active, authored by the caller.' })
  async create(@Req() req: Request, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<LegalHold> {
    if (!req.is(['application/json', 'application/*+json'])) throw Problems.unsupportedMediaType('Send the hold as application/json.');
    return this.holds.create(body, { sub: p.sub, role: p.role, via: p.via });
  }

  @Get('holds')
  @RequireScope('retention:read')
  @AuditAccess('legal_hold.list', { resource: 'LegalHold', count: (r) => (r as { holds: unknown[] }).holds.length })
  @ApiOperation({ summary: 'Legal holds, newest first (active and released; filter with status).' })
  @ApiQuery({ name: 'status', required: false, enum: ['active', 'released'] })
  async list(@Query() params: Record<string, unknown>): Promise<{ holds: LegalHold[] }> {
    return this.holds.list(params);
  }

  @Get('holds/:id')
  @RequireScope('retention:read')
  @AuditAccess('legal_hold.view', { resource: 'LegalHold' })
  @ApiOperation({ summary: 'One legal hold.' })
  async get(@Param('id') id: string): Promise<LegalHold> {
    return this.holds.get(id);
  }

  @Post('holds/:id/release')
  @HttpCode(200)
  @RequireScope('retention:write')
  @ApiOperation({ summary: 'Release an active hold with a note (recorded; the hold itself is kept).' })
  @ApiBody({ schema: { type: 'object', required: ['note'], properties: { note: { type: 'string' } } } })
  @ApiResponse({ status: 409, description: 'The hold was already released.' })
  async release(@Req() req: Request, @Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<LegalHold> {
    if (!req.is(['application/json', 'application/*+json'])) throw Problems.unsupportedMediaType('Send the release as application/json.');
    return this.holds.release(id, body, { sub: p.sub, role: p.role, via: p.via });
  }
}
