/**
 * The ingest protections as a client meets them over HTTP: per-integration rate limits counting
 * events (429 + Retry-After, other integrations unaffected, recovery after the wait), each kind of
 * hostile JSON with its problem type and pointer, charset and encoding refusals, and the security
 * headers on answers and errors alike.
 */
import { accessEvent } from './support/events';
import { RawClient, RawResponse } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

describe('ingest protections over HTTP', () => {
  let t: TestApp;
  let client: RawClient;
  let ehr: string;

  beforeAll(async () => {
    t = await startTestApp({ rateLimitEventsPerSecond: 20, rateLimitBurst: 30, maxBatchEvents: 30 });
    client = new RawClient(t.baseUrl);
    ehr = await t.token('integration', 'sample-ehr');
  });
  afterAll(async () => {
    client.close();
    await t.close();
  });

  const post = (body: string | Buffer, opts: { token?: string; type?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> =>
    client.send({ method: 'POST', path: '/v1/events', headers: { 'content-type': opts.type ?? 'application/json', authorization: `Bearer ${opts.token ?? ehr}`, ...(opts.headers ?? {}) }, body });
  const problem = (res: RawResponse) => JSON.parse(res.body) as { type: string; status: number; errors?: Array<{ index?: number; pointer: string }> };

  it('limits each integration by events, answers 429 with Retry-After, and recovers', async () => {
    const batch = (n: number) => JSON.stringify({ events: Array.from({ length: n }, () => accessEvent()) });
    expect((await post(batch(25))).status).toBe(202);
    // 5 tokens left, 25 asked: all-or-nothing. (25, not just over 5: the bucket refills 20 a second while
    // the first batch commits, so a slow commit on a loaded machine must not refill it past the ask.)
    const limited = await post(batch(25));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    expect(limited.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(problem(limited).type).toMatch(/rate-limited$/);
    // Another integration has its own bucket.
    const lab = await t.token('integration', 'lab-feed');
    expect((await post(JSON.stringify(accessEvent({ source: { system: 'lab-system' } })), { token: lab })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 1000 * Number(limited.headers['retry-after'])));
    expect((await post(batch(10))).status).toBe(202);
  });

  it('names each kind of hostile JSON by type and pointer, never by value', async () => {
    const event = JSON.stringify(accessEvent({ patient: { id: 'MRN-HOSTILE-1' } }));
    const cases: Array<[string, string | Buffer, string, string]> = [
      ['duplicate key', `{"events":[${event},${event.replace('"outcome":"success"', '"outcome":"success","outcome":"denied"')}]}`, 'json-duplicate-key', '/events/1/outcome'],
      ['escaped duplicate', event.replace('"action":"read"', '"action":"read","\\u0061ction":"export"'), 'json-duplicate-key', '/action'],
      ['__proto__', event.replace('"actor":{', '"actor":{"__proto__":{"x":"MRN-HOSTILE-1"},'), 'json-forbidden-key', '/actor/__proto__'],
      ['too deep', event.replace('"purpose":', `"details":${'['.repeat(9)}1${']'.repeat(9)},"purpose":`), 'json-too-deep', '/details/0/0/0/0/0/0/0'],
      ['long string', event.replace('MRN-HOSTILE-1', 'MRN-HOSTILE-1' + 'x'.repeat(9000)), 'json-string-too-long', '/patient/id'],
      ['overflow', event.replace('"purpose":', '"recordCount":1e999,"purpose":'), 'malformed-json', '/recordCount'],
      ['lone surrogate', event.replace('MRN-HOSTILE-1', 'MRN-HOSTILE-1\\ud800'), 'malformed-json', '/patient/id'],
      ['truncated', event.slice(0, 80), 'malformed-json', ''],
    ];
    for (const [name, body, type, pointer] of cases) {
      const res = await post(body);
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
      const p = problem(res);
      expect({ name, type: p.type }).toEqual({ name, type: `https://audit-siem.dev/problems/${type}` });
      if (pointer) expect({ name, pointer: p.errors?.[0]?.pointer }).toEqual({ name, pointer });
      expect(res.body).not.toContain('MRN-HOSTILE-1');
    }
    const invalidUtf8 = Buffer.concat([Buffer.from(event.slice(0, 60)), Buffer.from([0xc3, 0x28]), Buffer.from(event.slice(60))]);
    const res = await post(invalidUtf8);
    expect(res.status).toBe(400);
    expect(problem(res).type).toMatch(/malformed-json$/);
  });

  it('refuses other charsets, content encodings and non-JSON types with 415', async () => {
    const body = JSON.stringify(accessEvent());
    for (const opts of [{ type: 'application/json; charset=iso-8859-1' }, { type: 'text/plain' }, { headers: { 'content-encoding': 'gzip' } }]) {
      const res = await post(body, opts);
      expect({ opts, status: res.status }).toEqual({ opts, status: 415 });
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect((await post(body, { type: 'application/json; charset=UTF-8' })).status).toBe(202);
  });

  it('refuses oversize bodies with 413, declared or streamed (then closing the connection)', async () => {
    const big = JSON.stringify({ events: [accessEvent({ details: { note: 'x'.repeat(2_000_000) } })] });
    const declared = await post(big);
    expect(declared.status).toBe(413);
    expect(problem(declared).type).toMatch(/payload-too-large$/);
    const streamed = await post(big, { headers: { 'transfer-encoding': 'chunked' } });
    expect(streamed.status).toBe(413);
    expect(streamed.headers.connection).toBe('close');
    expect((await client.send({ method: 'GET', path: '/health/live' })).status).toBe(200);
  });

  it('sends the security headers on answers and on errors', async () => {
    for (const res of [await client.send({ method: 'GET', path: '/health/live' }), await post('{', {}), await client.send({ method: 'GET', path: '/v1/events' })]) {
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'cross-origin-resource-policy': 'same-origin',
        'content-security-policy': expect.stringContaining("default-src 'none'"),
      });
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
  });
});
