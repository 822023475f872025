/** Legal hold use cases with the store and the audit trail replaced by typed fakes. */
import { AccessAuditEntry, ProblemError } from '@app/core';
import { LegalHold, LegalHoldStatus } from './legal-hold';
import { HoldCoverage, HoldRelease, LegalHoldAlreadyReleasedError, LegalHoldNotFoundError, LegalHoldStore } from './legal-hold-store.port';
import { LegalHoldService } from './legal-hold.service';

class FakeHoldStore implements LegalHoldStore {
  readonly holds = new Map<string, LegalHold>();
  async create(h: LegalHold) {
    this.holds.set(h.id, { ...h });
  }
  async get(id: string) {
    return this.holds.get(id) ?? null;
  }
  async list(status?: LegalHoldStatus) {
    return [...this.holds.values()].filter((h) => !status || h.status === status).reverse();
  }
  async release(id: string, r: HoldRelease) {
    const h = this.holds.get(id);
    if (!h) throw new LegalHoldNotFoundError(id);
    if (h.status === 'released') throw new LegalHoldAlreadyReleasedError(id);
    const out = { ...h, status: 'released' as const, ...r };
    this.holds.set(id, out);
    return out;
  }
  async coverage(): Promise<HoldCoverage> {
    throw new Error('not used');
  }
}

const UUIDS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];

describe('LegalHoldService', () => {
  let store: FakeHoldStore;
  let audit: AccessAuditEntry[];
  let service: LegalHoldService;
  const officer = { sub: 'u-officer', role: 'compliance_officer', via: 'token' };

  beforeEach(() => {
    store = new FakeHoldStore();
    audit = [];
    let n = 0;
    service = new LegalHoldService(store, { record: (e) => void audit.push(e) }, () => new Date('2026-04-01T12:00:00Z'), () => UUIDS[n++]);
  });

  it('places a hold authored by the caller and records it in the audit trail', async () => {
    const h = await service.create({ patient: 'P1', from: '2024-01-01', reason: 'subpoena', caseId: 'CASE-9' }, officer);
    expect(h).toEqual({
      id: UUIDS[0],
      status: 'active',
      patient: 'P1',
      actor: null,
      from: '2024-01-01T00:00:00.000Z',
      to: null,
      reason: 'subpoena',
      caseId: 'CASE-9',
      createdBy: 'u-officer',
      createdByRole: 'compliance_officer',
      createdAt: '2026-04-01T12:00:00.000Z',
      releasedAt: null,
      releasedBy: null,
      releasedByRole: null,
      releaseNote: null,
    });
    expect(audit).toEqual([
      {
        action: 'legal_hold.create',
        actor: officer,
        at: '2026-04-01T12:00:00.000Z',
        outcome: 'success',
        target: { holdId: UUIDS[0], criteria: 'patient,time', caseId: 'CASE-9', patient: 'P1', actorId: null, from: '2024-01-01T00:00:00.000Z', to: null },
      },
    ]);
  });

  it('releases once with a note (audited); a second release is 409, an unknown id 404', async () => {
    await service.create({ actor: 'dr-x', reason: 'r', caseId: 'C' }, officer);
    // Separation of duties: another role may not release it (refusal audited), the placing role may.
    await expect(service.release(UUIDS[0], { note: 'settled' }, { sub: 'u-admin', role: 'admin' })).rejects.toMatchObject({ status: 403 });
    const released = await service.release(UUIDS[0], { note: 'settled' }, { sub: 'u-officer-2', role: officer.role });
    expect(released).toMatchObject({ status: 'released', releasedBy: 'u-officer-2', releasedByRole: officer.role, releaseNote: 'settled', releasedAt: '2026-04-01T12:00:00.000Z' });
    expect(audit.map((a) => [a.action, a.outcome])).toEqual([['legal_hold.create', 'success'], ['legal_hold.release', 'denied'], ['legal_hold.release', 'success']]);
    await expect(service.release(UUIDS[0], { note: 'again' }, officer)).rejects.toMatchObject({ status: 409 });
    await expect(service.release(UUIDS[1], { note: 'n' }, officer)).rejects.toMatchObject({ status: 404 });
    await expect(service.release('not-a-uuid', { note: 'n' }, officer)).rejects.toMatchObject({ status: 404 });
    await expect(service.release(UUIDS[0], {}, officer)).rejects.toMatchObject({ status: 400 });
    expect(audit).toHaveLength(3);
  });

  it('lists active and released holds, filtered by status; refuses unknown parameters', async () => {
    await service.create({ patient: 'P1', reason: 'r', caseId: 'C1' }, officer);
    await service.create({ patient: 'P2', reason: 'r', caseId: 'C2' }, officer);
    await service.release(UUIDS[0], { note: 'n' }, officer);
    expect((await service.list()).holds.map((h) => h.caseId)).toEqual(['C2', 'C1']);
    expect((await service.list({ status: 'active' })).holds.map((h) => h.caseId)).toEqual(['C2']);
    expect((await service.list({ status: 'released' })).holds.map((h) => h.caseId)).toEqual(['C1']);
    await expect(service.list({ status: 'open' })).rejects.toBeInstanceOf(ProblemError);
    await expect(service.list({ limit: '5' })).rejects.toBeInstanceOf(ProblemError);
  });

  it('an invalid request stores nothing and records nothing', async () => {
    await expect(service.create({ reason: 'r', caseId: 'C' }, officer)).rejects.toMatchObject({ status: 400 });
    expect(store.holds.size).toBe(0);
    expect(audit).toHaveLength(0);
  });
});
