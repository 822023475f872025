/** Integrity verification over HTTP (CONTRACT: GET /v1/integrity/verify), and clock quality per integration (GET /v1/integrity/clock). */
import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ClockQualityMonitor, ClockStatus, IntegrityMonitor, parseVerifyQuery } from '@app/pipeline';
import { RequireScope } from '@app/security';

@ApiTags('integrity')
@ApiBearerAuth()
@Controller('v1/integrity')
export class IntegrityController {
  constructor(
    private readonly monitor: IntegrityMonitor,
    private readonly clock: ClockQualityMonitor,
  ) {}

  @Get('clock')
  @RequireScope('ops:read')
  @ApiOperation({ summary: 'Events stored and flagged for their clock since start, per source integration: ahead (beyond EVENT_MAX_FUTURE_SECONDS), behind (beyond EVENT_MAX_PAST_SECONDS). Names and counts only.' })
  clockStatus(): ClockStatus {
    return this.clock.status();
  }

  @Get('verify')
  @RequireScope('integrity:read')
  @ApiOperation({ summary: 'Recompute the hash chains, check every signed checkpoint (signature, link, tree head), and name every chain\'s first break (`breaks`; `break` is the first of them).' })
  @ApiQuery({ name: 'chain', required: false })
  @ApiQuery({ name: 'from', required: false, description: 'first sequence number' })
  @ApiQuery({ name: 'to', required: false, description: 'last sequence number' })
  async verify(@Query() params: Record<string, unknown>) {
    // A break found here is known at once (readiness, metrics, the integrity-break alert).
    const result = await this.monitor.verifyOnDemand(parseVerifyQuery(params));
    return { ok: result.ok, verified: result.verified, break: result.break, breaks: result.breaks, chains: result.chains, checkpointsVerified: result.checkpointsVerified };
  }
}
