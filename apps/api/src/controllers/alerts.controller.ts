/**
 * The alert queue and case work over HTTP (CONTRACT: /v1/alerts; docs/case-work.md). Thin:
 * AlertsService checks parameters and bodies, applies the lifecycle and maps its errors to
 * problem+json; AlertEvidenceService reads the evidence events as GET /v1/events/{id} shows them.
 */
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { QUERY_TIME_FORMS } from '@app/core';
import { AlertDetailView, AlertEventsView, AlertEvidenceService, AlertHistoryView, AlertListView, AlertsService, BulkItemResult, MAX_BULK_ALERTS } from '@app/detection/service';
import { ALERT_ACTIONS, AlertAction, AlertRecord, ALERT_STATUSES, DISPOSITIONS, MAX_NOTE_LENGTH, SEVERITIES } from '@app/detection';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, PatientIdentifiers, Principal, RequireScope } from '@app/security';

const NOTE = { type: 'string', maxLength: MAX_NOTE_LENGTH, description: 'Why. Do not paste PHI beyond what the alert already shows.' };
const NOTE_BODY = { schema: { type: 'object', additionalProperties: false, properties: { note: NOTE } } };
const REQUIRED_NOTE_BODY = { schema: { type: 'object', additionalProperties: false, required: ['note'], properties: { note: NOTE } } };
const RESOLVE_BODY = {
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { note: { ...NOTE, description: 'Why it is closed (required).' }, disposition: { type: 'string', enum: [...DISPOSITIONS], description: 'The conclusion (optional; any case).' } },
  },
};
const ASSIGN_BODY = {
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['assignee'],
    properties: { assignee: { type: 'string', nullable: true, maxLength: 256, description: "The person's id (token subject); null unassigns." }, note: NOTE },
  },
};
const BULK_BODY = {
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['ids', 'action'],
    properties: {
      ids: { type: 'array', minItems: 1, maxItems: MAX_BULK_ALERTS, items: { type: 'string', format: 'uuid' } },
      action: { type: 'string', enum: [...ALERT_ACTIONS] },
      note: NOTE,
      assignee: { type: 'string', nullable: true },
      disposition: { type: 'string', enum: [...DISPOSITIONS] },
    },
  },
};

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('v1/alerts')
export class AlertsController {
  constructor(
    private readonly alerts: AlertsService,
    private readonly evidence: AlertEvidenceService,
    private readonly patients: PatientIdentifiers,
  ) {}

  @Get()
  @RequireScope('alerts:read')
  @AuditAccess('alerts.query', { resource: 'Alert' })
  @ApiOperation({ summary: 'List alerts, newest first (by the event time that completed them), with cursor pagination. Enum values in any case.' })
  @ApiQuery({ name: 'status', required: false, enum: ALERT_STATUSES })
  @ApiQuery({ name: 'rule', required: false, description: 'rule id' })
  @ApiQuery({ name: 'severity', required: false, enum: SEVERITIES })
  @ApiQuery({ name: 'actor', required: false, description: 'the user the alert is about (actor id)' })
  @ApiQuery({ name: 'patient', required: false, description: 'a patient the alert names: its token (ptk_…), or its id for roles with events:identified' })
  @ApiQuery({ name: 'from', required: false, description: `${QUERY_TIME_FORMS}; inclusive (windowEnd, event time)` })
  @ApiQuery({ name: 'to', required: false, description: `${QUERY_TIME_FORMS}; exclusive (windowEnd, event time)` })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({ status: 200, description: '{ alerts: [...], nextCursor }' })
  async list(@Query() params: Record<string, unknown>, @CurrentPrincipal() principal: Principal): Promise<AlertListView> {
    return this.alerts.list(params, {
      present: (id) => this.patients.presentPatientId(principal, id),
      canSeeIds: this.patients.canSeeIdentifiers(principal),
      token: (id) => this.patients.token(id),
    });
  }

