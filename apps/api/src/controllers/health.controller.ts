/** Liveness, readiness and Prometheus metrics for operators. No PHI anywhere. */
import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { MetricsService, PipelineHealth } from '@app/pipeline';
import { Public } from '@app/security';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly pipeline: PipelineHealth,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  @Public()
  @ApiOperation({ summary: 'The process is up.' })
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @Public()
  @ApiOperation({ summary: 'Storage and bus are usable; 503 otherwise.' })
  ready(@Res() res: Response) {
    const checks = this.pipeline.checks();
    const ok = checks.storage && checks.bus;
    if (!ok) res.setHeader('Retry-After', '1');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', checks });
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
