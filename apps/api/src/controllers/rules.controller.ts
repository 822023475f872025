/**
 * The loaded detection rules (CONTRACT: GET /v1/rules) and the streaming detector's progress
 * (GET /v1/detection/status: position, lag, watermark; counts only, no PHI). Thin controller.
 */
import { Controller, Get, Inject, Optional } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AlertsService, DETECTION_LEADERSHIP, DETECTION_WORKER, DetectionLeadership, DetectionStatus, DetectionWorker, RulesView } from '@app/detection/service';
import { RequireScope } from '@app/security';

@ApiTags('rules')
@ApiBearerAuth()
@Controller('v1')
export class RulesController {
  constructor(
    private readonly alerts: AlertsService,
    @Optional() @Inject(DETECTION_WORKER) private readonly worker: DetectionWorker | null,
    @Optional() @Inject(DETECTION_LEADERSHIP) private readonly leadership: DetectionLeadership | null,
  ) {}

  @Get('rules')
  @RequireScope('rules:read')
  @ApiOperation({ summary: 'The loaded detection rules (conditions, windows, thresholds, runbook, tags, number of examples).' })
  @ApiResponse({ status: 200, description: '{ rules: [...], timeZone, allowedLateness }' })
  rules(): RulesView {
    return this.alerts.rules();
  }

  @Get('detection/status')
  @RequireScope('alerts:read')
  @ApiOperation({ summary: 'Streaming detection progress: last evaluated store position, committed head, lag, watermark.' })
  async status(): Promise<(DetectionStatus & { leader?: boolean }) | { running: false }> {
    if (!this.worker) return { running: false };
    // STORE=elasticsearch: whether this instance holds the detection lease (the others stand by).
    return this.leadership ? { ...(await this.worker.status()), leader: this.leadership.leader } : this.worker.status();
  }
}
