/** Unit tests of the pure retention planner: whole prefixes only, stops at young or held records, idempotent. */
import { DEFAULT_RETENTION_POLICY } from './retention-policy';
import { LegalHold } from './legal-hold';
import { PlannedRecord, planRetention } from './retention-plan';

const Y = 365.25 * 24 * 3600 * 1000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const recs = (n: number, at: (i: number) => number, extra: (i: number) => Partial<PlannedRecord> = () => ({})): PlannedRecord[] =>
  Array.from({ length: n }, (_, i) => ({ seq: i, receivedAt: new Date(at(i)).toISOString(), ...extra(i) }));

function hold(patient: string, status: 'active' | 'released' = 'active'): LegalHold {
  return {
    id: `h-${patient}`, status, patient, actor: null, from: null, to: null, reason: 'r', caseId: 'c', createdBy: 'u', createdByRole: 'admin',
    createdAt: '2026-01-01T00:00:00Z', releasedAt: null, releasedBy: null, releasedByRole: null, releaseNote: null,
  };
}

describe('planRetention', () => {
  const records = recs(10, (i) => T0 + i * 24 * 3600 * 1000); // one per day
  const chain = (category: string, purgedSize = 0, rs = records) => ({ chain: category, category, headSeq: 9, purgedSize, records: rs.filter((r) => r.seq >= purgedSize) });

  it('deletes nothing before the window ends', () => {
    const plan = planRetention({ policy: DEFAULT_RETENTION_POLICY, now: T0 + 5 * Y, chains: [chain('data_access'), chain('authentication')] });
    expect(plan.total).toBe(0);
    expect(plan.chains.map((c) => [c.toSeq, c.keptBecause, c.stopSeq])).toEqual([[0, 'too_young', 0], [0, 'too_young', 0]]);
  });

  it('deletes the prefix past the window, per category (6 vs 7 years)', () => {
    const now = Date.parse('2032-01-04T12:00:00Z'); // 6 years + 3.5 days after T0
    const plan = planRetention({ policy: DEFAULT_RETENTION_POLICY, now, chains: [chain('data_access'), chain('authentication')] });
    expect(plan.chains[0]).toMatchObject({ fromSeq: 0, toSeq: 4, count: 4, keptBecause: 'too_young', stopSeq: 4, firstReceivedAt: records[0].receivedAt, lastReceivedAt: records[3].receivedAt });
    expect(plan.chains[1].count).toBe(0);
    expect(plan.total).toBe(4);
  });

  it('deletes a whole chain when every record is past the window', () => {
    const plan = planRetention({ policy: DEFAULT_RETENTION_POLICY, now: T0 + 8 * Y, chains: [chain('authentication')] });
    expect(plan.chains[0]).toMatchObject({ toSeq: 10, count: 10, keptBecause: 'chain_end', stopSeq: null });
  });

  it('stops at the first held record (flag or active hold), never skipping over it', () => {
    const flagged = recs(10, (i) => T0 + i * 1000, (i) => ({ held: i === 3 }));
    const byHold = recs(10, (i) => T0 + i * 1000, (i) => ({ event: { occurredAt: '2026-01-01T00:00:00Z', actor: { id: 'a', type: 'user' }, patient: { id: i === 6 ? 'P-HELD' : 'P' } } as never }));
    const plan = planRetention({ policy: DEFAULT_RETENTION_POLICY, now: T0 + 8 * Y, holds: [hold('P-HELD')], chains: [chain('data_access', 0, flagged), chain('authentication', 0, byHold)] });
    expect(plan.chains.map((c) => [c.toSeq, c.keptBecause, c.stopSeq])).toEqual([[3, 'legal_hold', 3], [6, 'legal_hold', 6]]);
    const released = planRetention({ policy: DEFAULT_RETENTION_POLICY, now: T0 + 8 * Y, holds: [hold('P-HELD', 'released')], chains: [chain('authentication', 0, byHold)] });
    expect(released.chains[0].toSeq).toBe(10);
  });

  it('is idempotent: after the purge the same inputs plan nothing more', () => {
    const now = Date.parse('2032-01-04T12:00:00Z');
    const first = planRetention({ policy: DEFAULT_RETENTION_POLICY, now, chains: [chain('data_access')] });
    const again = planRetention({ policy: DEFAULT_RETENTION_POLICY, now, chains: [chain('data_access', first.chains[0].toSeq)] });
    expect(again.chains[0]).toMatchObject({ fromSeq: 4, toSeq: 4, count: 0 });
  });

  it('never purges chains that are not an event category, and stops at gaps in its input', () => {
    const plan = planRetention({
      policy: DEFAULT_RETENTION_POLICY,
      now: T0 + 8 * Y,
      chains: [
        { chain: 'access_log', category: 'access_log', headSeq: 9, purgedSize: 0, records },
        { chain: 'data_access', category: 'data_access', headSeq: 9, purgedSize: 0, records: records.filter((r) => r.seq !== 5) },
        { chain: 'security', category: 'security', headSeq: -1, purgedSize: 0, records: [] },
      ],
    });
    expect(plan.chains.map((c) => [c.toSeq, c.keptBecause])).toEqual([[0, 'not_a_category'], [5, 'too_young'], [0, 'chain_end']]);
  });
});
