/**
 * The embedded pipeline end to end over HTTP: post, receipts, query, get, verify; idempotency,
 * all-or-nothing batches, and every CONTRACT error status for its cause.
 */
import { ApiClient } from '../apps/auditctl/src/api-client';
import { EVENT_STORE, EventStore } from '@app/storage';
import { accessEvent } from './support/events';
import { TestApp, startTestApp } from './support/test-app';

describe('ingest, query and verify over HTTP', () => {
  let t: TestApp;
  let integration: ApiClient;
  let analyst: ApiClient;
  let compliance: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    integration = await t.client('integration', 'sample-ehr');
    analyst = await t.client('soc_analyst');
    compliance = await t.client('compliance_officer');
  });
  afterAll(() => t.close());

  it('round trip: a batch gets durable receipts, is found by actor and patient, and verifies', async () => {
    const events = [
      accessEvent({ actor: { id: 'dr-round', type: 'user', role: 'physician' }, patient: { id: 'MRN-RT-1' } }),
      accessEvent({ actor: { id: 'dr-round', type: 'user', role: 'physician' }, patient: { id: 'MRN-RT-2' }, occurredAt: '2026-03-02T10:16:00Z' }),
      accessEvent({ category: 'authentication', action: 'login', actor: { id: 'dr-round', type: 'user' }, patient: undefined, resource: undefined, purpose: undefined }),
    ];
    const res = await integration.request('POST', '/v1/events', { events });
    expect(res.status).toBe(202);
    const { receipts } = JSON.parse(res.body);
    expect(receipts).toHaveLength(3);
    expect(receipts.map((r: { id: string }) => r.id)).toEqual(events.map((e) => e.id));
    for (const r of receipts) expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(receipts[0].chain).toBe('data_access');
    expect(receipts[2].chain).toBe('authentication');
    expect(receipts[1].seq).toBe(receipts[0].seq + 1);

    const byActor = JSON.parse((await analyst.request('GET', '/v1/events?actor=dr-round')).body);
    expect(byActor.events.map((e: { event: { id: string } }) => e.event.id).sort()).toEqual(events.map((e) => e.id).sort());

    const byPatient = JSON.parse((await compliance.request('GET', '/v1/events?patient=MRN-RT-2')).body);
    expect(byPatient.events).toHaveLength(1);
    expect(byPatient.events[0].event).toEqual(JSON.parse(JSON.stringify(events[1])));
    expect(byPatient.events[0].receipt).toEqual(receipts[1]);

    const one = await analyst.request('GET', `/v1/events/${events[0].id}`);
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body).receipt).toEqual(receipts[0]);

    const verify = JSON.parse((await compliance.request('GET', '/v1/integrity/verify')).body);
    expect(verify).toMatchObject({ ok: true, break: null });
    expect(verify.verified).toBeGreaterThanOrEqual(3);
  });

  it('a single event (not wrapped in a batch) is accepted', async () => {
    const e = accessEvent();
    const res = await integration.request('POST', '/v1/events', e);
    expect(res.status).toBe(202);
    expect(JSON.parse(res.body).receipts[0].id).toBe(e.id);
  });

  it('a retried id gets its original receipt and is stored once', async () => {
    const e = accessEvent({ actor: { id: 'dr-retry', type: 'user' } });
    const first = JSON.parse((await integration.request('POST', '/v1/events', e)).body).receipts[0];
    const again = await integration.request('POST', '/v1/events', { events: [e, accessEvent({ actor: { id: 'dr-retry', type: 'user' } })] });
    expect(again.status).toBe(202);
    expect(JSON.parse(again.body).receipts[0]).toEqual(first);
    const stored = JSON.parse((await analyst.request('GET', '/v1/events?actor=dr-retry')).body);
    expect(stored.events).toHaveLength(2);
  });

  it('the same id with different content is refused with 409, nothing stored', async () => {
    const e = accessEvent({ actor: { id: 'dr-conflict', type: 'user' } });
    await integration.request('POST', '/v1/events', e);
    const res = await integration.request('POST', '/v1/events', { ...e, action: 'update' });
    expect(res.status).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('a batch with bad events is rejected whole, naming each bad index and field without echoing values', async () => {
    const good = accessEvent({ actor: { id: 'dr-batch', type: 'user' } });
    const secretPatient = 'MRN-SECRET-991';
    const bad1 = { ...accessEvent(), patient: { id: secretPatient, name: 'Jane Secret' } };
    const bad2 = { ...accessEvent(), outcome: 'maybe', occurredAt: 'yesterday' };
    const res = await integration.request('POST', '/v1/events', { events: [good, bad1, bad2] });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const problem = JSON.parse(res.body);
    expect(problem.type).toMatch(/validation$/);
    const pointers = problem.errors.map((e: { pointer: string }) => e.pointer).sort();
    expect(pointers).toEqual(['/events/1/patient', '/events/2/occurredAt', '/events/2/outcome']);
    expect(problem.errors.find((e: { pointer: string }) => e.pointer === '/events/1/patient').index).toBe(1);
    expect(res.body).not.toContain(secretPatient);
    expect(res.body).not.toContain('Jane Secret');
    expect(res.body).not.toContain('maybe');
    expect(res.body).not.toContain('yesterday');
    const stored = JSON.parse((await analyst.request('GET', '/v1/events?actor=dr-batch')).body);
    expect(stored.events).toHaveLength(0);
  });

  it('answers the CONTRACT statuses for their causes', async () => {
    const anonymous = await t.client(null);
    expect((await anonymous.request('POST', '/v1/events', accessEvent())).status).toBe(401);
    expect((await anonymous.request('GET', '/v1/events')).status).toBe(401);
    expect((await analyst.request('POST', '/v1/events', accessEvent())).status).toBe(403);
    expect((await integration.request('GET', '/v1/events')).status).toBe(403);
    const big = { events: Array.from({ length: 1001 }, () => accessEvent()) };
    expect((await integration.request('POST', '/v1/events', big)).status).toBe(413);
    const huge = { ...accessEvent(), details: { blob: 'x'.repeat(2 * 1024 * 1024) } };
    const hugeRes = await integration.request('POST', '/v1/events', huge);
    expect(hugeRes.status).toBe(413);
    expect(hugeRes.headers['content-type']).toContain('application/problem+json');
    expect((await integration.request('POST', '/v1/events', '{"id": ')).status).toBe(400);
    expect((await analyst.request('GET', '/v1/events/not-a-uuid')).status).toBe(400);
    expect((await analyst.request('GET', '/v1/events/9b2f5a4e-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await analyst.request('GET', '/v1/events?colour=red')).status).toBe(400);
    expect((await analyst.request('GET', '/v1/nothing-here')).status).toBe(404);
  });

  it('pages through results with an opaque cursor, newest first', async () => {
    const events = Array.from({ length: 7 }, (_, i) =>
      accessEvent({ actor: { id: 'dr-pages', type: 'user' }, occurredAt: new Date(Date.UTC(2026, 2, 3, 9, i)).toISOString() }),
    );
    await integration.request('POST', '/v1/events', { events });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/v1/events?actor=dr-pages&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = JSON.parse((await analyst.request('GET', q)).body);
      seen.push(...page.events.map((e: { event: { id: string } }) => e.event.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...events].reverse().map((e) => e.id));
    const windowed = JSON.parse((await analyst.request('GET', '/v1/events?actor=dr-pages&from=2026-03-03T09:02:00Z&to=2026-03-03T09:04:00Z')).body);
    expect(windowed.events).toHaveLength(2);
  });

  it('serves health, readiness, metrics without PHI, and the OpenAPI document', async () => {
    const anonymous = await t.client(null);
    expect((await anonymous.request('GET', '/health/live')).status).toBe(200);
    const ready = await anonymous.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    const metrics = await anonymous.request('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('audit_ingest_events_total{result="stored"}');
    expect(metrics.body).toContain('audit_commit_duration_seconds_bucket');
    expect(metrics.body).not.toMatch(/MRN-|dr-round/);
    const docs = await anonymous.request('GET', '/docs-json');
    expect(docs.status).toBe(200);
    expect(Object.keys(JSON.parse(docs.body).paths)).toEqual(expect.arrayContaining(['/v1/events', '/v1/events/{id}', '/v1/integrity/verify']));
  });

  it('answers 503 with Retry-After, never 202, when the store cannot make events durable', async () => {
    const other = await startTestApp();
    try {
      const client = await other.client('integration');
      await other.app.get<EventStore>(EVENT_STORE).close();
      const res = await client.request('POST', '/v1/events', accessEvent());
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect((await client.request('GET', '/health/ready')).status).toBe(503);
    } finally {
      await other.close();
    }
  });
});
