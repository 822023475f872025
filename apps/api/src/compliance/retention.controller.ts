/**
 * Retention policies, runs and legal holds over HTTP (issue 6): `GET /v1/retention/policies`,
 * `/v1/retention/runs` to start a run (admin) and read what each run moved or deleted, and
 * `/v1/retention/holds` to place, list, read and release holds. Thin: RetentionRunService and LegalHoldService validate,
 * stores and audits changes; reads of holds (they name patients) go to the access log through
 * @AuditAccess; the policy was loaded and validated at start.
 */
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { EVENT_CATEGORIES, Problems } from '@app/core';
import {
  LegalHold,
  LegalHoldService,
  LoadedRetentionPolicy,
  RETENTION_POLICY,
  RETENTION_RUN_SERVICE,
  RetentionRunReport,
  RetentionRunService,
  retentionPolicyDocument,
  retentionStages,
} from '@app/retention';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, Principal, RequireScope } from '@app/security';

@ApiTags('retention')
@ApiBearerAuth()
@Controller('v1/retention')
export class RetentionController {
  constructor(
    private readonly holds: LegalHoldService,
    @Inject(RETENTION_POLICY) private readonly loaded: LoadedRetentionPolicy,
    @Inject(RETENTION_RUN_SERVICE) private readonly runs: RetentionRunService,
  ) {}

  @Post('runs')
  @HttpCode(200)
  @RequireScope('retention:run')
  @ApiOperation({
    summary:
      'Run retention now: delete past-window prefixes no hold covers, move records to cold archives and to warm. `dryRun` plans only. `now` (time travel) is refused unless RETENTION_ALLOW_TIME_TRAVEL=true.',
  })
  @ApiBody({ required: false, schema: { type: 'object', properties: { dryRun: { type: 'boolean' }, now: { type: 'string', description: 'RFC 3339; only with RETENTION_ALLOW_TIME_TRAVEL=true' } } } })
  @ApiResponse({ status: 200, description: 'The run record: counts, seq and receive-time ranges, checkpoints and archives per chain (never PHI).' })
  @ApiResponse({ status: 409, description: 'Another run is in progress.' })
  async startRun(@Req() req: Request, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<RetentionRunReport> {
    if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' && !req.is(['application/json', 'application/*+json'])) {
      throw Problems.unsupportedMediaType('Send the run request as application/json.');
    }
    return this.runs.start(body, { sub: p.sub, role: p.role });
  }

  @Get('runs')
  @RequireScope('retention:read')
  @ApiOperation({ summary: 'Recorded retention runs, newest first (status, trigger, counts).' })
  @ApiQuery({ name: 'limit', required: false })
  listRuns(@Query() params: Record<string, unknown>) {
    return this.runs.list(params);
  }

  @Get('runs/:id')
  @RequireScope('retention:read')
  @ApiOperation({ summary: 'One retention run: what it deleted, archived and moved to warm per chain (ranges, counts, checkpoints, archive ids).' })
  getRun(@Param('id') id: string) {
    return this.runs.get(id);
  }

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
    return this.holds.create(body, { sub: p.sub, role: p.role, via: p.via }, viewerOf(p));
  }

  @Get('holds')
  @RequireScope('retention:read')
  @AuditAccess('legal_hold.list', { resource: 'LegalHold', count: (r) => (r as { holds: unknown[] }).holds.length })
  @ApiOperation({ summary: 'Legal holds, newest first (active and released; filter with status).' })
  @ApiQuery({ name: 'status', required: false, enum: ['active', 'released'] })
  async list(@Query() params: Record<string, unknown>, @CurrentPrincipal() p: Principal): Promise<{ holds: LegalHold[] }> {
    return this.holds.list(params, viewerOf(p));
  }

  @Get('holds/:id')
  @RequireScope('retention:read')
  @AuditAccess('legal_hold.view', { resource: 'LegalHold' })
  @ApiOperation({ summary: 'One legal hold.' })
  async get(@Param('id') id: string, @CurrentPrincipal() p: Principal): Promise<LegalHold> {
    return this.holds.get(id, viewerOf(p));
  }

  @Post('holds/:id/release')
  @HttpCode(200)
  @RequireScope('retention:write')
  @ApiOperation({ summary: 'Release an active hold with a note (recorded; the hold itself is kept).' })
  @ApiBody({ schema: { type: 'object', required: ['note'], properties: { note: { type: 'string' } } } })
  @ApiResponse({ status: 409, description: 'The hold was already released.' })
  async release(@Req() req: Request, @Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<LegalHold> {
    if (!req.is(['application/json', 'application/*+json'])) throw Problems.unsupportedMediaType('Send the release as application/json.');
    return this.holds.release(id, body, { sub: p.sub, role: p.role, via: p.via }, viewerOf(p));
  }
}

/** Patient ids in holds: shown to callers allowed to see them in events (events:identified), tokens to others. */
function viewerOf(p: Principal): { identified: boolean } {
  return { identified: p.scopes.includes('events:identified') };
}
