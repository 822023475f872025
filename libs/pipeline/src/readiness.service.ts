/**
 * The one place that decides readiness (GET /health/ready): the store and the bus are usable
 * (PipelineHealth), no integrity break is known (IntegrityMonitor), and events can be made durable
 * now (DurabilityMonitor: disk full, database locked, I/O error, writer stalled). Each failing check
 * adds a reason with a stable code and a sentence without PHI; warnings (disk space below the floor)
 * are reported without making the instance unready. Liveness is not decided here: it stays up.
 */
import { Injectable } from '@nestjs/common';
import { DurabilityMonitor, HealthReason } from './durability-monitor';
import { IntegrityMonitor } from './integrity-monitor';
import { PipelineHealth } from './pipeline-health';

export interface Readiness {
  ready: boolean;
  checks: { storage: boolean; bus: boolean; integrity: boolean; durable: boolean };
  reasons: HealthReason[];
  warnings: HealthReason[];
}

@Injectable()
export class ReadinessService {
  constructor(
    private readonly pipeline: PipelineHealth,
    private readonly integrity: IntegrityMonitor,
    private readonly durability: DurabilityMonitor,
  ) {}

  current(): Readiness {
    const { storage, bus } = this.pipeline.checks();
    const reasons: HealthReason[] = [];
    if (!storage) reasons.push({ code: 'storage_unavailable', detail: 'the event store is not reachable or not open' });
    const busFault = this.pipeline.busFault();
    if (busFault) reasons.push({ code: 'bus_message_unreadable', detail: busFault });
    else if (!bus) reasons.push({ code: 'bus_unavailable', detail: 'the event bus or the chain writer is not running' });
    const integrity = this.integrity.reason();
    if (integrity) reasons.push({ code: 'integrity_break', detail: integrity });
    const durability = this.durability.reasons();
    reasons.push(...durability);
    return {
      ready: reasons.length === 0,
      checks: { storage, bus, integrity: integrity === null, durable: durability.length === 0 },
      reasons,
      warnings: this.durability.warnings(),
    };
  }
}
