/**
 * DETECTION_STATE: where streaming detection keeps its progress, bound by the infrastructure module
 * (libs/infrastructure): the data dir's database (this instance always evaluates), or the shared
 * cluster with the lease that picks the one instance evaluating (detection-leadership.ts).
 * ALERT_OUTBOX: alerts an earlier version left in the instance's own database, shipped to the
 * shared alert store (alert-outbox.ts); null where the alert store is that database.
 */
import type { DetectionProgressStore } from './detection-progress-store.port';
import type { ClaimableProgress, LeaseLike } from './detection-leadership.port';

export const DETECTION_STATE = Symbol('DETECTION_STATE');
export const ALERT_OUTBOX = Symbol('ALERT_OUTBOX');

export type DetectionState =
  /** This instance alone evaluates (no lease). */
  | { progress: DetectionProgressStore; lease: null }
  /** Instances share the progress; the lease holder evaluates, the others stand by. */
  | { progress: DetectionProgressStore & ClaimableProgress & { onFenced?: () => void }; lease: LeaseLike };
