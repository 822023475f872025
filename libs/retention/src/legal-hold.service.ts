/**
 * Legal hold use cases behind `/v1/retention/holds`: place a hold (validated, authored by the
 * caller), list holds (active and released), release one with a note. Placing and releasing are
 * recorded through the access-audit hook. No framework or driver code: the store is a port.
 */
import { randomUUID } from 'node:crypto';
import { AccessAuditSink, canonicalPatientId, matchEnum, ProblemError, Problems, unknownMemberErrors } from '@app/core';
import { isPatientToken } from '@app/security/patient-tokenizer';
import { LEGAL_HOLD_STATUSES, LegalHold, LegalHoldStatus, holdCriteriaKinds, parseLegalHoldRequest, parseReleaseRequest } from './legal-hold';
import { LegalHoldAlreadyReleasedError, LegalHoldNotFoundError, LegalHoldStore } from './legal-hold-store.port';

/** Who is acting (the authenticated principal's subject and role). */
export interface HoldActor {
  sub: string;
  role: string;
  via?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Who is reading a hold: like the events endpoint, only callers with `events:identified` see the
 * patient id; others see the patient's token (the same token event queries show them).
 */
export interface HoldViewer {
  identified: boolean;
}

/**
 * Makes the stored holds effective where the store itself cannot (Elasticsearch: ILM deletes
 * whole backing indices, so held ones are switched to a policy without a delete phase). Called
 * after every placement and release, before the API answers.
 */
export interface LegalHoldEnforcement {
  applyHolds(): Promise<void>;
}

export class LegalHoldService {
  constructor(
    private readonly store: LegalHoldStore,
    private readonly audit: AccessAuditSink,
    private readonly now: () => Date = () => new Date(),
    private readonly newId: () => string = randomUUID,
    private readonly patientToken?: (patientId: string) => string,
    private readonly enforcement?: LegalHoldEnforcement,
    /** Turns a patient token given as the hold's patient back into the id (the store's token index); null when unknown. */
    private readonly resolvePatientToken?: (token: string) => Promise<string | null>,
  ) {}

  /** Applies the holds (enforcement); a failure is a 503 naming the stored hold (applied again by the next run). */
  private async enforce(holdId: string, what: 'placed' | 'released'): Promise<void> {
    if (!this.enforcement) return;
    try {
      await this.enforcement.applyHolds();
    } catch {
      throw Problems.unavailable(
        `Legal hold ${holdId} was ${what} and recorded, but could not be applied to the store yet; it is applied again on the retention schedule. Check the store and GET /v1/retention/holds/${holdId}.`,
        30,
      );
    }
  }

  /** The hold as this viewer may see it (patient id or its token). */
  present(hold: LegalHold, viewer?: HoldViewer): LegalHold {
    if (!viewer || viewer.identified || hold.patient === null || !this.patientToken || isPatientToken(hold.patient)) return hold;
    return { ...hold, patient: this.patientToken(hold.patient) };
  }

  async create(body: unknown, by: HoldActor, viewer?: HoldViewer): Promise<LegalHold> {
    const req = parseLegalHoldRequest(body);
    // One spelling per patient (issue 22): a token is held as the patient it stands for, so it covers
    // the patient's records and reads back as the same token, or as the id with events:identified.
    if (req.patient !== null) req.patient = await this.patientIdOf(req.patient);
    const hold: LegalHold = {
      id: this.newId(),
      status: 'active',
      ...req,
      createdBy: by.sub,
      createdByRole: by.role,
      createdAt: this.now().toISOString(),
      releasedAt: null,
      releasedBy: null,
      releasedByRole: null,
      releaseNote: null,
    };
    await this.store.create(hold);
    await this.audit.record({
      action: 'legal_hold.create',
      actor: { sub: by.sub, role: by.role, via: by.via },
      at: hold.createdAt,
      outcome: 'success',
      target: { holdId: hold.id, criteria: holdCriteriaKinds(hold).join(','), caseId: hold.caseId, patient: hold.patient, actorId: hold.actor, from: hold.from, to: hold.to },
    });
    await this.enforce(hold.id, 'placed');
    return this.present(hold, viewer);
  }

