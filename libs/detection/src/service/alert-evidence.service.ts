/**
 * An alert's evidence events in one call (GET /v1/alerts/{id}/events): each event exactly as
 * GET /v1/events/{id} shows it to the same caller (QueryService: patient ids as tokens without
 * events:identified), in the alert's evidence order. Evidence the store no longer holds (retention
 * purged it) is listed under `missing` rather than failing the call.
 */
import { Injectable } from '@nestjs/common';
import { ProblemError } from '@app/core';
import { EventView, QueryService, Viewer } from '@app/pipeline';
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
  ) {}

  async events(alertId: string, viewer: Viewer): Promise<AlertEventsView> {
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
    return { alertId: alert.id, events, missing, total: alert.evidence.total, truncated: alert.evidence.truncated };
  }
}
