/**
 * Raises the `disk-pressure` data-quality alert (service-alerts.ts) through the alert path (stored,
 * listed, delivered) each time DurabilityMonitor finds the free space under DATA_DIR below
 * DISK_FREE_FLOOR_BYTES. See docs/operations.md "Faults and what the service does".
 */
import { Injectable, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
import { diskPressureAlert } from '@app/detection';
import { DetectionModule, ServiceAlertsService } from '@app/detection/service';
import { DurabilityMonitor } from '@app/pipeline';

const MIB = 1024 * 1024;

@Injectable()
export class DiskPressureAlerts implements OnApplicationBootstrap {
  private readonly logger = new Logger('Durability');

  constructor(
    private readonly monitor: DurabilityMonitor,
    private readonly alerts: ServiceAlertsService,
  ) {}

  onApplicationBootstrap(): void {
    this.monitor.onDiskLow((freeBytes, floorBytes) => {
      const now = new Date();
      const alert = diskPressureAlert({ freeMiB: Math.round(freeBytes / MIB), floorMiB: Math.round(floorBytes / MIB) }, now.toISOString());
      // The disk may already be too full to store it: the metric and the log line still say so.
      this.alerts.raise([alert], now).catch((err: unknown) => this.logger.error({ fact: 'disk-pressure alert not stored', error: (err as Error)?.constructor?.name ?? 'unknown' }));
    });
  }
}

@Module({
  imports: [DetectionModule],
  providers: [DiskPressureAlerts],
})
export class DiskPressureAlertsModule {}
