/** Who an alert is about, and case summaries: the pure half of grouping alerts into cases. */
import { DetectionAlert } from './alert';
import { alertActor, alertPatientIds, caseIdFor, summarizeCase, summarizeCases } from './alert-cases';
import { AlertRecord } from './alert-lifecycle';

function record(n: number, fields: Partial<AlertRecord> = {}): AlertRecord {
  const end = new Date(Date.parse('2026-03-03T10:00:00Z') + n * 60_000).toISOString();
  return {
    id: `00000000-0000-8000-8000-${String(n).padStart(12, '0')}`,
    ruleId: 'break-glass-access',
    severity: 'medium',
    groupKey: { 'actor.id': 'dr-a' },
    windowStart: end,
    windowEnd: end,
    summary: { topPatients: [], actors: ['dr-a'], distinctActors: 1 },
    status: 'open',
    createdAt: end,
    updatedAt: end,
    history: [],
    ...fields,
  } as unknown as AlertRecord;
}

describe('alertActor / alertPatientIds', () => {
  it('takes the alert actor, else the actor.id group value, else the only actor of the evidence', () => {
    expect(alertActor({ actor: 'dr-x', groupKey: { 'actor.id': 'dr-y' } } as unknown as DetectionAlert)).toBe('dr-x');
    expect(alertActor({ groupKey: { 'actor.id': 'dr-y' } } as unknown as DetectionAlert)).toBe('dr-y');
    expect(alertActor({ groupKey: { 'tls.clientSubject': 'CN=x' }, summary: { actors: ['svc'], distinctActors: 1 } } as unknown as DetectionAlert)).toBe('svc');
    // Grouped by source IP over many accounts: about no single user, so in no case.
    expect(alertActor({ groupKey: { 'actor.ip': '10.0.0.1' }, summary: { actors: ['a', 'b'], distinctActors: 2 } } as unknown as DetectionAlert)).toBeUndefined();
  });

  it('lists the patients an alert names: its own, its group value and the most-touched ones, once each', () => {
    const alert = { patient: 'MRN-1', groupKey: { 'patient.id': 'MRN-1' }, summary: { topPatients: [{ patientId: 'MRN-2', count: 3 }, { patientId: 'MRN-1', count: 1 }] } } as unknown as DetectionAlert;
    expect(alertPatientIds(alert).sort()).toEqual(['MRN-1', 'MRN-2']);
  });

  it('derives a stable UUID-shaped case id from the alert that opens the case', () => {
    expect(caseIdFor('a-1')).toBe(caseIdFor('a-1'));
    expect(caseIdFor('a-1')).not.toBe(caseIdFor('a-2'));
    expect(caseIdFor('a-1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('summarizeCase', () => {
  it('is open while any alert is unresolved, with counts, highest severity, rules and assignees', () => {
    const c = summarizeCase('c-1', [
      record(1, { status: 'resolved', severity: 'high', ruleId: 'same-surname' }),
      record(2, { assignee: 'raj' }),
      record(3, { severity: 'low', assignee: 'jane' }),
    ]);
    expect(c).toMatchObject({ id: 'c-1', actor: 'dr-a', status: 'open', alertCount: 3, openAlertCount: 2, severity: 'high', rules: ['break-glass-access', 'same-surname'], assignees: ['jane', 'raj'] });
    expect(c.openedAt).toBe(record(1).createdAt);
    expect(c.lastAlertAt).toBe(record(3).windowEnd);
  });

  it('is resolved once every alert is, and lists cases newest activity first', () => {
    expect(summarizeCase('c-1', [record(1, { status: 'resolved' })]).status).toBe('resolved');
    const cases = summarizeCases([record(1, { caseId: 'old' }), record(5, { caseId: 'new' }), record(2, { caseId: 'old' }), record(9)]);
    expect(cases.map((c) => [c.id, c.alertCount])).toEqual([
      ['new', 1],
      ['old', 2],
    ]);
  });
});
