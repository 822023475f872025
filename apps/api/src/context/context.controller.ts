/**
 * Context feeds over HTTP (CONTRACT "Context feeds"): `POST /v1/context/{users|patients|encounters}`
 * with `{ "records": [...] }` (application/json) or NDJSON, `GET /v1/context/status`, and
 * `GET /v1/context/users/{id}?at=` (a user's directory entry as of a time, names as tokens). Thin:
 * reading the body is HTTP's business, everything else is ContextService's.
 */
import { Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ACCESS_CONTEXT, APP_CONFIG, AccessContext, AppConfig, DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_STRING_LENGTH, Problems, UserContext, contextSettingsOf, unknownMemberErrors } from '@app/core';
import { CONTEXT_KINDS, ContextReceipt, ContextService, PostedRecord, RFC3339, isContextKind } from '@app/context';
import { AuditAccess } from '@app/pipeline';
import { RequireScope } from '@app/security';
import { isJsonMediaType, parseContentType } from '../http/json-body-reader';
import { NDJSON_MEDIA_TYPE, parseNdjson, readRawBody } from '../http/ndjson-body';

@ApiTags('context')
@ApiBearerAuth()
@Controller('v1/context')
export class ContextController {
  constructor(
    private readonly context: ContextService,
    @Inject(ACCESS_CONTEXT) private readonly access: AccessContext,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('status')
  @RequireScope('context:read')
  @ApiOperation({ summary: 'Counts of context records per kind and when the newest of each was received (no PHI).' })
  status() {
    return this.context.status();
  }

  @Get('users/:id')
  @RequireScope('context:read')
  @AuditAccess('context.user', { resource: 'ContextUser' })
  @ApiOperation({ summary: "A user's directory entry as it was at `at` (default now); names and addresses as matching tokens. Recorded in the access log." })
  @ApiQuery({ name: 'at', required: false, description: 'RFC 3339' })
  user(@Param('id') id: string, @Query('at') at?: string): { user: UserContext; at: string } {
    const atMs = at === undefined ? Date.now() : RFC3339.test(at) ? Date.parse(at) : NaN;
    if (!Number.isFinite(atMs)) throw Problems.validation([{ pointer: '/query/at', message: 'must be an RFC 3339 date-time with a time zone' }]);
    const user = this.access.userAt(id, atMs);
    if (!user) throw Problems.notFound('No context record for this user.');
    return { user, at: new Date(atMs).toISOString() };
  }

  @Post(':kind')
  @HttpCode(202)
  @RequireScope('context:write')
  @ApiOperation({ summary: 'Upsert context records by id: { "records": [...] } or NDJSON (one record a line). Answers once durable; invalid records are listed, valid ones stored together.' })
  @ApiConsumes('application/json', NDJSON_MEDIA_TYPE)
  @ApiBody({ schema: { type: 'object', properties: { records: { type: 'array', items: { type: 'object' } } }, required: ['records'] } })
  @ApiResponse({ status: 202, description: '{ accepted, rejected: [{ index, pointer, message }] } (index: position in records, or 0-based line of NDJSON).' })
  @ApiResponse({ status: 413, description: 'Body larger than CONTEXT_MAX_BODY_BYTES or more than CONTEXT_MAX_RECORDS records; nothing stored.' })
  async post(@Param('kind') kind: string, @Req() req: Request): Promise<ContextReceipt> {
    if (!isContextKind(kind)) throw Problems.notFound(`No such context feed; feeds: ${CONTEXT_KINDS.join(', ')}.`);
    return this.context.ingest(kind, await this.records(req));
  }

  private async records(req: Request): Promise<PostedRecord[]> {
    const settings = contextSettingsOf(this.config);
    const type = parseContentType(req.headers['content-type']);
    if (type?.mediaType === NDJSON_MEDIA_TYPE) {
      if (type.charset !== undefined && type.charset !== 'utf-8' && type.charset !== 'utf8') throw Problems.unsupportedMediaType('Send NDJSON as UTF-8.');
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') throw Problems.unsupportedMediaType('Content-Encoding is not supported; send the body uncompressed.');
      const body = await readRawBody(req, settings.maxBodyBytes);
      const limits = { maxDepth: this.config.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH, maxStringLength: this.config.maxJsonStringLength ?? DEFAULT_MAX_JSON_STRING_LENGTH };
      return parseNdjson(body, limits, settings.maxRecords);
    }
    if (!type || !isJsonMediaType(type.mediaType)) throw Problems.unsupportedMediaType(`Send context records as application/json ({ "records": [...] }) or ${NDJSON_MEDIA_TYPE}.`);
    const body = req.body as unknown;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw Problems.validation([{ pointer: '', message: 'must be an object { "records": [...] }' }], 'Nothing was stored.');
    const unknown = unknownMemberErrors(Object.keys(body), ['records'], '');
    if (unknown.length > 0) throw Problems.validation(unknown, 'Nothing was stored.');
    const records = (body as { records?: unknown }).records;
    if (!Array.isArray(records)) throw Problems.validation([{ pointer: '/records', message: 'is required: an array of records' }], 'Nothing was stored.');
    if (records.length > settings.maxRecords) throw Problems.tooLarge(`More than ${settings.maxRecords} records in one request (CONTEXT_MAX_RECORDS); nothing was stored. Split the batch.`);
    return records.map((value, index) => ({ index, value }));
  }
}
