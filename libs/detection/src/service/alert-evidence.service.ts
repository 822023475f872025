/**
 * An alert's evidence events in one call (GET /v1/alerts/{id}/events): each event exactly as
 * GET /v1/events/{id} shows it to the same caller (QueryService: patient ids as tokens without
 * events:identified), in the alert's evidence order. Evidence the store no longer holds (retention
 * purged it) is listed under `missing` rather than failing the call. Each event shown is recorded
 * in the access log as its own `events.read` (as GET /v1/events/{id} records it, with the alert named),
 * in one durable write before the answer leaves, so "who saw event X" finds these reads too.
 */
import { Injectable } from '@nestjs/common';
import { ProblemError } from '@app/core';
import { AccessAuditService, accessPrincipal, EventView, QueryService } from '@app/pipeline';
import type { Principal } from '@app/security';
import { AlertsService } from './alerts.service';

export interface AlertEventsView {
  alertId: string;
  /** Contributing events in the alert (capped; see `total`). */
  events: EventView[];
  /** Evidence ids the store no longer holds. */
  missing: string[];
  /** How many events contributed to the alert (may exceed the evidence kept). */
  total: number;
  truncated: boolean;
}

@Injectable()
export class AlertEvidenceService {
  constructor(
    private readonly alerts: AlertsService,
    private readonly query: QueryService,
    private readonly accessLog: AccessAuditService,
  ) {}

  /** `ip`: the caller's address, recorded with each read as the access log records every read. */
  async events(alertId: string, viewer: Principal, ip?: string): Promise<AlertEventsView> {
    const alert = await this.alerts.record(alertId);
    const events: EventView[] = [];
    const missing: string[] = [];
    for (const id of alert.evidence.eventIds) {
      try {
        events.push(await this.query.get(id, viewer));
      } catch (error) {
        if (error instanceof ProblemError && error.status === 404) missing.push(id);
        else throw error;
      }
    }
    await this.accessLog.recordAccesses(
      events.map((v) => ({
        action: 'events.read',
        principal: accessPrincipal(viewer),
        route: 'GET /v1/alerts/:id/events',
        filters: { alert: alert.id },
        resource: { type: 'AuditEvent', id: v.event.id },
        recordCount: 1,
        outcome: 'success' as const,
        ip,
      })),
    );
    return { alertId: alert.id, events, missing, total: alert.evidence.total, truncated: alert.evidence.truncated };
  }
}
