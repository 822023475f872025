/**
 * The access-audit sink compliance features use: logs one PHI-free line per action (action,
 * outcome, role and a short list of non-identifying target fields), then hands the full entry to
 * the access-audit trail when one is plugged in (ACCESS_AUDIT_SINK). Identifiers in the entry
 * (patient, searched actor, case id, who) go to the trail only, never to the log.
 */
import { Logger } from '@nestjs/common';
import { AccessAuditEntry, AccessAuditSink } from '@app/core';

/** Target fields that identify nobody and may be logged. */
const LOGGABLE_TARGET_KEYS = ['holdId', 'criteria', 'kind', 'format'] as const;

export class LoggingAccessAuditSink implements AccessAuditSink {
  private readonly logger = new Logger('ComplianceAudit');

  constructor(private readonly trail: AccessAuditSink | null) {}

  async record(entry: AccessAuditEntry): Promise<void> {
    const fields = [`action=${entry.action}`, `outcome=${entry.outcome}`, `role=${entry.actor.role}`];
    for (const key of LOGGABLE_TARGET_KEYS) {
      const v = entry.target[key];
      if (v !== undefined && v !== null && v !== '') fields.push(`${key}=${String(v)}`);
    }
    fields.push(`trail=${this.trail ? 'recorded' : 'not-configured'}`);
    if (this.trail) await this.trail.record(entry);
    this.logger.log(`audit ${fields.join(' ')}`);
  }
}
