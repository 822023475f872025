/**
 * The alert lifecycle as pure functions: open -> acknowledged -> resolved (open -> resolved is
 * allowed too; resolved is final). Every transition records who, when and why, so the alert keeps
 * its own history. Store adapters call applyTransition and persist the result atomically.
 */
import { DetectionAlert } from './alert';

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const ALERT_ACTIONS = ['acknowledge', 'resolve'] as const;
export type AlertAction = (typeof ALERT_ACTIONS)[number];

export const MAX_NOTE_LENGTH = 4000;

export interface AlertTransitionRequest {
  action: AlertAction;
  /** Who did it (token subject); never a patient identifier. */
  by: string;
  /** Required to resolve (why it was closed); optional to acknowledge. */
  note?: string;
  /** RFC 3339. */
  at: string;
}

export interface AlertHistoryEntry {
  action: AlertAction;
  from: AlertStatus;
  to: AlertStatus;
  by: string;
  note?: string;
  at: string;
}

/** An alert as stored: what the engine raised plus its lifecycle. */
export interface AlertRecord extends DetectionAlert {
  status: AlertStatus;
  /** When the store first saved it (wall clock). */
  createdAt: string;
  updatedAt: string;
  acknowledgedBy?: string;
  acknowledgedAt?: string;
  resolvedBy?: string;
  resolvedAt?: string;
  history: AlertHistoryEntry[];
}

const NEXT: Record<AlertStatus, Partial<Record<AlertAction, AlertStatus>>> = {
  open: { acknowledge: 'acknowledged', resolve: 'resolved' },
  acknowledged: { resolve: 'resolved' },
  resolved: {},
};

/** Why a transition was refused; `reason` is stable for mapping to problem types. */
export class InvalidAlertTransitionError extends Error {
  constructor(
    readonly reason: 'not-allowed' | 'note-required' | 'note-too-long' | 'actor-required' | 'bad-time',
    readonly from: AlertStatus | null,
    readonly action: AlertAction,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidAlertTransitionError';
  }
}

export class AlertNotFoundError extends Error {
  constructor(readonly alertId: string) {
    super(`alert ${alertId} does not exist`);
    this.name = 'AlertNotFoundError';
  }
}

/** The status an action leads to from `status`, or null when it is not allowed. */
export function nextAlertStatus(status: AlertStatus, action: AlertAction): AlertStatus | null {
  return NEXT[status][action] ?? null;
}

export function canTransition(status: AlertStatus, action: AlertAction): boolean {
  return nextAlertStatus(status, action) !== null;
}

/** A freshly raised alert as the store keeps it. */
export function newAlertRecord(alert: DetectionAlert, createdAt: string): AlertRecord {
  return { ...alert, status: 'open', createdAt, updatedAt: createdAt, history: [] };
}

/** The record after the transition; throws InvalidAlertTransitionError when it is not allowed. */
export function applyTransition(record: AlertRecord, request: AlertTransitionRequest): AlertRecord {
  const { action } = request;
  const to = nextAlertStatus(record.status, action);
  if (to === null) {
    const why = record.status === 'resolved' ? 'a resolved alert is final' : `an ${record.status} alert cannot be ${action}d`;
    throw new InvalidAlertTransitionError('not-allowed', record.status, action, why);
  }
  if (!request.by || request.by.trim() === '') {
    throw new InvalidAlertTransitionError('actor-required', record.status, action, 'the person making the change must be known');
  }
  if (Number.isNaN(Date.parse(request.at))) {
    throw new InvalidAlertTransitionError('bad-time', record.status, action, 'the transition time must be an RFC 3339 timestamp');
  }
  const note = request.note?.trim() || undefined;
  if (action === 'resolve' && note === undefined) {
    throw new InvalidAlertTransitionError('note-required', record.status, action, 'resolving an alert needs a note saying why');
  }
  if (note !== undefined && note.length > MAX_NOTE_LENGTH) {
    throw new InvalidAlertTransitionError('note-too-long', record.status, action, `a note holds at most ${MAX_NOTE_LENGTH} characters`);
  }
  const entry: AlertHistoryEntry = { action, from: record.status, to, by: request.by, at: request.at, ...(note ? { note } : {}) };
  const next: AlertRecord = { ...record, status: to, updatedAt: request.at, history: [...record.history, entry] };
  if (action === 'acknowledge') {
    next.acknowledgedBy = request.by;
    next.acknowledgedAt = request.at;
  } else {
    next.resolvedBy = request.by;
    next.resolvedAt = request.at;
  }
  return next;
}
