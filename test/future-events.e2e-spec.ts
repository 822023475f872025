/**
 * Clock quality at ingest: an event dated far ahead of the server clock (EVENT_MAX_FUTURE_SECONDS,
 * default 300) is refused with a 400 problem naming /occurredAt (the value is not echoed), the batch
 * whole (nothing stored), and counted; an event a little ahead passes; 0 turns the limit off.
 */
import { accessEvent } from './support/events';
import { startTestApp } from './support/test-app';

describe('events dated in the future', () => {
  it('2099 is refused with a clear 400, the batch whole; a minute ahead is accepted', async () => {
    const t = await startTestApp();
    try {
      const ehr = await t.client('integration');
      const analyst = await t.client('soc_analyst');
      const soon = accessEvent({ actor: { id: 'dr-clock-ok', type: 'user' }, occurredAt: new Date(Date.now() + 60_000).toISOString() });
      const future = accessEvent({ actor: { id: 'dr-clock', type: 'user' }, occurredAt: '2099-01-01T00:00:00.000Z' });
      const res = await ehr.request('POST', '/v1/events', { events: [accessEvent({ actor: { id: 'dr-clock', type: 'user' } }), future] });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const problem = JSON.parse(res.body) as { errors: { pointer: string; index: number; message: string }[] };
      expect(problem.errors).toEqual([{ index: 1, pointer: '/events/1/occurredAt', message: "is more than 300 s ahead of the server clock; check the sender's clock" }]);
      expect(res.body).not.toContain('2099');
      expect(JSON.parse((await analyst.request('GET', '/v1/events?actor=dr-clock')).body).events).toHaveLength(0);
      expect((await ehr.request('POST', '/v1/events', soon)).status).toBe(202);
      const metrics = (await (await t.client(null)).request('GET', '/metrics')).body;
      expect(metrics).toMatch(/^audit_ingest_future_events_total 1$/m);
    } finally {
      await t.close();
    }
  });

  it('EVENT_MAX_FUTURE_SECONDS=0 takes any date', async () => {
    const t = await startTestApp({ integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 60, verifyWorkers: 0, eventMaxFutureSeconds: 0 } });
    try {
      const res = await (await t.client('integration')).request('POST', '/v1/events', accessEvent({ occurredAt: '2099-01-01T00:00:00.000Z' }));
      expect(res.status).toBe(202);
    } finally {
      await t.close();
    }
  });
});
