/**
 * The alert lifecycle and case work as pure functions: open -> acknowledged -> resolved (open ->
 * resolved is allowed too), and a resolved alert can be reopened (back to open, with a note saying
 * why). Beside the status: assign (to a person, or nobody), comment, and a disposition recorded when
 * resolving (true / false positive, explained by a care or business reason, duplicate, …). Every
 * change records who, when and why in the alert's history. Store adapters call applyTransition and
 * persist the result atomically.
 */
import { DetectionAlert } from './alert';

export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export const ALERT_ACTIONS = ['acknowledge', 'resolve', 'reopen', 'assign', 'comment'] as const;
export type AlertAction = (typeof ALERT_ACTIONS)[number];

/** What an analyst concluded when resolving (docs/case-work.md). */
export const DISPOSITIONS = ['true_positive', 'false_positive', 'explained', 'duplicate', 'inconclusive'] as const;
export type Disposition = (typeof DISPOSITIONS)[number];

export const MAX_NOTE_LENGTH = 4000;
export const MAX_ASSIGNEE_LENGTH = 256;

export interface AlertTransitionRequest {
  action: AlertAction;
  /** Who did it (token subject); never a patient identifier. */
  by: string;
  /** Required to resolve and reopen (why), and for a comment (its text); optional otherwise. */
  note?: string;
  /** RFC 3339. */
  at: string;
  /** assign: the person (token subject), or null to unassign. */
  assignee?: string | null;
  /** resolve: the conclusion (optional, recorded when given). */
  disposition?: Disposition;
}

export interface AlertHistoryEntry {
  action: AlertAction;
  from: AlertStatus;
  to: AlertStatus;
  by: string;
  note?: string;
  at: string;
  /** assign: who it was assigned to (null: unassigned). */
  assignee?: string | null;
  /** resolve: the disposition given. */
  disposition?: Disposition;
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
  /** Who works it now (absent: nobody). */
  assignee?: string;
  assignedAt?: string;
  /** Set when resolved with one; cleared by reopen (the history keeps it). */
  disposition?: Disposition;
  /** The case grouping this alert with the same user's other alerts (docs/case-work.md "Cases"). */
  caseId?: string;
  history: AlertHistoryEntry[];
}

const NEXT: Record<AlertStatus, Partial<Record<AlertAction, AlertStatus>>> = {
  open: { acknowledge: 'acknowledged', resolve: 'resolved', assign: 'open', comment: 'open' },
  acknowledged: { resolve: 'resolved', assign: 'acknowledged', comment: 'acknowledged' },
  resolved: { reopen: 'open', comment: 'resolved' },
};

const NEEDS_NOTE: Partial<Record<AlertAction, string>> = {
  resolve: 'resolving an alert needs a note saying why',
  reopen: 'reopening an alert needs a note saying why',
  comment: 'a comment needs its text (note)',
};

/** Why a transition was refused; `reason` is stable for mapping to problem types. */
export class InvalidAlertTransitionError extends Error {
  constructor(
    readonly reason: 'not-allowed' | 'note-required' | 'note-too-long' | 'actor-required' | 'bad-time' | 'bad-assignee' | 'bad-disposition',
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
    const why =
      record.status === 'resolved'
        ? `a resolved alert must be reopened before it can be ${pastTense(action)}`
        : action === 'reopen'
          ? 'only a resolved alert can be reopened'
          : `an ${record.status} alert cannot be ${pastTense(action)}`;
    throw new InvalidAlertTransitionError('not-allowed', record.status, action, why);
  }
  if (!request.by || request.by.trim() === '') {
    throw new InvalidAlertTransitionError('actor-required', record.status, action, 'the person making the change must be known');
  }
  if (Number.isNaN(Date.parse(request.at))) {
    throw new InvalidAlertTransitionError('bad-time', record.status, action, 'the transition time must be an RFC 3339 timestamp');
  }
  const note = request.note?.trim() || undefined;
  const needs = NEEDS_NOTE[action];
  if (needs && note === undefined) throw new InvalidAlertTransitionError('note-required', record.status, action, needs);
  if (note !== undefined && note.length > MAX_NOTE_LENGTH) {
    throw new InvalidAlertTransitionError('note-too-long', record.status, action, `a note holds at most ${MAX_NOTE_LENGTH} characters`);
  }
  const entry: AlertHistoryEntry = { action, from: record.status, to, by: request.by, at: request.at, ...(note ? { note } : {}) };
  const next: AlertRecord = { ...record, status: to, updatedAt: request.at };
  switch (action) {
    case 'acknowledge':
      next.acknowledgedBy = request.by;
      next.acknowledgedAt = request.at;
      break;
    case 'resolve':
      if (request.disposition !== undefined) {
        if (!(DISPOSITIONS as readonly string[]).includes(request.disposition)) {
          throw new InvalidAlertTransitionError('bad-disposition', record.status, action, `the disposition must be one of ${DISPOSITIONS.join(', ')}`);
        }
        next.disposition = request.disposition;
        entry.disposition = request.disposition;
      }
      next.resolvedBy = request.by;
      next.resolvedAt = request.at;
      break;
    case 'reopen':
      delete next.resolvedBy;
      delete next.resolvedAt;
      delete next.disposition;
      break;
    case 'assign': {
      const assignee = request.assignee === null ? null : request.assignee?.trim();
      if (assignee === undefined || assignee === '' || (assignee !== null && assignee.length > MAX_ASSIGNEE_LENGTH)) {
        throw new InvalidAlertTransitionError('bad-assignee', record.status, action, `the assignee must be a person (1 to ${MAX_ASSIGNEE_LENGTH} characters) or null`);
      }
      if (assignee === null) {
        delete next.assignee;
        delete next.assignedAt;
      } else {
        next.assignee = assignee;
        next.assignedAt = request.at;
      }
      entry.assignee = assignee;
      break;
    }
    case 'comment':
      break;
  }
  next.history = [...record.history, entry];
  return next;
}

function pastTense(action: AlertAction): string {
  return { acknowledge: 'acknowledged', resolve: 'resolved', reopen: 'reopened', assign: 'assigned', comment: 'commented on' }[action];
}
