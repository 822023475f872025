/**
 * The SOC analyst's alert queue over HTTP (CONTRACT: /v1/alerts). Thin: AlertsService checks the
 * parameters and bodies, renders the runbook and maps lifecycle errors to problem+json.
 */
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AlertDetailView, AlertListView, AlertsService } from '@app/detection/service';
import { AlertRecord, ALERT_STATUSES, SEVERITIES } from '@app/detection';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, PatientIdentifiers, Principal, RequireScope } from '@app/security';

const NOTE_BODY = {
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { note: { type: 'string', maxLength: 4000, description: 'Why (required to resolve). Do not paste PHI beyond what the alert already shows.' } },
  },
};

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('v1/alerts')
export class AlertsController {
  constructor(
    private readonly alerts: AlertsService,
    private readonly patients: PatientIdentifiers,
  ) {}

  @Get()
  @RequireScope('alerts:read')
  @AuditAccess('alerts.query', { resource: 'Alert' })
  @ApiOperation({ summary: 'List alerts, newest first (by the event time that completed them), with cursor pagination.' })
  @ApiQuery({ name: 'status', required: false, enum: ALERT_STATUSES })
  @ApiQuery({ name: 'rule', required: false, description: 'rule id' })
  @ApiQuery({ name: 'severity', required: false, enum: SEVERITIES })
  @ApiQuery({ name: 'from', required: false, description: 'RFC 3339, inclusive (windowEnd, event time)' })
  @ApiQuery({ name: 'to', required: false, description: 'RFC 3339, exclusive (windowEnd, event time)' })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({ status: 200, description: '{ alerts: [...], nextCursor }' })
  async list(@Query() params: Record<string, unknown>, @CurrentPrincipal() principal: Principal): Promise<AlertListView> {
    return this.alerts.list(params, (id) => this.patients.presentPatientId(principal, id));
  }

  @Get(':id')
  @RequireScope('alerts:read')
  @AuditAccess('alerts.view', { resource: 'Alert' })
  @ApiOperation({ summary: 'One alert: rule, group, window, counts, evidence event ids and summary, lifecycle history, and its runbook rendered as Markdown (runbook: { name, markdown }).' })
  @ApiParam({ name: 'id', description: 'alert id (UUID)' })
  @ApiResponse({ status: 404, description: 'No alert with this id.' })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<AlertDetailView> {
    return this.alerts.get(id, (patientId) => this.patients.presentPatientId(principal, patientId));
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: 'Acknowledge an open alert (who: the caller; optional note).' })
  @ApiBody(NOTE_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  @ApiResponse({ status: 409, description: 'The alert is not open (already acknowledged or resolved).' })
  async acknowledge(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.alerts.transition(id, 'acknowledge', principal.sub, body, (patientId) => this.patients.presentPatientId(principal, patientId));
  }

  @Post(':id/resolve')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: 'Resolve an open or acknowledged alert (who: the caller; a note saying why is required). Resolved is final.' })
  @ApiBody(NOTE_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  @ApiResponse({ status: 400, description: 'The note is missing or too long.' })
  @ApiResponse({ status: 409, description: 'The alert is already resolved.' })
  async resolve(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.alerts.transition(id, 'resolve', principal.sub, body, (patientId) => this.patients.presentPatientId(principal, patientId));
  }
}
