/**
 * POST /v1/events is served by a lean route ahead of Nest's pipeline (apps/api/src/http/lean-events-route.ts);
 * `/v1/events/` (trailing slash) still reaches the Nest route. Every answer a client can get, for the
 * same request, must be the same from both: status, headers (but Date, and the length and ETag of
 * bodies that differ by their ids), problem types and pointers, receipts, the request log's line.
 */
import { accessEvent } from './support/events';
import { RawClient, RawResponse } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

const LEAN = '/v1/events';
const NEST = '/v1/events/';

describe('POST /v1/events: the lean route answers as the Nest route does', () => {
  let t: TestApp;
  let client: RawClient;
  let ehr: string;
  let analyst: string;
  let lab: string;

  beforeAll(async () => {
    t = await startTestApp({ maxBatchEvents: 5 });
    client = new RawClient(t.baseUrl);
    ehr = await t.token('integration', 'sample-ehr');
    analyst = await t.token('soc_analyst');
    lab = await t.token('integration', 'lab-feed');
  });
  afterAll(async () => {
    client.close();
    await t.close();
  });

  const post = (path: string, body: string | undefined, headers: Record<string, string>): Promise<RawResponse> => client.send({ method: 'POST', path, headers, body });

  /** What a client sees, without what differs by time or by the ids in the body. */
  function seen(res: RawResponse, sameBody: boolean) {
    const headers = { ...res.headers };
    delete headers.date;
    if (!sameBody) {
      delete headers['content-length'];
      delete headers.etag;
    }
    const json = res.body ? (JSON.parse(res.body) as Record<string, unknown>) : undefined;
    const shape = json && Array.isArray(json.receipts) ? { receipts: (json.receipts as Array<Record<string, unknown>>).map((r) => Object.keys(r).sort()) } : json;
    return { status: res.status, headers, body: sameBody ? res.body : shape };
  }

  const json = { 'content-type': 'application/json' };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const cases: Array<{ name: string; body: () => string | undefined; headers: () => Record<string, string>; status: number; sameBody: boolean }> = [
    { name: 'one event', body: () => JSON.stringify(accessEvent()), headers: () => ({ ...json, ...bearer(ehr) }), status: 202, sameBody: false },
    { name: 'a batch', body: () => JSON.stringify({ events: [accessEvent(), accessEvent()] }), headers: () => ({ ...json, ...bearer(ehr) }), status: 202, sameBody: false },
    { name: 'no credentials', body: () => JSON.stringify(accessEvent()), headers: () => json, status: 401, sameBody: true },
    { name: 'no credentials, no body', body: () => undefined, headers: () => json, status: 401, sameBody: true },
    { name: 'a bad token', body: () => JSON.stringify(accessEvent()), headers: () => ({ ...json, ...bearer(ehr.slice(0, -4) + 'AAAA') }), status: 401, sameBody: true },
    { name: 'a role without events:write', body: () => JSON.stringify(accessEvent()), headers: () => ({ ...json, ...bearer(analyst) }), status: 403, sameBody: true },
    { name: 'a source the caller does not own', body: () => JSON.stringify(accessEvent()), headers: () => ({ ...json, ...bearer(lab) }), status: 403, sameBody: true },
    { name: 'an invalid event', body: () => JSON.stringify({ ...accessEvent(), action: 42, id: 'e1b4bd16-9a5f-4c47-9a3e-4c1f9d7e1a01' }), headers: () => ({ ...json, ...bearer(ehr) }), status: 400, sameBody: true },
    { name: 'malformed JSON', body: () => '{"events": [', headers: () => ({ ...json, ...bearer(ehr) }), status: 400, sameBody: true },
    { name: 'a duplicate key', body: () => '{"events":[],"events":[]}', headers: () => ({ ...json, ...bearer(ehr) }), status: 400, sameBody: true },
    { name: 'not JSON', body: () => 'hello', headers: () => ({ 'content-type': 'text/plain', ...bearer(ehr) }), status: 415, sameBody: true },
    { name: 'another charset', body: () => JSON.stringify(accessEvent()), headers: () => ({ 'content-type': 'application/json; charset=latin1', ...bearer(ehr) }), status: 415, sameBody: true },
    { name: 'no body', body: () => undefined, headers: () => ({ ...json, ...bearer(ehr) }), status: 400, sameBody: true },
    { name: 'too many events', body: () => JSON.stringify({ events: Array.from({ length: 6 }, () => accessEvent()) }), headers: () => ({ ...json, ...bearer(ehr) }), status: 413, sameBody: true },
    { name: 'too large a body', body: () => JSON.stringify({ ...accessEvent(), note: 'x'.repeat(t.config.maxBodyBytes) }), headers: () => ({ ...json, ...bearer(ehr) }), status: 413, sameBody: true },
  ];

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const body = c.body();
    const lean = await post(LEAN, body, c.headers());
    const nest = await post(NEST, body, c.headers());
    expect(lean.status).toBe(c.status);
    expect(seen(lean, c.sameBody)).toEqual(seen(nest, c.sameBody));
  });

  it('a retried id gets its original receipt whichever route took it first', async () => {
    const body = JSON.stringify(accessEvent());
    const first = await post(LEAN, body, { ...json, ...bearer(ehr) });
    const again = await post(NEST, body, { ...json, ...bearer(ehr) });
    const third = await post(LEAN, body, { ...json, ...bearer(ehr) });
    expect(first.status).toBe(202);
    expect(again.body).toBe(first.body);
    expect(third.body).toBe(first.body);
    // The same body from both routes: every header the same, Content-Length and ETag included.
    expect(seen(first, true)).toEqual(seen(again, true));
    expect(seen(third, true)).toEqual(seen(again, true));
    expect(first.headers.etag).toMatch(/^W\/"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/);
    expect(first.headers['content-length']).toBe(String(Buffer.byteLength(first.body)));
  });

  it('logs the request under the same route, status and role', async () => {
    const before = t.logLines.length;
    await post(LEAN, JSON.stringify(accessEvent()), { ...json, ...bearer(ehr) });
    await post(NEST, JSON.stringify(accessEvent()), { ...json, ...bearer(ehr) });
    const lines = t.logLines
      .slice(before)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request' || l.message === 'request' || l.event === 'request');
    expect(lines).toHaveLength(2);
    const strip = ({ durationMs: _d, time: _t, ts: _ts, timestamp: _tm, ...rest }: Record<string, unknown>) => rest;
    expect(strip(lines[0]!)).toEqual(strip(lines[1]!));
    expect(lines[0]).toMatchObject({ method: 'POST', route: '/v1/events', status: 202, role: 'integration' });
  });
});