  private async patientIdOf(patient: string): Promise<string> {
    if (!isPatientToken(patient)) return canonicalPatientId(patient);
    const id = this.resolvePatientToken ? await this.resolvePatientToken(patient) : null;
    if (id === null) {
      throw Problems.validation([{ pointer: '/patient', message: 'is a patient token no stored event carries; give the patient id, or a token the service issued' }], 'The legal hold request is invalid.');
    }
    return id;
  }

  async list(params: Record<string, unknown> = {}, viewer?: HoldViewer): Promise<{ holds: LegalHold[] }> {
    let status: LegalHoldStatus | undefined;
    for (const [key, value] of Object.entries(params)) {
      if (key !== 'status') throw Problems.validation(unknownMemberErrors(Object.keys(params), ['status'], '/query', 'parameter'), 'The query parameters are invalid.');
      // Enum filters are case-insensitive, as everywhere in the API (docs/case-work.md "Filters").
      status = typeof value === 'string' ? matchEnum(value, LEGAL_HOLD_STATUSES) : undefined;
      if (status === undefined) {
        throw Problems.validation([{ pointer: '/query/status', message: `must be one of ${LEGAL_HOLD_STATUSES.join(', ')} (any case)` }], 'The query parameters are invalid.');
      }
    }
    return { holds: (await this.store.list(status)).map((h) => this.present(h, viewer)) };
  }

  async get(id: string, viewer?: HoldViewer): Promise<LegalHold> {
    const hold = UUID.test(id) ? await this.store.get(id) : null;
    if (!hold) throw Problems.notFound('No legal hold with this id.');
    return this.present(hold, viewer);
  }

  async release(id: string, body: unknown, by: HoldActor, viewer?: HoldViewer): Promise<LegalHold> {
    const { note } = parseReleaseRequest(body);
    if (!UUID.test(id)) throw Problems.notFound('No legal hold with this id.');
    // Separation of duties (issue 22): only the role that placed a hold releases it (an admin cannot
    // lift a compliance officer's hold and then run retention over the records it protected).
    const placed = await this.store.get(id);
    if (placed && placed.status === 'active' && placed.createdByRole !== by.role) {
      await this.audit.record({
        action: 'legal_hold.release',
        actor: { sub: by.sub, role: by.role, via: by.via },
        at: this.now().toISOString(),
        outcome: 'denied',
        target: { holdId: placed.id, criteria: holdCriteriaKinds(placed).join(','), caseId: placed.caseId },
      });
      throw new ProblemError(403, 'legal-hold-release-not-allowed', 'Forbidden', {
        detail: `This legal hold was placed by the role ${placed.createdByRole}; only that role may release it.`,
      });
    }
    const at = this.now().toISOString();
    let hold: LegalHold;
    try {
      hold = await this.store.release(id, { releasedAt: at, releasedBy: by.sub, releasedByRole: by.role, releaseNote: note });
    } catch (err) {
      if (err instanceof LegalHoldNotFoundError) throw Problems.notFound('No legal hold with this id.');
      if (err instanceof LegalHoldAlreadyReleasedError) throw Problems.conflict('legal-hold-released', 'This legal hold was already released; a release is never overwritten.');
      throw err;
    }
    await this.audit.record({
      action: 'legal_hold.release',
      actor: { sub: by.sub, role: by.role, via: by.via },
      at,
      outcome: 'success',
      target: { holdId: hold.id, criteria: holdCriteriaKinds(hold).join(','), caseId: hold.caseId },
    });
    await this.enforce(hold.id, 'released');
    return this.present(hold, viewer);
  }
}
