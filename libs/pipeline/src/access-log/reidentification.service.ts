/**
 * Re-identification (`POST /v1/reidentify`, scope events:reidentify): turns a patient token back
 * into the patient id, for a stated reason, and records the call (who, token, reason, outcome) in the
 * access log before answering. Tokens are keyed HMACs and cannot be inverted: the id is found by
 * looking the token up in the store's token index and opening a record that carries it.
 */
import { FieldError, Problems, unknownMemberErrors } from '@app/core';
import type { PatientIdentifiers, Principal } from '@app/security';
import { EventStore } from '@app/storage';
import { AccessAuditService, accessPrincipal } from './access-audit.service';

export interface ReidentifyResult {
  token: string;
  patientId: string;
}

const MAX_REASON = 256;

export class ReidentificationService {
  constructor(
    private readonly store: EventStore,
    private readonly patients: Pick<PatientIdentifiers, 'token' | 'isToken'>,
    private readonly audit: Pick<AccessAuditService, 'recordAccess'>,
    private readonly minReasonLength = 10,
  ) {}

  async reidentify(principal: Principal, body: unknown, ip?: string): Promise<ReidentifyResult> {
    const { token, reason } = this.parse(body);
    const base = { action: 'patient.reidentify', principal: accessPrincipal(principal), route: 'POST /v1/reidentify', reason, ip, resource: { type: 'Patient' } };
    if (!this.store.patientTokenLookups) throw Problems.badRequest('This store cannot resolve patient tokens.');
    const page = await this.store.query({ patientToken: token, limit: 1 });
    const patientId = page.records[0]?.event.patient?.id;
    if (patientId === undefined || this.patients.token(patientId) !== token) {
      await this.audit.recordAccess({ ...base, patientToken: token, recordCount: 0, outcome: 'failure' });
      throw Problems.notFound('No stored event carries this patient token.');
    }
    await this.audit.recordAccess({ ...base, patientId, patientToken: token, recordCount: 1, outcome: 'success' });
    return { token, patientId };
  }

  private parse(body: unknown): { token: string; reason: string } {
    const errors: FieldError[] = [];
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw Problems.validation([{ pointer: '', message: 'must be an object { token, reason }' }], 'The request body is invalid.');
    const b = body as Record<string, unknown>;
    errors.push(...unknownMemberErrors(Object.keys(b), ['token', 'reason'], ''));
    if (typeof b.token !== 'string' || !this.patients.isToken(b.token)) errors.push({ pointer: '/token', message: 'must be a patient token (ptk_ followed by 24 base32 characters)' });
    // Counted in visible characters (issue 22): invisible and control characters, and white space
    // runs, do not make a reason; what is recorded is the reason as it reads.
    const reason = typeof b.reason === 'string' ? b.reason.normalize('NFKC').replace(/[\p{Cf}\p{Cc}]/gu, '').replace(/\s+/g, ' ').trim() : '';
    const visible = [...reason.replace(/[\s\p{P}\p{S}]/gu, '')].length;
    if (visible < Math.min(this.minReasonLength, 3) || reason.length < this.minReasonLength || reason.length > MAX_REASON) {
      errors.push({ pointer: '/reason', message: `must say why in words, ${this.minReasonLength} to ${MAX_REASON} visible characters` });
    }
    if (errors.length > 0) throw Problems.validation(errors, 'The request body is invalid.');
    return { token: b.token as string, reason };
  }
}