  @Post('bulk')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({
    summary: `Bulk triage: one action (${ALERT_ACTIONS.join(', ')}) on up to ${MAX_BULK_ALERTS} alerts. Per item, not all-or-nothing: each alert is changed on its own and results[] gives each id the status the single call would have answered (200 with the alert, 404, 409, 400). A bad body is refused whole (400).`,
  })
  @ApiBody(BULK_BODY)
  @ApiResponse({ status: 200, description: '{ action, results: [{ id, status, alert? , error?: { type, title } }] }' })
  async bulk(@Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<{ action: AlertAction; results: BulkItemResult[] }> {
    return this.alerts.bulk(body, principal.sub, (id) => this.patients.presentPatientId(principal, id));
  }

  @Get(':id')
  @RequireScope('alerts:read')
  @AuditAccess('alerts.view', { resource: 'Alert' })
  @ApiOperation({ summary: 'One alert: rule, group, window, counts, evidence event ids and summary, case work (assignee, disposition, history), its case ({ id, status, alertCount } or null), and its runbook rendered as Markdown (runbook: { name, markdown }).' })
  @ApiParam({ name: 'id', description: 'alert id (UUID)' })
  @ApiResponse({ status: 404, description: 'No alert with this id.' })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<AlertDetailView> {
    return this.alerts.get(id, (patientId) => this.patients.presentPatientId(principal, patientId));
  }

  @Get(':id/events')
  @RequireScope('alerts:read', 'events:read')
  @AuditAccess('alerts.events', { resource: 'Alert' })
  @ApiOperation({ summary: "The alert's evidence events in one call, each as GET /v1/events/{id} shows it to the caller; ids the store no longer holds are listed in missing. Recorded in the access log: the call (alerts.events) and each event shown (events.read, as GET /v1/events/{id} records it)." })
  @ApiParam({ name: 'id', description: 'alert id (UUID)' })
  @ApiResponse({ status: 200, description: '{ alertId, events: [{ event, receivedAt, receipt }], missing, total, truncated }' })
  @ApiResponse({ status: 404, description: 'No alert with this id.' })
  async events(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Req() req: Request): Promise<AlertEventsView> {
    return this.evidence.events(id, principal, req.socket?.remoteAddress);
  }

  @Get(':id/history')
  @RequireScope('alerts:read')
  @AuditAccess('alerts.history', { resource: 'Alert' })
  @ApiOperation({ summary: 'Every change to the alert, oldest first: action, from and to status, who (by), when (at), note, assignee, disposition.' })
  @ApiParam({ name: 'id', description: 'alert id (UUID)' })
  @ApiResponse({ status: 200, description: '{ alertId, status, history: [...] }' })
  @ApiResponse({ status: 404, description: 'No alert with this id.' })
  async history(@Param('id') id: string): Promise<AlertHistoryView> {
    return this.alerts.history(id);
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: 'Acknowledge an open alert (who: the caller; optional note).' })
  @ApiBody(NOTE_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  @ApiResponse({ status: 409, description: 'The alert is not open (already acknowledged or resolved).' })
  async acknowledge(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.change(id, 'acknowledge', body, principal);
  }

  @Post(':id/resolve')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: `Resolve an open or acknowledged alert (who: the caller; a note saying why is required; disposition optional: ${DISPOSITIONS.join(', ')}). A resolved alert can be reopened.` })
  @ApiBody(RESOLVE_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  @ApiResponse({ status: 400, description: 'The note is missing or too long, or the disposition is not one of the list.' })
  @ApiResponse({ status: 409, description: 'The alert is already resolved.' })
  async resolve(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.change(id, 'resolve', body, principal);
  }

  @Post(':id/reopen')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: 'Reopen a resolved alert (back to open; a note saying why is required). Its disposition is cleared; the history keeps it.' })
  @ApiBody(REQUIRED_NOTE_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  @ApiResponse({ status: 409, description: 'The alert is not resolved.' })
  async reopen(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.change(id, 'reopen', body, principal);
  }

  @Post(':id/assign')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: 'Assign an open or acknowledged alert to a person (assignee: their id), or unassign it (assignee: null). The status does not change.' })
  @ApiBody(ASSIGN_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  @ApiResponse({ status: 409, description: 'The alert is resolved (reopen it first).' })
  async assign(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.change(id, 'assign', body, principal);
  }

  @Post(':id/comments')
  @HttpCode(200)
  @RequireScope('alerts:write')
  @ApiOperation({ summary: 'Comment on an alert in any status (the note is the comment; who and when are recorded in its history).' })
  @ApiBody(REQUIRED_NOTE_BODY)
  @ApiResponse({ status: 200, description: 'The alert after the change.' })
  async comment(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() principal: Principal): Promise<AlertRecord> {
    return this.change(id, 'comment', body, principal);
  }

  private change(id: string, action: AlertAction, body: unknown, principal: Principal): Promise<AlertRecord> {
    return this.alerts.transition(id, action, principal.sub, body, (patientId) => this.patients.presentPatientId(principal, patientId));
  }
}
