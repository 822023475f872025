/** Integrity verification over HTTP (CONTRACT: GET /v1/integrity/verify). */
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { IntegrityService, parseVerifyQuery } from '@app/pipeline';
import { RequireScope } from '@app/security';

@ApiTags('integrity')
@ApiBearerAuth()
@Controller('v1/integrity')
export class IntegrityController {
  constructor(private readonly integrity: IntegrityService) {}

  @Get('verify')
  @RequireScope('integrity:read')
  @ApiOperation({ summary: 'Recompute the hash chains, check every signed checkpoint (signature, link, tree head), and name every chain\'s first break (`breaks`; `break` is the first of them).' })
  @ApiQuery({ name: 'chain', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'first sequence number' })
  @ApiQuery({ name: 'to', required: false, description: 'last sequence number' })
  async verify(@Query() params: Record<string, unknown>) {
    const result = await this.integrity.verify(parseVerifyQuery(params));
    return { ok: result.ok, verified: result.verified, break: result.break, breaks: result.breaks, chains: result.chains, checkpointsVerified: result.checkpointsVerified };
  }
}
