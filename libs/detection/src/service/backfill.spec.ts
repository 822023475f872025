/**
 * Backfill (`auditctl detect --from`) rebuilds the learned baselines from the replayed events
 * before judging each one: a day clerk's week of daytime work, then a 03:00 read of a patient
 * nobody links him to, raises outside-usual-hours in a backfill exactly as streaming would; and a
 * backfill that starts after the history has nothing learned and stays quiet.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { EventTimeRange, PositionedEvent } from '@app/storage';
import { DetectionEngine } from '../detection-engine';
import { loadRules } from '../rule-loader';
import { runBackfill } from './backfill';
import { SqliteAlertStore } from './sqlite-alert-store';

const rules = loadRules(path.resolve(__dirname, '../../../../detection-rules'));
const DAY = 86_400_000;
const start = Date.parse('2024-03-04T10:00:00Z');

let n = 0;
function read(at: number, patient: string): AccessEvent {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    occurredAt: new Date(at).toISOString(),
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'clerk-dan', type: 'user', role: 'registration_clerk' },
    patient: { id: patient },
    source: { system: 'ehr', integration: 'ehr-gateway' },
  };
}

const events: PositionedEvent[] = [
  ...Array.from({ length: 7 }, (_, d) => read(start + d * DAY, `MRN-${d}`)),
  read(Date.parse('2024-03-11T03:00:00Z'), 'MRN-77'),
].map((event, position) => ({ position, event, receivedAt: event.occurredAt }));

const source = {
  readSince: async (after: number, limit: number, range?: EventTimeRange) =>
    events.filter((e) => e.position > after && (!range || (Date.parse(e.event.occurredAt) >= range.fromMs! && Date.parse(e.event.occurredAt) < (range.toMs ?? Infinity)))).slice(0, limit),
  lastPosition: async () => events.length - 1,
};

describe('backfill rebuilds baselines', () => {
  it('learns the history it replays, then judges the night read against it', async () => {
    const alerts = new SqliteAlertStore(new Database(':memory:'));
    const summary = await runBackfill(new DetectionEngine(rules), source, alerts);
    expect(summary.rules.filter((r) => r.raised > 0).map((r) => [r.ruleId, r.raised])).toEqual([['outside-usual-hours', 1]]);
    const [alert] = (await alerts.list({ limit: 10 })).alerts;
    expect(alert).toMatchObject({ ruleId: 'outside-usual-hours', reasons: ['outside-usual-hours'], actor: 'clerk-dan', patient: 'MRN-77' });
  });

  it('from a time after the history: nothing learned, nothing raised', async () => {
    const alerts = new SqliteAlertStore(new Database(':memory:'));
    const summary = await runBackfill(new DetectionEngine(rules), source, alerts, { range: { fromMs: Date.parse('2024-03-11T00:00:00Z') } });
    expect(summary).toMatchObject({ evaluated: 1, raised: 0 });
  });
});
