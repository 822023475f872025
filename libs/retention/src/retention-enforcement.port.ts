/**
 * What enforces retention and legal holds outside the run service where the events are in a
 * cluster (STORE=elasticsearch), bound by the infrastructure module (null on the embedded store):
 * LEGAL_HOLD_ENFORCEMENT keeps held backing indices on the ILM hold policy (run before placements
 * and releases are answered, and on the retention schedule); ES_RETENTION_RUNNER deletes expired
 * backing indices after recording their chains' purged prefixes.
 */
import { Logger } from '@nestjs/common';
import type { EsRetentionRunner, HoldReconcileReport } from '@app/storage/scale-out-adapters';
import type { LegalHoldEnforcement } from './legal-hold.service';

export const LEGAL_HOLD_ENFORCEMENT = Symbol('LEGAL_HOLD_ENFORCEMENT');
export const ES_RETENTION_RUNNER = Symbol('ES_RETENTION_RUNNER');
/** Where the cluster's retention runs are recorded (null on the embedded store: retention_runs in the database). */
export const ES_RETENTION_RUN_RECORDS = Symbol('ES_RETENTION_RUN_RECORDS');

export interface HoldReconcileRunner extends LegalHoldEnforcement {
  reconcile(): Promise<HoldReconcileReport>;
}

export type { EsRetentionRunner };

const holdLogger = new Logger('LegalHolds');

/** What a reconcile changed: index names and counts only (never hold criteria). */
export function logHoldReconcile(r: HoldReconcileReport): void {
  holdLogger.log(
    JSON.stringify({ msg: 'legal holds reconciled', activeHolds: r.activeHolds, heldIndices: r.heldIndices, switchedToHold: r.switchedToHold, restored: r.restored.map((x) => x.index) }),
  );
  if (r.inDeletePhase.length > 0) {
    holdLogger.warn(JSON.stringify({ msg: 'held indices already in the ILM delete phase; check GET <index>/_ilm/explain', indices: r.inDeletePhase }));
  }
}
