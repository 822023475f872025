/**
 * Alert lifecycle: open -> acknowledged -> resolved (or open -> resolved), resolved only leaves by
 * reopen, every step records who, when and the note; assign, comment and disposition.
 */
import { DetectionAlert } from './alert';
import { AlertRecord, applyTransition, canTransition, InvalidAlertTransitionError, newAlertRecord, nextAlertStatus } from './alert-lifecycle';

const alert = { id: 'a-1', ruleId: 'bulk-phi-read', severity: 'high' } as DetectionAlert;
const open = (): AlertRecord => newAlertRecord(alert, '2024-03-05T15:00:00.000Z');

function refusal(record: AlertRecord, request: Parameters<typeof applyTransition>[1]): InvalidAlertTransitionError {
  try {
    applyTransition(record, request);
  } catch (error) {
    if (error instanceof InvalidAlertTransitionError) return error;
    throw error;
  }
  throw new Error('transition was accepted');
}

describe('alert lifecycle', () => {
  it('starts open with no history', () => {
    expect(open()).toMatchObject({ id: 'a-1', status: 'open', createdAt: '2024-03-05T15:00:00.000Z', updatedAt: '2024-03-05T15:00:00.000Z', history: [] });
  });

  it('allows open -> acknowledged -> resolved, recording who, when and why', () => {
    const acked = applyTransition(open(), { action: 'acknowledge', by: 'analyst-1', note: 'looking', at: '2024-03-05T15:05:00.000Z' });
    expect(acked).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'analyst-1', acknowledgedAt: '2024-03-05T15:05:00.000Z', updatedAt: '2024-03-05T15:05:00.000Z' });
    const resolved = applyTransition(acked, { action: 'resolve', by: 'analyst-2', note: 'approved chart review', at: '2024-03-05T16:00:00.000Z' });
    expect(resolved).toMatchObject({ status: 'resolved', resolvedBy: 'analyst-2', acknowledgedBy: 'analyst-1' });
    expect(resolved.history).toEqual([
      { action: 'acknowledge', from: 'open', to: 'acknowledged', by: 'analyst-1', note: 'looking', at: '2024-03-05T15:05:00.000Z' },
      { action: 'resolve', from: 'acknowledged', to: 'resolved', by: 'analyst-2', note: 'approved chart review', at: '2024-03-05T16:00:00.000Z' },
    ]);
  });

  it('allows resolving straight from open and does not mutate its input', () => {
    const record = open();
    const resolved = applyTransition(record, { action: 'resolve', by: 'analyst-1', note: 'duplicate', at: '2024-03-05T15:01:00.000Z' });
    expect(resolved.status).toBe('resolved');
    expect(record.status).toBe('open');
    expect(record.history).toEqual([]);
  });

  it('refuses acting on a resolved alert until it is reopened, and a second acknowledgement', () => {
    const resolved = applyTransition(open(), { action: 'resolve', by: 'a', note: 'n', at: '2024-03-05T15:01:00.000Z' });
    expect(refusal(resolved, { action: 'acknowledge', by: 'a', at: '2024-03-05T15:02:00.000Z' })).toMatchObject({ reason: 'not-allowed', from: 'resolved', message: 'a resolved alert must be reopened before it can be acknowledged' });
    expect(refusal(resolved, { action: 'resolve', by: 'a', note: 'again', at: '2024-03-05T15:02:00.000Z' }).reason).toBe('not-allowed');
    const acked = applyTransition(open(), { action: 'acknowledge', by: 'a', at: '2024-03-05T15:01:00.000Z' });
    expect(refusal(acked, { action: 'acknowledge', by: 'b', at: '2024-03-05T15:02:00.000Z' }).reason).toBe('not-allowed');
  });

  it('needs a note to resolve, a known person, a valid time, and bounded notes', () => {
    expect(refusal(open(), { action: 'resolve', by: 'a', note: '  ', at: '2024-03-05T15:01:00.000Z' }).reason).toBe('note-required');
    expect(refusal(open(), { action: 'acknowledge', by: '', at: '2024-03-05T15:01:00.000Z' }).reason).toBe('actor-required');
    expect(refusal(open(), { action: 'acknowledge', by: 'a', at: 'soon' }).reason).toBe('bad-time');
    expect(refusal(open(), { action: 'acknowledge', by: 'a', note: 'x'.repeat(5000), at: '2024-03-05T15:01:00.000Z' }).reason).toBe('note-too-long');
  });

  it('answers which transitions exist', () => {
    expect(nextAlertStatus('open', 'acknowledge')).toBe('acknowledged');
    expect(nextAlertStatus('acknowledged', 'resolve')).toBe('resolved');
    expect(canTransition('acknowledged', 'acknowledge')).toBe(false);
    expect(canTransition('resolved', 'resolve')).toBe(false);
  });

  it('reopens a resolved alert with a note, clearing the resolution but keeping it in the history', () => {
    const resolved = applyTransition(open(), { action: 'resolve', by: 'a', note: 'ok', disposition: 'explained', at: '2024-03-05T15:01:00.000Z' });
    expect(resolved).toMatchObject({ status: 'resolved', disposition: 'explained', resolvedBy: 'a' });
    expect(refusal(resolved, { action: 'reopen', by: 'b', at: '2024-03-05T15:02:00.000Z' }).reason).toBe('note-required');
    const reopened = applyTransition(resolved, { action: 'reopen', by: 'b', note: 'new evidence', at: '2024-03-05T15:02:00.000Z' });
    expect(reopened.status).toBe('open');
    expect(reopened.disposition).toBeUndefined();
    expect(reopened.resolvedBy).toBeUndefined();
    expect(reopened.history.map((h) => [h.action, h.from, h.to, h.by, h.disposition])).toEqual([
      ['resolve', 'open', 'resolved', 'a', 'explained'],
      ['reopen', 'resolved', 'open', 'b', undefined],
    ]);
    expect(refusal(reopened, { action: 'reopen', by: 'b', note: 'x', at: '2024-03-05T15:03:00.000Z' })).toMatchObject({ reason: 'not-allowed', message: 'only a resolved alert can be reopened' });
  });

  it('assigns and unassigns without changing the status, comments in any status, and refuses a bad disposition', () => {
    const assigned = applyTransition(open(), { action: 'assign', by: 'lead', assignee: 'analyst-7', at: '2024-03-05T15:01:00.000Z' });
    expect(assigned).toMatchObject({ status: 'open', assignee: 'analyst-7', assignedAt: '2024-03-05T15:01:00.000Z' });
    const unassigned = applyTransition(assigned, { action: 'assign', by: 'lead', assignee: null, at: '2024-03-05T15:02:00.000Z' });
    expect(unassigned.assignee).toBeUndefined();
    expect(unassigned.history[1]).toMatchObject({ action: 'assign', assignee: null, by: 'lead' });
    expect(refusal(open(), { action: 'assign', by: 'lead', at: '2024-03-05T15:01:00.000Z' }).reason).toBe('bad-assignee');
    expect(refusal(open(), { action: 'comment', by: 'a', at: '2024-03-05T15:01:00.000Z' }).reason).toBe('note-required');
    const resolved = applyTransition(open(), { action: 'resolve', by: 'a', note: 'n', at: '2024-03-05T15:01:00.000Z' });
    expect(applyTransition(resolved, { action: 'comment', by: 'b', note: 'HR informed', at: '2024-03-05T15:05:00.000Z' }).status).toBe('resolved');
    expect(refusal(resolved, { action: 'assign', by: 'b', assignee: 'c', at: '2024-03-05T15:05:00.000Z' }).reason).toBe('not-allowed');
    expect(refusal(open(), { action: 'resolve', by: 'a', note: 'n', disposition: 'maybe' as never, at: '2024-03-05T15:01:00.000Z' }).reason).toBe('bad-disposition');
  });
});
