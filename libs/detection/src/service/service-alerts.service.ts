/**
 * Raises the service's own alerts (service-alerts.ts: `integrity-break`, clock data quality)
 * through the normal alert path: into the service's alert store, which queues each new alert for
 * delivery (the embedded store's insert trigger; with STORE=elasticsearch the shared store, which
 * queues it in the cluster, and nothing goes to the instance's own file). Alert delivery polls the
 * queue (250 ms). Idempotent: saving an alert id again changes nothing, on any instance.
 */
import { Inject, Injectable } from '@nestjs/common';
import { DetectionAlert } from '../alert';
import { ALERT_STORE, AlertStore } from '../alert-store.port';

@Injectable()
export class ServiceAlertsService {
  constructor(@Inject(ALERT_STORE) private readonly alerts: AlertStore) {}

  /** Stores the alerts (each id once); resolves with those that were new. */
  async raise(alerts: readonly DetectionAlert[], now = new Date()): Promise<DetectionAlert[]> {
    if (alerts.length === 0) return [];
    const at = now.toISOString();
    const results = await this.alerts.saveAll(alerts, at);
    return alerts.filter((_, i) => results[i].created);
  }
}
