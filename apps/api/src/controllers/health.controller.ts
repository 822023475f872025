/** Liveness, readiness and Prometheus metrics for operators (who sees what: http/ops-endpoints.ts). No PHI anywhere. */
import { Controller, Get, Header, Inject, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { APP_CONFIG, AppConfig, securitySettings } from '@app/core';
import { MetricsService, ReadinessService } from '@app/pipeline';
import { AuthGuard, Public } from '@app/security';
import { opsCaller, seesRestrictedMetrics } from '../http/ops-endpoints';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly readiness: ReadinessService,
    private readonly metrics: MetricsService,
    private readonly guard: AuthGuard,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('health/live')
  @Public()
  @ApiOperation({ summary: 'The process is up.' })
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @Public()
  @ApiOperation({
    summary:
      'Storage and bus are usable, no integrity break is known and events can be made durable (disk, database lock, writer); 503 otherwise, with reason codes (no PHI).',
  })
  ready(@Res() res: Response) {
    // One place decides (ReadinessService); a known integrity break is not ready though ingestion still works.
    const r = this.readiness.current();
    if (!r.ready) res.setHeader('Retry-After', '1');
    res.status(r.ready ? 200 : 503).json({
      status: r.ready ? 'ready' : 'not_ready',
      checks: r.checks,
      ...(r.reasons.length > 0 ? { reason: r.reasons.map((x) => x.detail).join('; '), reasons: r.reasons } : {}),
      ...(r.warnings.length > 0 ? { warnings: r.warnings } : {}),
    });
  }

  @Get('metrics')
  @Public()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Prometheus text metrics (no PHI). Per-rule alert counters only for callers who may read alerts (alerts:read, ops:read); with OPS_ENDPOINTS_AUTH=true, credentials are required.',
  })
  async metricsText(@Req() req: Request, @Res() res: Response) {
    const caller = await opsCaller(this.guard, req, securitySettings(this.config).opsEndpointsAuth);
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    let text = await this.metrics.registry.metrics();
    if (seesRestrictedMetrics(caller)) text += await this.metrics.restrictedRegistry.metrics();
    res.send(text);
  }
}
