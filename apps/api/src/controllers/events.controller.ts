/** Ingest and query of access events (CONTRACT "HTTP API": /v1/events). Thin: the services do the work. */
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ACCESS_EVENT_SCHEMA, Problems, Receipt } from '@app/core';
import { EventListView, EventView, IngestService, QueryService } from '@app/pipeline';
import { RequireScope } from '@app/security';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('events')
@ApiBearerAuth()
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly ingest: IngestService,
    private readonly query: QueryService,
  ) {}

  @Post()
  @HttpCode(202)
  @RequireScope('events:write')
  @ApiOperation({ summary: 'Post one access event or a batch { events: [...] }; answers once durable.' })
  @ApiBody({ schema: { oneOf: [ACCESS_EVENT_SCHEMA as object, { type: 'object', properties: { events: { type: 'array', items: ACCESS_EVENT_SCHEMA as object } } }] } })
  @ApiResponse({ status: 202, description: 'Durable; receipts in request order.' })
  async post(@Req() req: Request, @Body() body: unknown): Promise<{ receipts: Receipt[] }> {
    if (!req.is(['application/json', 'application/*+json'])) {
      throw Problems.unsupportedMediaType('Send events as application/json.');
    }
    return { receipts: await this.ingest.ingestBody(body) };
  }

  @Get()
  @RequireScope('events:read')
  @ApiOperation({ summary: 'Search events, newest first, with cursor pagination.' })
  @ApiQuery({ name: 'patient', required: false })
  @ApiQuery({ name: 'actor', required: false })
  @ApiQuery({ name: 'action', required: false })
  @ApiQuery({ name: 'outcome', required: false })
  @ApiQuery({ name: 'category', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'RFC 3339, inclusive (event time)' })
  @ApiQuery({ name: 'to', required: false, description: 'RFC 3339, exclusive (event time)' })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  async list(@Query() params: Record<string, unknown>): Promise<EventListView> {
    return this.query.list(params);
  }

  @Get(':id')
  @RequireScope('events:read')
  @ApiOperation({ summary: 'One event with its receipt.' })
  async get(@Param('id') id: string): Promise<EventView> {
    if (!UUID.test(id)) throw Problems.validation([{ pointer: '/path/id', message: 'must be a UUID' }]);
    return this.query.get(id);
  }
}
