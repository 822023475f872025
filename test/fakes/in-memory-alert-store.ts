/**
 * Test double of the AlertStore port, in memory. It passes the same contract as the SQLite and
 * Elasticsearch adapters (test/contracts/alert-store.contract.spec.ts): idempotent saves, newest
 * first with the same cursors, transitions against the stored status, the case rule of alert-cases.ts.
 */
import {
  AlertFilter,
  AlertIndexing,
  AlertNotFoundError,
  AlertPage,
  AlertRecord,
  AlertSaveResult,
  AlertStore,
  AlertTransitionRequest,
  CaseFilter,
  CasePage,
  DetectionAlert,
  alertActor,
  alertPatientIds,
  applyTransition,
  caseIdFor,
  decodeAlertCursor,
  decodeCaseCursor,
  encodeAlertCursor,
  encodeCaseCursor,
  newAlertRecord,
  summarizeCases,
} from '@app/detection';

const endMs = (a: AlertRecord) => Date.parse(a.windowEnd);
/** Newest first: window end descending, then id descending (the adapters' order). */
const newestFirst = (a: AlertRecord, b: AlertRecord) => endMs(b) - endMs(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export class InMemoryAlertStore implements AlertStore {
  constructor(
    /** Shared by several handles (`new InMemoryAlertStore(same.alerts, indexing)`: another instance). */
    readonly alerts = new Map<string, AlertRecord>(),
    private readonly indexing: AlertIndexing = { patientToken: (id) => `ptk_${id}` },
  ) {}

  async save(alert: DetectionAlert, createdAt: string): Promise<AlertSaveResult> {
    return (await this.saveAll([alert], createdAt))[0];
  }

  async saveAll(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]> {
    return alerts.map((alert) => {
      const existing = this.alerts.get(alert.id);
      if (existing) return { created: false, record: structuredClone(existing) };
      const record = newAlertRecord(structuredClone(alert), createdAt);
      const actor = alertActor(alert);
      if (actor !== undefined) record.caseId = this.openCaseOf(actor) ?? caseIdFor(alert.id);
      this.alerts.set(alert.id, record);
      return { created: true, record: structuredClone(record) };
    });
  }

  async get(id: string): Promise<AlertRecord | null> {
    const r = this.alerts.get(id);
    return r ? structuredClone(r) : null;
  }

  async list(filter: AlertFilter): Promise<AlertPage> {
    const after = filter.cursor !== undefined ? decodeAlertCursor(filter.cursor) : undefined;
    if (after === null) throw new Error('invalid alert cursor');
    const matches = [...this.alerts.values()]
      .filter((a) => filter.status === undefined || a.status === filter.status)
      .filter((a) => (filter.rule === undefined || a.ruleId === filter.rule) && (filter.severity === undefined || a.severity === filter.severity))
      .filter((a) => (filter.from === undefined || endMs(a) >= Date.parse(filter.from)) && (filter.to === undefined || endMs(a) < Date.parse(filter.to)))
      .filter((a) => (filter.actor === undefined || alertActor(a) === filter.actor) && (filter.caseId === undefined || a.caseId === filter.caseId))
      .filter((a) => filter.patientToken === undefined || alertPatientIds(a).some((p) => this.indexing.patientToken(p) === filter.patientToken))
      .filter((a) => !after || endMs(a) < after.windowEndMs || (endMs(a) === after.windowEndMs && a.id < after.id))
      .sort(newestFirst);
    const page = matches.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { alerts: page.map((a) => structuredClone(a)), nextCursor: matches.length > filter.limit && last ? encodeAlertCursor(endMs(last), last.id) : null };
  }

  async transition(id: string, request: AlertTransitionRequest): Promise<AlertRecord> {
    const stored = this.alerts.get(id);
    if (!stored) throw new AlertNotFoundError(id);
    const next = applyTransition(stored, request);
    this.alerts.set(id, next);
    return structuredClone(next);
  }

  async cases(filter: CaseFilter): Promise<CasePage> {
    const after = filter.cursor !== undefined ? decodeCaseCursor(filter.cursor) : undefined;
    if (after === null) throw new Error('invalid case cursor');
    const matches = summarizeCases([...this.alerts.values()])
      .filter((c) => (filter.actor === undefined || c.actor === filter.actor) && (filter.status === undefined || c.status === filter.status))
      .filter((c) => !after || Date.parse(c.lastAlertAt) < after.lastAlertMs || (Date.parse(c.lastAlertAt) === after.lastAlertMs && c.id < after.id));
    const page = matches.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { cases: page, nextCursor: matches.length > filter.limit && last ? encodeCaseCursor(Date.parse(last.lastAlertAt), last.id) : null };
  }

  /** The user's open case: that of their newest alert not resolved. */
  private openCaseOf(actor: string): string | undefined {
    return [...this.alerts.values()].filter((a) => a.caseId && a.status !== 'resolved' && alertActor(a) === actor).sort(newestFirst)[0]?.caseId;
  }
}
