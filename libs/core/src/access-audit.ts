/**
 * The hook through which actions on the audit data itself (placing and releasing legal holds,
 * generating compliance reports, ...) are recorded in the access-audit trail ("every read of audit
 * data is itself recorded"). Features call an `AccessAuditSink`; whoever builds the trail provides
 * one globally under `ACCESS_AUDIT_SINK`. Without one, features log a PHI-free line only.
 *
 * An entry may name identifiers (the patient a report was about): the trail is PHI-grade storage.
 * Logs are not, so a sink must never log `target` values.
 */

export interface AccessAuditEntry {
  /** What was done, dot-separated and stable: `legal_hold.create`, `legal_hold.release`, `report.generate`. */
  action: string;
  /** Who did it: the authenticated principal. */
  actor: { sub: string; role: string; via?: string };
  /** RFC 3339 time the action was taken. */
  at: string;
  outcome: 'success' | 'failure' | 'denied';
  /** What it was about (hold id, report kind and query, ...): flat scalars. */
  target: Record<string, string | number | boolean | null>;
}

export interface AccessAuditSink {
  /**
   * Records one entry. A rejected promise means it could not be recorded: the caller then refuses
   * the action (fail closed) where it has not happened yet.
   */
  record(entry: AccessAuditEntry): Promise<void> | void;
}

export const ACCESS_AUDIT_SINK = Symbol('ACCESS_AUDIT_SINK');
