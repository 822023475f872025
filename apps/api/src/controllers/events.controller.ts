/**
 * Ingest and query of access events (CONTRACT "HTTP API": /v1/events). Thin: the services do the
 * work (IngestAdmission: rate limit and source ownership; IngestService: validation and storage).
 */
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ACCESS_EVENT_SCHEMA, Problems, QUERY_TIME_FORMS, Receipt } from '@app/core';
import { AuditAccess, EventListView, EventView, IngestService, QueryService } from '@app/pipeline';
import type { IngestReceipt } from '@app/storage';
import { CurrentPrincipal, IngestAdmission, Principal, RequireScope } from '@app/security';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('events')
@ApiBearerAuth()
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly ingest: IngestService,
    private readonly query: QueryService,
    private readonly admission: IngestAdmission,
  ) {}

  @Post()
  @HttpCode(202)
  @RequireScope('events:write')
  @ApiOperation({ summary: 'Post one access event or a batch { events: [...] }; answers once durable.' })
  @ApiBody({ schema: { oneOf: [ACCESS_EVENT_SCHEMA as object, { type: 'object', properties: { events: { type: 'array', items: ACCESS_EVENT_SCHEMA as object } } }] } })
  @ApiResponse({ status: 202, description: 'Durable; receipts in request order ({ id, chain, seq, hash }, or { id, status: "queued" } with BUS=kafka).' })
  @ApiResponse({ status: 403, description: 'Role lacks events:write, or an event names a source the caller does not speak for.' })
  @ApiResponse({ status: 429, description: 'Over the integration\'s event rate; see Retry-After.' })
  async post(@Req() req: Request, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<{ receipts: IngestReceipt[] }> {
    if (!req.is(['application/json', 'application/*+json'])) {
      throw Problems.unsupportedMediaType('Send events as application/json.');
    }
    // Before validation and canonicalization: a filled-in source.integration is covered by the hash.
    this.admission.admitBody(principal, body);
    return { receipts: await this.ingest.ingestBody(body) };
  }

  @Get()
  @RequireScope('events:read')
  @AuditAccess('events.query')
  @ApiOperation({ summary: 'Search events, newest first, with cursor pagination. Patient ids are tokens (ptk_…) without events:identified; a token works as the patient filter. Recorded in the access log.' })
  @ApiQuery({ name: 'patient', required: false })
  @ApiQuery({ name: 'actor', required: false })
  @ApiQuery({ name: 'action', required: false, description: 'any case (READ finds read)' })
  @ApiQuery({ name: 'outcome', required: false, description: 'success | failure | denied, any case' })
  @ApiQuery({ name: 'category', required: false, description: 'event category, any case' })
  @ApiQuery({ name: 'ip', required: false, description: 'the caller IP (actor.ip), IPv4 or IPv6. Checked on decoded records (IPs are sealed at rest): a page examines at most 20,000 records and may come back short with a nextCursor; narrow with from/to or actor. Recorded in the access log as "[ip]", not the address.' })
  @ApiQuery({ name: 'integration', required: false, description: 'source.integration (exact); the store narrows by it where it can (SQLite: a text prefilter; Elasticsearch: the indexed field), then it is checked like ip' })
  @ApiQuery({ name: 'from', required: false, description: `${QUERY_TIME_FORMS}; inclusive (event time)` })
  @ApiQuery({ name: 'to', required: false, description: `${QUERY_TIME_FORMS}; exclusive (event time)` })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  async list(@Query() params: Record<string, unknown>, @CurrentPrincipal() principal: Principal): Promise<EventListView> {
    return this.query.list(params, principal);
  }

  @Get(':id')
  @RequireScope('events:read')
  @AuditAccess('events.read')
  @ApiOperation({ summary: 'One event with its receipt (patient id as a token without events:identified). Recorded in the access log.' })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<EventView> {
    if (!UUID.test(id)) throw Problems.validation([{ pointer: '/path/id', message: 'must be a UUID' }]);
    return this.query.get(id, principal);
  }
}
