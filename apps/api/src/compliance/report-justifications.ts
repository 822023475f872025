/**
 * The explanation stage of compliance reports (docs/context-feeds.md): every row is judged with the
 * context as of the access (ACCESS_CONTEXT, explainAccess) and linked to the alerts whose evidence
 * cites it. The links are read from the alert store once per report, for the alerts that name the
 * report's patient (by token) or user and ended at or after its `from`, up to MAX_LINKED_ALERTS.
 */
import type { AccessContext } from '@app/core';
import type { AlertFilter, AlertStore } from '@app/detection';
import type { ReportJustifications, ReportQuery } from '@app/reports';

/** Most alerts read to link rows to (newest first); a report over more links the newest only. */
export const MAX_LINKED_ALERTS = 10_000;
const PAGE = 500;

export function reportJustifications(context: AccessContext, alerts: AlertStore | null, patientToken: (id: string) => string): ReportJustifications {
  return {
    context,
    async alertLinks(query: ReportQuery) {
      const links = new Map<string, string[]>();
      if (!alerts) return links;
      const filter: AlertFilter = { limit: PAGE };
      if (query.patient) filter.patientToken = patientToken(query.patient);
      if (query.actor) filter.actor = query.actor;
      if (query.from) filter.from = query.from;
      let read = 0;
      for (let cursor: string | undefined; read < MAX_LINKED_ALERTS; ) {
        const page = await alerts.list({ ...filter, cursor });
        for (const record of page.alerts) {
          for (const eventId of record.evidence.eventIds) {
            const ids = links.get(eventId);
            if (!ids) links.set(eventId, [record.id]);
            else if (!ids.includes(record.id)) ids.push(record.id);
          }
        }
        read += page.alerts.length;
        if (!page.nextCursor || page.alerts.length === 0) break;
        cursor = page.nextCursor;
      }
      return links;
    },
  };
}
