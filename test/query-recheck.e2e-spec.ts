/**
 * Queries re-check what they return (issue 15): a tamperer with file access who drops the
 * triggers and changes a derived column (`actor_id`, what "who opened this record?" filters on)
 * cannot get a quiet wrong answer. A search that would return the tampered row fails with a
 * problem naming integrity as broken (chain, seq, column; no record content), which also makes the
 * break known (readiness 503, one integrity-break alert); while a break is known, searches and
 * reports are refused, so the query by the original value fails loudly instead of finding nothing.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import { startTestApp } from './support/test-app';

const CHAIN = 'data_access';
/** No scheduled verification: only the query path can notice the tampering. */
const NO_SCHEDULE = { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, verifyOnStartRecords: 0, verifyIntervalSeconds: 0, verifyFullIntervalHours: 0 };

function tamper(dir: string, sql: string): void {
  const db = new Database(path.join(dir, 'audit.db'));
  for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name GLOB 'events_p[0-9]*'").all() as { name: string }[]) db.exec(`DROP TRIGGER ${name}`);
  db.exec(sql);
  db.close();
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

describe('queries re-check the records they return', () => {
  it('a search that would return a row with a tampered actor_id fails loudly; the break is then known and the original search fails too', async () => {
    const t = await startTestApp({ integrity: NO_SCHEDULE });
    try {
      const officer = await t.client('compliance_officer');
      const events = Array.from({ length: 6 }, (_, i) => accessEvent({ actor: { id: i === 3 ? 'dr-insider' : 'dr-other', type: 'user' }, patient: { id: `MRN-RECHECK-${i}` } }));
      expect((await (await t.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
      const before = JSON.parse((await officer.request('GET', '/v1/events?actor=dr-insider')).body) as { events: { receipt: { seq: number } }[] };
      expect(before.events).toHaveLength(1);
      const seq = before.events[0].receipt.seq;

      // The insider hides the access: the hashed record still says dr-insider, the index column does not.
      tamper(t.dataDir, `UPDATE events SET actor_id = 'dr-decoy' WHERE chain = '${CHAIN}' AND seq = ${seq}`);
      const byForged = await officer.request('GET', '/v1/events?actor=dr-decoy');
      expect(byForged.status).toBe(500);
      expect(byForged.headers['content-type']).toContain('application/problem+json');
      const problem = JSON.parse(byForged.body) as Problem;
      expect(problem).toMatchObject({ type: expect.stringMatching(/\/integrity-broken$/), title: 'Audit log integrity is broken' });
      expect(problem.detail).toContain(`chain ${CHAIN} seq ${seq}`);
      expect(problem.detail).toContain('actor_id');
      expect(byForged.body).not.toMatch(/dr-insider|dr-decoy|MRN-RECHECK/);

      // Now known: the search by the original value fails loudly too (it would have found nothing).
      const byOriginal = await officer.request('GET', '/v1/events?actor=dr-insider');
      expect(byOriginal.status).toBe(500);
      expect((JSON.parse(byOriginal.body) as Problem).detail).toContain(`chain ${CHAIN} seq ${seq} kind modified column actor_id`);
      const report = await officer.request('GET', '/v1/reports/user-activity?actor=dr-insider&from=2020-01-01&to=2100-01-01');
      expect(report.status).toBe(500);
      expect(report.body).toContain('integrity-broken');

      const ready = await (await t.client(null)).request('GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).reason).toContain(`chain ${CHAIN} seq ${seq} kind modified column actor_id`);
      const alerts = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/alerts?rule=integrity-break')).body).alerts as { groupKey: unknown }[];
      expect(alerts.map((a) => a.groupKey)).toEqual([{ chain: CHAIN, seq, kind: 'modified', column: 'actor_id' }]);
      // Ingestion goes on.
      expect((await (await t.client('integration')).request('POST', '/v1/events', accessEvent())).status).toBe(202);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('reading the tampered event by id fails loudly; untouched events still read', async () => {
    const t = await startTestApp({ integrity: NO_SCHEDULE });
    try {
      const officer = await t.client('compliance_officer');
      const events = [accessEvent({ patient: { id: 'MRN-BYID-1' } }), accessEvent({ patient: { id: 'MRN-BYID-2' } })];
      expect((await (await t.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
      const ok = await officer.request('GET', `/v1/events/${events[1].id}`);
      expect(ok.status).toBe(200);
      const seq = (JSON.parse((await officer.request('GET', `/v1/events/${events[0].id}`)).body) as { receipt: { seq: number } }).receipt.seq;
      tamper(t.dataDir, `UPDATE events SET outcome = 'failure' WHERE chain = '${CHAIN}' AND seq = ${seq}`);
      const res = await officer.request('GET', `/v1/events/${events[0].id}`);
      expect(res.status).toBe(500);
      expect((JSON.parse(res.body) as Problem).detail).toContain(`seq ${seq}) has its outcome column changed`);
      expect((await officer.request('GET', `/v1/events/${events[1].id}`)).status).toBe(200);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('a break found by the verification at start refuses searches (the query by the original value fails loudly)', async () => {
    const first = await startTestApp();
    const events = Array.from({ length: 4 }, () => accessEvent({ actor: { id: 'dr-startup', type: 'user' } }));
    expect((await (await first.client('integration')).request('POST', '/v1/events', { events })).status).toBe(202);
    await first.close();
    tamper(first.dataDir, `UPDATE events SET actor_id = 'dr-elsewhere' WHERE chain = '${CHAIN}' AND seq = 2`);
    const t = await startTestApp({ dataDir: first.dataDir });
    try {
      const res = await (await t.client('compliance_officer')).request('GET', '/v1/events?actor=dr-startup');
      expect(res.status).toBe(500);
      expect((JSON.parse(res.body) as Problem).detail).toContain(`chain ${CHAIN} seq 2 kind modified column actor_id`);
    } finally {
      await t.close();
    }
  }, 60_000);
});
