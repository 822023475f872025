/**
 * The access log's flood bound for refusals is configurable: with ACCESS_DENIAL_WINDOW_MS=1000 the
 * counted follow-up of a burst is written about a second later (not after a minute), and with
 * ACCESS_DENIAL_MAX_KEYS=1 a refusal under a second key goes to the overflow entry, naming nobody.
 */
import { TestApp, startTestApp } from './support/test-app';

interface Entry {
  route?: string;
  reason?: string;
  ip?: string;
  denial?: { count: number; since?: string };
}

describe('access log flood bound settings', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ accessDenialWindowMs: 1000, accessDenialMaxKeys: 1 });
  });

  afterAll(async () => {
    await t.close();
  });

  async function denied(): Promise<Entry[]> {
    const res = await (await t.client('auditor')).request('GET', '/v1/access-log?outcome=denied&limit=1000');
    return (JSON.parse(res.body) as { entries: Entry[] }).entries;
  }

  it('writes the follow-up after the configured window and folds a second key into the overflow entry', async () => {
    const anonymous = await t.client(null);
    for (let i = 0; i < 3; i++) expect((await anonymous.request('GET', '/v1/events')).status).toBe(401);
    expect((await anonymous.request('GET', '/v1/alerts')).status).toBe(401); // a second key, past the limit of 1

    let entries: Entry[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      entries = await denied();
      if (entries.some((e) => e.denial?.count === 2)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const first = entries.filter((e) => e.reason === 'authorization_malformed' && e.route === 'GET /v1/events');
    expect(first.map((e) => e.denial?.count).sort()).toEqual([1, 2]); // the first at once, then 2 counted
    const overflow = entries.filter((e) => e.reason === 'overflow');
    expect(overflow.length).toBeGreaterThanOrEqual(1);
    expect(overflow.every((e) => e.ip === undefined)).toBe(true);
  });
});
