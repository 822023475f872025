/**
 * The AlertStore port: where alerts live once raised. One adapter per storage engine (embedded
 * SQLite, Elasticsearch); the detection service and the alert endpoints only see this interface.
 */
import { DetectionAlert } from './alert';
import { CaseStatus, CaseSummary } from './alert-cases';
import { AlertRecord, AlertStatus, AlertTransitionRequest } from './alert-lifecycle';
import { Severity } from './rule.schema';

export interface AlertFilter {
  status?: AlertStatus;
  /** Rule id. */
  rule?: string;
  severity?: Severity;
  /** Inclusive lower bound on windowEnd (the event time that completed the alert), RFC 3339. */
  from?: string;
  /** Exclusive upper bound on windowEnd, RFC 3339. */
  to?: string;
  /** The user the alert is about (alertActor). */
  actor?: string;
  /** A patient the alert names (alertPatientIds), as its keyed-HMAC token: stores index tokens only. */
  patientToken?: string;
  /** Alerts of one case. */
  caseId?: string;
  limit: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

export interface CaseFilter {
  actor?: string;
  status?: CaseStatus;
  limit: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

export interface CasePage {
  /** Newest activity first (lastAlertAt descending, then id). */
  cases: CaseSummary[];
  nextCursor: string | null;
}

/** How a store indexes the patients an alert names (keyed-HMAC tokens, never ids). */
export interface AlertIndexing {
  patientToken(patientId: string): string;
}

export interface AlertPage {
  /** Newest first (windowEnd descending, then id). */
  alerts: AlertRecord[];
  nextCursor: string | null;
}

export interface AlertSaveResult {
  /** False when an alert with this id already existed (a replay): nothing was changed. */
  created: boolean;
  record: AlertRecord;
}

export interface AlertStore {
  /**
   * Stores a new alert as `open` (see newAlertRecord). Idempotent on `alert.id`: saving an id that
   * exists changes nothing and returns the stored record, which is how replays after a crash
   * avoid duplicates. Durable before it resolves.
   */
  save(alert: DetectionAlert, createdAt: string): Promise<AlertSaveResult>;
  /** save() for several alerts in one durable write (same idempotency per id). */
  saveAll(alerts: readonly DetectionAlert[], createdAt: string): Promise<AlertSaveResult[]>;
  get(id: string): Promise<AlertRecord | null>;
  list(filter: AlertFilter): Promise<AlertPage>;
  /**
   * Applies applyTransition() atomically against the stored status (no lost update between two
   * analysts). Throws AlertNotFoundError or InvalidAlertTransitionError.
   */
  transition(id: string, request: AlertTransitionRequest): Promise<AlertRecord>;
  /** Cases (alert-cases.ts), newest activity first. */
  cases(filter: CaseFilter): Promise<CasePage>;
}

/** Cursor of the alert list: the last row of the previous page (newest first). */
export function encodeAlertCursor(windowEndMs: number, id: string): string {
  return Buffer.from(`a1:${windowEndMs}:${id}`).toString('base64url');
}

export function decodeAlertCursor(cursor: string): { windowEndMs: number; id: string } | null {
  const m = /^a1:(-?\d{1,16}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { windowEndMs: Number(m[1]), id: m[2] } : null;
}

/** Cursor of the case list: the last case of the previous page. */
export function encodeCaseCursor(lastAlertMs: number, id: string): string {
  return Buffer.from(`c1:${lastAlertMs}:${id}`).toString('base64url');
}

export function decodeCaseCursor(cursor: string): { lastAlertMs: number; id: string } | null {
  const m = /^c1:(-?\d{1,16}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? { lastAlertMs: Number(m[1]), id: m[2] } : null;
}

export const ALERT_STORE = Symbol('ALERT_STORE');
