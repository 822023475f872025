/**
 * Client-chosen key names are client content (a patient id sent as a key is PHI): over HTTP, no
 * 400 repeats an unknown body field's or query parameter's name. Errors point at the parent
 * (`''`, `/actor`, `/events/1`, `/query`), list the allowed names and give the member's position.
 * Also: path-parameter errors on non-event routes say what is wrong in their own words.
 */
import { accessEvent } from './support/events';
import { RawClient, RawResponse } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

interface Problem {
  type: string;
  detail?: string;
  errors?: Array<{ index?: number; pointer: string; message: string }>;
}

describe('unknown keys are never echoed', () => {
  let t: TestApp;
  let client: RawClient;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp();
    client = new RawClient(t.baseUrl);
    tokens.integration = await t.token('integration', 'sample-ehr');
    tokens.analyst = await t.token('soc_analyst');
    tokens.compliance = await t.token('compliance_officer');
    tokens.auditor = await t.token('auditor');
    tokens.admin = await t.token('admin');
  });
  afterAll(async () => {
    client.close();
    await t.close();
  });

  const send = (method: string, path: string, token: string, body?: string): Promise<RawResponse> =>
    client.send({ method, path, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body });
  const problemOf = (res: RawResponse): Problem => {
    expect(res.headers['content-type']).toContain('application/problem+json');
    return JSON.parse(res.body) as Problem;
  };

  it('POST /v1/events: an unknown top-level field is named by position under "/", with the allowed names', async () => {
    const event = { ...accessEvent(), 'MRN-778899': 1 };
    const res = await send('POST', '/v1/events', tokens.integration, JSON.stringify(event));
    expect(res.status).toBe(400);
    expect(res.body).not.toContain('MRN-778899');
    const p = problemOf(res);
    expect(p.detail).toMatch(/canonical access event|rejected/);
    expect(p.errors).toHaveLength(1);
    expect(p.errors![0].pointer).toBe('');
    expect(p.errors![0].message).toContain(`the ${Object.keys(event).length}th member`);
    expect(p.errors![0].message).toContain('allowed: id, occurredAt, category');
  });

  it('nested and batched unknown fields point at their parent object; details keys are not repeated either', async () => {
    const base = accessEvent();
    const nested = { ...base, actor: { ...base.actor, 'MRN-55': 'x' } };
    const res = await send('POST', '/v1/events', tokens.integration, JSON.stringify(nested));
    expect(res.status).toBe(400);
    expect(res.body).not.toContain('MRN-55');
    expect(problemOf(res).errors).toEqual([{ pointer: '/actor', message: expect.stringContaining('allowed: id, type, role, ip, userAgent') }]);

    const badDetail = { ...accessEvent(), details: { fine: 1, 'MRN66': { deep: true } } };
    const d = await send('POST', '/v1/events', tokens.integration, JSON.stringify(badDetail));
    expect(d.status).toBe(400);
    expect(d.body).not.toContain('MRN66');
    expect(problemOf(d).errors!.map((e) => e.pointer)).toEqual(['/details']);
    expect(problemOf(d).errors![0].message).toContain('the 2nd member');

    const batch = { events: [accessEvent(), { ...accessEvent(), 'MRN-77': 1 }], 'MRN-88': 2 };
    const b = await send('POST', '/v1/events', tokens.integration, JSON.stringify(batch));
    expect(b.status).toBe(400);
    expect(b.body).not.toMatch(/MRN-77|MRN-88/);
    expect(problemOf(b).errors).toEqual([{ pointer: '', message: expect.stringContaining('the 2nd member of this object') }]);
    const inBatch = await send('POST', '/v1/events', tokens.integration, JSON.stringify({ events: batch.events }));
    expect(problemOf(inBatch).errors).toEqual([{ index: 1, pointer: '/events/1', message: expect.stringContaining('unknown field') }]);
    expect(inBatch.body).not.toContain('MRN-77');
  });

  it('hostile-JSON refusals stop the pointer before an unknown key', async () => {
    const event = JSON.stringify(accessEvent());
    const dup = await send('POST', '/v1/events', tokens.integration, event.replace('"actor":{', '"actor":{"MRN-DUP-9":1,"MRN-DUP-9":2,'));
    expect(dup.status).toBe(400);
    expect(dup.body).not.toContain('MRN-DUP-9');
    expect(problemOf(dup)).toMatchObject({ type: expect.stringMatching(/json-duplicate-key$/), errors: [{ pointer: '/actor' }] });
    const long = await send('POST', '/v1/events', tokens.integration, event.replace('"actor":{', `"actor":{"MRN-LONG-9":"${'x'.repeat(9000)}",`));
    expect(long.status).toBe(400);
    expect(long.body).not.toContain('MRN-LONG-9');
    expect(problemOf(long).errors![0].pointer).toBe('/actor');
    // Known names are still named.
    const known = await send('POST', '/v1/events', tokens.integration, event.replace('"action":"read"', '"action":"read","action":"export"'));
    expect(problemOf(known).errors![0].pointer).toBe('/action');
  });

  it.each([
    ['/v1/events?MRN-0001=1', 'analyst'],
    ['/v1/alerts?status=open&MRN-0001=1', 'analyst'],
    ['/v1/access-log?MRN-0001=1', 'auditor'],
    ['/v1/integrity/verify?MRN-0001=1', 'compliance'],
    ['/v1/integrity/checkpoints?chain=data_access&MRN-0001=1', 'auditor'],
    ['/v1/reports/failed-access?MRN-0001=1', 'compliance'],
    ['/v1/retention/runs?MRN-0001=1', 'admin'],
    ['/v1/retention/holds?MRN-0001=1', 'admin'],
  ])('GET %s: an unknown query parameter points at /query, named by position only', async (path, role) => {
    const res = await send('GET', path, tokens[role]!);
    expect(res.status).toBe(400);
    expect(res.body).not.toContain('MRN-0001');
    const p = problemOf(res);
    expect(p.errors).toContainEqual({ pointer: '/query', message: expect.stringMatching(/^unknown (filter|parameter) \(the \d+(st|nd) .*; its name is not repeated\); allowed: /) });
  });

  it.each([
    ['POST', '/v1/retention/holds', 'compliance', { patient: 'P-1', reason: 'r', caseId: 'C', 'MRN-4411': 1 }],
    ['POST', '/v1/retention/runs', 'admin', { dryRun: true, 'MRN-4411': 1 }],
    ['POST', '/v1/reidentify', 'compliance', { token: 'x', reason: 'incident review', 'MRN-4411': 1 }],
    ['POST', '/v1/alerts/00000000-0000-4000-8000-000000000000/acknowledge', 'analyst', { 'MRN-4411': 1 }],
    ['POST', '/v1/alerts/00000000-0000-4000-8000-000000000000/resolve', 'analyst', { note: 'n', 'MRN-4411': 1 }],
  ])('%s %s: an unknown body field is named by position only', async (method, path, role, body) => {
    const res = await send(method, path, tokens[role]!, JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.body).not.toContain('MRN-4411');
    expect(problemOf(res).errors).toContainEqual({ pointer: '', message: expect.stringContaining(`the ${Object.keys(body).length}`) });
  });

  it('path-parameter errors on other routes do not talk about access events', async () => {
    for (const [path, role] of [
      ['/v1/alerts/not-a-uuid', 'analyst'],
      ['/v1/events/not-a-uuid', 'analyst'],
    ] as const) {
      const res = await send('GET', path, tokens[role]);
      expect(res.status).toBe(400);
      const p = problemOf(res);
      expect(p.detail).toBe('The request parameters are not valid.');
      expect(p.errors).toEqual([{ pointer: '/path/id', message: expect.any(String) }]);
    }
  });
});
