/**
 * Alert delivery status over HTTP (`GET /v1/alert-destinations`, admin: ops:read): each configured
 * destination with its queue depth, deliveries, dead letters, failures, last success and last error.
 * Names and counts only: no secret, URL or alert content. Thin: AlertDeliveryService answers.
 */
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AlertDeliveryService, DestinationStatus } from '@app/detection/delivery';
import { RequireScope } from '@app/security';

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('v1/alert-destinations')
export class AlertDestinationsController {
  constructor(private readonly delivery: AlertDeliveryService) {}

  @Get()
  @RequireScope('ops:read')
  @ApiOperation({
    summary:
      'Alert delivery destinations (ALERT_DESTINATIONS_FILE) and their status: queueDepth, delivered, deadLetters, failures, consecutiveFailures, lastSuccessAt, lastFailureAt, lastError, nextAttemptAt. `configured: false` when no file is set.',
  })
  list(): { configured: boolean; destinations: DestinationStatus[] } {
    const status = this.delivery.status();
    return { configured: status !== null, destinations: status ?? [] };
  }
}
