/**
 * Cases over HTTP (docs/case-work.md "Cases"): the alerts about one user grouped as alert-cases.ts
 * says, listed newest activity first, and one case with its alerts and the user's prior cases, so
 * a repeat offender is visible at a glance. Query parameters are checked field by field like the
 * alert list (enum values in any case); problems never echo submitted values.
 */
import { Inject, Injectable } from '@nestjs/common';
import { FieldError, matchEnum, Problems, queryParamReader, unknownMemberErrors } from '@app/core';
import { CASE_STATUSES, CaseSummary, summarizeCase } from '../alert-cases';
import { AlertRecord } from '../alert-lifecycle';
import { ALERT_STORE, AlertStore, CaseFilter, decodeCaseCursor } from '../alert-store.port';
import { PatientIdPresenter } from './alert-presentation';
import { AlertsService, DEFAULT_ALERT_PAGE, MAX_ALERT_PAGE, MAX_CASE_ALERTS } from './alerts.service';

const CASE_FILTER_KEYS = ['actor', 'status', 'limit', 'cursor'] as const;
const CASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Most prior cases shown with a case. */
export const MAX_PRIOR_CASES = 100;

export interface CaseListView {
  cases: CaseSummary[];
  nextCursor: string | null;
}

export interface CaseDetailView extends CaseSummary {
  /** Its alerts, newest first, patients shown as the caller may see them. */
  alerts: AlertRecord[];
  /** The same user's earlier cases (opened before this one), newest first. */
  priorCases: CaseSummary[];
}

export function parseCaseQuery(params: Record<string, unknown>): CaseFilter {
  const errors: FieldError[] = unknownMemberErrors(Object.keys(params), CASE_FILTER_KEYS, '/query', 'filter');
  const { str, limit } = queryParamReader(params, errors);
  const filter: CaseFilter = { limit: limit(DEFAULT_ALERT_PAGE, MAX_ALERT_PAGE) };
  const actor = str('actor');
  if (actor !== undefined) filter.actor = actor;
  const status = str('status');
  if (status !== undefined) {
    filter.status = matchEnum(status, CASE_STATUSES);
    if (filter.status === undefined) errors.push({ pointer: '/query/status', message: `must be one of ${CASE_STATUSES.join(', ')} (any case)` });
  }
  const cursor = str('cursor');
  if (cursor !== undefined) {
    if (decodeCaseCursor(cursor)) filter.cursor = cursor;
    else errors.push({ pointer: '/query/cursor', message: 'is not a cursor this service issued' });
  }
  if (errors.length > 0) throw Problems.validation(errors, 'The query parameters are invalid.');
  return filter;
}

@Injectable()
export class CasesService {
  constructor(
    @Inject(ALERT_STORE) private readonly store: AlertStore,
    private readonly alertViews: AlertsService,
  ) {}

  async list(params: Record<string, unknown>): Promise<CaseListView> {
    const page = await this.store.cases(parseCaseQuery(params));
    return { cases: page.cases, nextCursor: page.nextCursor };
  }

  async get(id: string, present?: PatientIdPresenter): Promise<CaseDetailView> {
    if (!CASE_ID.test(id)) throw Problems.validation([{ pointer: '/path/id', message: 'must be a case id (UUID)' }]);
    const caseId = id.toLowerCase();
    const { alerts } = await this.store.list({ caseId, limit: MAX_CASE_ALERTS });
    if (alerts.length === 0) throw Problems.notFound('No case with this id.');
    const summary = summarizeCase(caseId, alerts);
    const { cases } = await this.store.cases({ actor: summary.actor, limit: MAX_PRIOR_CASES + 1 });
    const priorCases = cases.filter((c) => c.id !== caseId && Date.parse(c.openedAt) <= Date.parse(summary.openedAt)).slice(0, MAX_PRIOR_CASES);
    return { ...summary, alerts: alerts.map((a) => this.alertViews.view(a, present)), priorCases };
  }
}
