/**
 * Cases over HTTP (docs/case-work.md "Cases"): the alerts about one user grouped, with the user's
 * prior cases. Thin: CasesService does the work; reads are recorded in the access log.
 */
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CASE_STATUSES } from '@app/detection';
import { CaseDetailView, CaseListView, CasesService } from '@app/detection/service';
import { AuditAccess } from '@app/pipeline';
import { CurrentPrincipal, PatientIdentifiers, Principal, RequireScope } from '@app/security';

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('v1/cases')
export class CasesController {
  constructor(
    private readonly cases: CasesService,
    private readonly patients: PatientIdentifiers,
  ) {}

  @Get()
  @RequireScope('alerts:read')
  @AuditAccess('cases.query', { resource: 'Case', count: (r) => (r as CaseListView).cases.length })
  @ApiOperation({ summary: "Cases (a user's alerts grouped), newest activity first: actor, status (open while any alert is unresolved), counts, highest severity, rules, assignees." })
  @ApiQuery({ name: 'actor', required: false, description: 'the user (actor id)' })
  @ApiQuery({ name: 'status', required: false, enum: CASE_STATUSES, description: 'any case' })
  @ApiQuery({ name: 'limit', required: false, description: '1..1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({ status: 200, description: '{ cases: [...], nextCursor }' })
  async list(@Query() params: Record<string, unknown>): Promise<CaseListView> {
    return this.cases.list(params);
  }

  @Get(':id')
  @RequireScope('alerts:read')
  @AuditAccess('cases.view', { resource: 'Case' })
  @ApiOperation({ summary: "One case: its summary, its alerts (newest first, patients shown as the caller may see them) and the user's prior cases (repeat offenders)." })
  @ApiParam({ name: 'id', description: 'case id (UUID)' })
  @ApiResponse({ status: 404, description: 'No case with this id.' })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<CaseDetailView> {
    return this.cases.get(id, (patientId) => this.patients.presentPatientId(principal, patientId));
  }
}
