/**
 * Prometheus metrics of streaming detection, registered on the service's registry (GET /metrics).
 * Labels are rule ids and severities only: never an actor, patient, IP or group key. Alerts per
 * rule go to the restricted registry (shown to callers who may read alerts, issue 22: a snooper
 * must not watch whether they tripped a rule); the public set counts alerts by severity only.
 */
import { Counter, Gauge, Registry } from 'prom-client';

export class DetectionMetrics {
  readonly eventsEvaluated: Counter;
  readonly alertsRaised: Counter<'rule' | 'severity'>;
  readonly alertsBySeverity: Counter<'severity'>;
  readonly lateEventsDropped: Counter;
  readonly unevaluatedEvents: Counter<'source'>;
  readonly lateEventsLaned: Counter;
  readonly lagEvents: Gauge;
  readonly lagSeconds: Gauge;
  readonly position: Gauge;
  readonly trackedGroups: Gauge;
  readonly snapshots: Counter;
  readonly snapshotSeconds: Gauge;

  constructor(registry: Registry, restricted: Registry = registry) {
    const registers = [registry];
    this.eventsEvaluated = new Counter({ name: 'audit_detection_events_total', help: 'Committed events evaluated by the detection engine.', registers });
    this.alertsRaised = new Counter({
      name: 'audit_detection_alerts_total',
      help: 'New alerts stored by streaming detection, by rule id and severity (replays that found the alert already stored are not counted).',
      labelNames: ['rule', 'severity'] as const,
      registers: [restricted],
    });
    this.alertsBySeverity = new Counter({
      name: 'audit_detection_alerts_by_severity_total',
      help: 'New alerts stored by streaming detection, by severity only (per rule: audit_detection_alerts_total, for callers who may read alerts).',
      labelNames: ['severity'] as const,
      registers,
    });
    this.lateEventsDropped = new Counter({
      name: 'audit_detection_late_events_total',
      help: 'Events windowed rules could not evaluate (see audit_detection_unevaluated_events_total); match rules judged those with a readable time.',
      registers,
    });
    this.unevaluatedEvents = new Counter({
      name: 'audit_detection_unevaluated_events_total',
      help: 'Events detection could not evaluate (no readable time, or too late and out of order even for a late lane), by source integration (or system); each raises a data-quality alert.',
      labelNames: ['source'] as const,
      registers,
    });
    this.lateEventsLaned = new Counter({
      name: 'audit_detection_late_lane_events_total',
      help: 'Events behind the engine watermark (nightly batches, slow clocks) evaluated in a late lane of their stream.',
      registers,
    });
    this.lagEvents = new Gauge({ name: 'audit_detection_lag_events', help: 'Committed events not yet evaluated by detection.', registers });
    this.lagSeconds = new Gauge({
      name: 'audit_detection_lag_seconds',
      help: 'Age (receive time to now) of the oldest committed event detection has not evaluated yet; 0 when caught up.',
      registers,
    });
    this.position = new Gauge({ name: 'audit_detection_position', help: 'Global store position of the last evaluated event.', registers });
    this.trackedGroups = new Gauge({ name: 'audit_detection_tracked_groups', help: 'Rule groups (windows) held in memory by the engine.', registers });
    this.snapshots = new Counter({ name: 'audit_detection_snapshots_total', help: 'Engine snapshots persisted (with the alerts they cover).', registers });
    this.snapshotSeconds = new Gauge({
      name: 'audit_detection_snapshot_seconds',
      help: 'Duration of the last engine snapshot (serialize, seal, write); snapshots are spaced at least 50 times this apart.',
      registers,
    });
  }
}
