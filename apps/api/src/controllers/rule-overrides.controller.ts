/**
 * Admins' rule overrides over HTTP (`/v1/rule-overrides`): every rule with its effective state and
 * exceptions, the audit trail of changes, switching a rule off and on, adding and removing an
 * exception. Thin: RuleOverridesService checks and records; streaming detection honours the result.
 */
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Problems } from '@app/core';
import type { RuleException, RuleOverrideChange } from '@app/detection';
import { RuleAdminView, RuleOverridesService } from '@app/detection/service';
import { CurrentPrincipal, Principal, RequireScope } from '@app/security';

const NOTE_BODY = { schema: { type: 'object', additionalProperties: false, properties: { note: { type: 'string', maxLength: 500, description: 'Why (required to switch a rule off or remove an exception).' } } } };

@ApiTags('rules')
@ApiBearerAuth()
@Controller('v1/rule-overrides')
export class RuleOverridesController {
  constructor(private readonly overrides: RuleOverridesService) {}

  @Get()
  @RequireScope('rules:manage')
  @ApiOperation({ summary: 'Every loaded rule with its effective state (on in its file, switched off by whom), its exceptions, and the fields an exception can name.' })
  list(): { rules: RuleAdminView[] } {
    return { rules: this.overrides.rules() };
  }

  @Get('history')
  @RequireScope('rules:manage')
  @ApiOperation({ summary: 'Audit trail of rule overrides, newest first: who changed what, when, and why. `?rule=` and `?limit=` (1..1000, default 100).' })
  history(@Query() params: Record<string, unknown>): { changes: RuleOverrideChange[] } {
    const limit = params.limit === undefined ? 100 : Number(params.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw Problems.validation([{ pointer: '/query/limit', message: 'must be an integer from 1 to 1000' }]);
    const rule = typeof params.rule === 'string' && params.rule.length > 0 ? params.rule : undefined;
    return { changes: this.overrides.history(limit, rule) };
  }

  @Post(':id/disable')
  @HttpCode(200)
  @RequireScope('rules:manage')
  @ApiBody(NOTE_BODY)
  @ApiOperation({ summary: 'Switch a rule off: its alerts are no longer raised (body { note }, required).' })
  @ApiResponse({ status: 404, description: 'No rule with this id is loaded.' })
  disable(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<RuleAdminView> {
    return this.overrides.setEnabled(id, false, p.sub, body);
  }

  @Post(':id/enable')
  @HttpCode(200)
  @RequireScope('rules:manage')
  @ApiBody(NOTE_BODY)
  @ApiOperation({ summary: 'Switch a rule back on (body { note }, optional).' })
  enable(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<RuleAdminView> {
    return this.overrides.setEnabled(id, true, p.sub, body);
  }

  @Post(':id/exceptions')
  @RequireScope('rules:manage')
  @ApiBody({ schema: { type: 'object', additionalProperties: false, required: ['field', 'value', 'reason'], properties: { field: { type: 'string' }, value: { type: 'string', maxLength: 200 }, reason: { type: 'string', maxLength: 500 } } } })
  @ApiOperation({ summary: 'Add an exception: no alert of this rule for this value of one of its groupBy fields (never a patient field).' })
  addException(@Param('id') id: string, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<RuleException> {
    return this.overrides.addException(id, p.sub, body);
  }

  @Post(':id/exceptions/:exceptionId/remove')
  @HttpCode(200)
  @RequireScope('rules:manage')
  @ApiBody(NOTE_BODY)
  @ApiOperation({ summary: 'Remove an exception (body { note }, required).' })
  removeException(@Param('id') id: string, @Param('exceptionId') exceptionId: string, @Body() body: unknown, @CurrentPrincipal() p: Principal): Promise<RuleException> {
    return this.overrides.removeException(id, exceptionId, p.sub, body);
  }
}
