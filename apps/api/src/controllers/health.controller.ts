/** Liveness, readiness and Prometheus metrics for operators (who sees what: http/ops-endpoints.ts). No PHI anywhere. */
import { Controller, Get, Header, Inject, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { APP_CONFIG, AppConfig, securitySettings } from '@app/core';
import { IntegrityMonitor, MetricsService, PipelineHealth } from '@app/pipeline';
import { AuthGuard, Public } from '@app/security';
import { opsCaller, seesRestrictedMetrics } from '../http/ops-endpoints';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly pipeline: PipelineHealth,
    private readonly metrics: MetricsService,
    private readonly integrity: IntegrityMonitor,
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
  @ApiOperation({ summary: 'Storage and bus are usable and no integrity break is known; 503 otherwise (with the reason).' })
  ready(@Res() res: Response) {
    // A known break (start-up or scheduled verification) is not ready: ingestion itself still works.
    const integrity = this.integrity.reason();
    const checks = { ...this.pipeline.checks(), integrity: integrity === null };
    const ok = checks.storage && checks.bus && checks.integrity;
    if (!ok) res.setHeader('Retry-After', '1');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', checks, ...(integrity ? { reason: integrity } : {}) });
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
