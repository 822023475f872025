/** Legal holds: request validation and which records a hold covers (isHeld and friends). */
import { ProblemError } from '@app/core';
import { LegalHold, heldRecords, holdCovers, holdCriteriaKinds, holdsCovering, isHeld, parseLegalHoldRequest, parseReleaseRequest } from './legal-hold';

function hold(over: Partial<LegalHold>): LegalHold {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    status: 'active',
    patient: null,
    actor: null,
    from: null,
    to: null,
    reason: 'litigation',
    caseId: 'CASE-1',
    createdBy: 'u-1',
    createdByRole: 'compliance_officer',
    createdAt: '2026-01-01T00:00:00.000Z',
    releasedAt: null,
    releasedBy: null,
    releasedByRole: null,
    releaseNote: null,
    ...over,
  };
}

const event = (patient: string | undefined, actor: string, occurredAt: string) => ({ occurredAt, actor: { id: actor, type: 'user' as const }, patient: patient ? { id: patient } : undefined });

function errorsOf(fn: () => unknown): { pointer: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).status).toBe(400);
    return (err as ProblemError).body.errors ?? [];
  }
  throw new Error('expected a validation problem');
}

describe('legal hold requests', () => {
  it('accepts any combination of patient, actor and time range, normalizing times to UTC', () => {
    expect(parseLegalHoldRequest({ patient: 'P1', reason: 'r', caseId: 'C' })).toEqual({ patient: 'P1', actor: null, from: null, to: null, reason: 'r', caseId: 'C' });
    expect(parseLegalHoldRequest({ actor: 'dr-x', from: '2024-01-01', to: '2025-01-01T02:00:00+02:00', reason: 'r', caseId: 'C' })).toEqual({
      patient: null,
      actor: 'dr-x',
      from: '2024-01-01T00:00:00.000Z',
      to: '2025-01-01T00:00:00.000Z',
      reason: 'r',
      caseId: 'C',
    });
  });

  it('names every problem and never echoes values', () => {
    expect(errorsOf(() => parseLegalHoldRequest({ reason: 'r', caseId: 'C' }))).toEqual([{ pointer: '', message: 'a hold needs at least one of patient, actor, from, to' }]);
    const unknownKey = errorsOf(() => parseLegalHoldRequest({ patient: 'P-SECRET', 'MRN-4411': 1 }));
    expect(unknownKey.map((e) => e.pointer)).toEqual(['', '/reason', '/caseId']);
    expect(unknownKey[0]!.message).toContain('the 2nd member');
    expect(JSON.stringify(unknownKey)).not.toContain('MRN-4411');
    expect(errorsOf(() => parseLegalHoldRequest({ patient: 'P-SECRET', from: 'last year', reason: 'r', caseId: 'C' })).map((e) => e.pointer)).toEqual(['/from']);
    expect(errorsOf(() => parseLegalHoldRequest({ from: '2025-01-01', to: '2024-01-01', reason: 'r', caseId: 'C' })).map((e) => e.pointer)).toEqual(['/to']);
    expect(errorsOf(() => parseLegalHoldRequest({ patient: '', reason: 'r', caseId: 'C' })).map((e) => e.pointer)).toEqual(['/patient']);
    expect(JSON.stringify(errorsOf(() => parseLegalHoldRequest({ patient: 'P-SECRET', from: 'x' })))).not.toContain('P-SECRET');
    expect(errorsOf(() => parseLegalHoldRequest('patient')).map((e) => e.pointer)).toEqual(['']);
    expect(errorsOf(() => parseReleaseRequest({})).map((e) => e.pointer)).toEqual(['/note']);
    expect(parseReleaseRequest({ note: 'case closed' })).toEqual({ note: 'case closed' });
  });
});

describe('which records a hold covers', () => {
  const a = event('P1', 'dr-a', '2024-06-01T00:00:00Z');
  const b = event('P2', 'dr-a', '2025-06-01T00:00:00Z');
  const c = event(undefined, 'dr-b', '2024-06-01T00:00:00Z');

  it('every criterion the hold sets must match', () => {
    expect(holdCovers(hold({ patient: 'P1' }), a)).toBe(true);
    expect(holdCovers(hold({ patient: 'P1' }), b)).toBe(false);
    expect(holdCovers(hold({ patient: 'P1' }), c)).toBe(false);
    expect(holdCovers(hold({ actor: 'dr-a' }), b)).toBe(true);
    expect(holdCovers(hold({ from: '2024-01-01T00:00:00.000Z', to: '2025-01-01T00:00:00.000Z' }), c)).toBe(true);
    expect(holdCovers(hold({ from: '2024-01-01T00:00:00.000Z', to: '2025-01-01T00:00:00.000Z' }), b)).toBe(false);
    expect(holdCovers(hold({ actor: 'dr-a', from: '2025-01-01T00:00:00.000Z' }), a)).toBe(false);
    expect(holdCovers(hold({ actor: 'dr-a', from: '2025-01-01T00:00:00.000Z' }), b)).toBe(true);
    // from inclusive, to exclusive
    expect(holdCovers(hold({ from: '2024-06-01T00:00:00.000Z' }), a)).toBe(true);
    expect(holdCovers(hold({ to: '2024-06-01T00:00:00.000Z' }), a)).toBe(false);
  });

  it('isHeld: any active hold; released holds hold nothing; works on stored records too', () => {
    const holds = [hold({ patient: 'P1', status: 'released' }), hold({ id: '2', actor: 'dr-b' })];
    expect(isHeld(a, holds)).toBe(false);
    expect(isHeld(c, holds)).toBe(true);
    expect(isHeld({ event: c }, holds)).toBe(true);
    expect(isHeld(a, [])).toBe(false);
    expect(heldRecords([a, b, c], holds)).toEqual([c]);
    expect(holdsCovering(c, holds).map((h) => h.id)).toEqual(['2']);
  });

  it('says which kinds of criteria a hold uses (for logs), never the values', () => {
    expect(holdCriteriaKinds(hold({ patient: 'P1', to: '2025-01-01T00:00:00.000Z' }))).toEqual(['patient', 'time']);
    expect(holdCriteriaKinds(hold({ actor: 'x' }))).toEqual(['actor']);
  });
});
