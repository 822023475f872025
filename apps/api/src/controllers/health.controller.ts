/** Liveness, readiness and Prometheus metrics for operators. No PHI anywhere. */
import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { IntegrityMonitor, MetricsService, PipelineHealth } from '@app/pipeline';
import { Public } from '@app/security';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly pipeline: PipelineHealth,
    private readonly metrics: MetricsService,
    private readonly integrity: IntegrityMonitor,
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
  @ApiOperation({ summary: 'Prometheus text metrics (no PHI).' })
  async metricsText(@Res() res: Response) {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.send(await this.metrics.registry.metrics());
  }
}
