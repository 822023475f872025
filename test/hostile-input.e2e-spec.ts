/**
 * Fuzz test of the public HTTP surface: 10,000+ malformed or hostile requests from a seeded
 * generator (test/support/hostile-input.ts) against the real app. Proves zero 5xx, zero dropped
 * connections or crashes, nothing stored, no submitted value echoed in any response (body or
 * headers), problem+json without stack traces, and the expected status per kind of abuse.
 * FUZZ_CASES and FUZZ_SEED (env) change the run; a failure prints the seed and the cases.
 */
import { ROLES } from '@app/security';
import { accessEvent } from './support/events';
import { HostileCase, HostileInputGenerator } from './support/hostile-input';
import { RawClient, RawResponse } from './support/raw-http';
import { startTestApp, TestApp } from './support/test-app';

const CASES = Number(process.env.FUZZ_CASES ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 5_2026);
const CONCURRENCY = 8;
const STACK_TRACE = /\bat [^\s]+ \(|node_modules|\.ts:\d+|\.js:\d+|Error: /;

async function countStored(client: RawClient, token: string): Promise<number> {
  let total = 0;
  let cursor: string | null = null;
  do {
    const res: RawResponse = await client.send({ method: 'GET', path: `/v1/events?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const page = JSON.parse(res.body) as { events: unknown[]; nextCursor: string | null };
    total += page.events.length;
    cursor = page.nextCursor;
  } while (cursor);
  return total;
}

describe(`fuzz: ${CASES} hostile requests (seed ${SEED})`, () => {
  let t: TestApp;
  let client: RawClient;

  beforeAll(async () => {
    // Rate limiting off so that every case reaches the checks behind it (429 has its own tests).
    t = await startTestApp({ rateLimitEventsPerSecond: 0 });
    client = new RawClient(t.baseUrl, { maxSockets: CONCURRENCY, timeoutMs: 20_000 });
  });
  afterAll(async () => {
    client.close();
    await t.close();
  });

  it('refuses every case with a 4xx, stores nothing, echoes nothing, never fails', async () => {
    const tokens = { integration: await t.token('integration', 'sample-ehr'), otherIntegration: await t.token('integration', 'lab-feed'), analyst: await t.token('soc_analyst') };
    const compliance = await t.token('compliance_officer');
    // Generated up front: generating takes seconds, and a keep-alive socket idle that long would be
    // closed by the server under the client's feet (a client-side race, not a server failure).
    const generator = new HostileInputGenerator(SEED, tokens);
    const cases: HostileCase[] = Array.from({ length: CASES }, () => generator.next());
    // A few real events first, so "nothing stored" is measured against a non-empty store.
    for (let i = 0; i < 3; i++) {
      const res = await client.send({ method: 'POST', path: '/v1/events', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.integration}` }, body: JSON.stringify(accessEvent()) });
      expect(res.status).toBe(202);
    }
    const storedBefore = await countStored(client, compliance);
    const failures: string[] = [];
    const statuses = new Map<string, Map<number, number>>();
    let next = 0;
    const started = Date.now();

    const check = (c: HostileCase, res: RawResponse) => {
      const tally = statuses.get(c.kind) ?? new Map<number, number>();
      tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
      statuses.set(c.kind, tally);
      const where = `#${cases.indexOf(c)} ${c.kind} ${c.request.method} ${c.request.path.slice(0, 60)}`;
      if (res.error) return failures.push(`${where}: connection failed (${res.error})`);
      if (res.status >= 500) return failures.push(`${where}: ${res.status}`);
      if (res.status < 400) return failures.push(`${where}: ${res.status}, expected a refusal`);
      if (c.expect && !c.expect.includes(res.status)) failures.push(`${where}: ${res.status}, expected ${c.expect.join('/')}`);
      const marker = c.marker.toLowerCase();
      const headerText = JSON.stringify(res.headers).toLowerCase();
      if (res.body.toLowerCase().includes(marker) || headerText.includes(marker)) failures.push(`${where}: response echoes the submitted value`);
      if (STACK_TRACE.test(res.body)) failures.push(`${where}: response looks like a stack trace`);
      if (res.body.length > 0) {
        const type = String(res.headers['content-type'] ?? '');
        if (!/^application\/(problem|fhir)\+json/.test(type)) failures.push(`${where}: ${res.status} answered as ${type || 'no content type'}`);
        else if (/problem/.test(type)) {
          const problem = JSON.parse(res.body) as { type?: unknown; title?: unknown; status?: unknown };
          if (typeof problem.type !== 'string' || typeof problem.title !== 'string' || problem.status !== res.status) failures.push(`${where}: not a problem document`);
        }
      }
      return undefined;
    };

    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          check(c, await client.send(c.request));
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    const summary = [...statuses].map(([kind, tally]) => `${kind}: ${[...tally].map(([s, n]) => `${s}x${n}`).join(' ')}`).join('\n');
    if (failures.length > 0) throw new Error(`seed ${SEED}, ${failures.length} failures (first 40):\n${failures.slice(0, 40).join('\n')}\n\nstatuses by kind:\n${summary}`);
    if (process.env.FUZZ_CASES === undefined) expect(cases.length).toBeGreaterThanOrEqual(10_000);
    expect(statuses.size).toBeGreaterThanOrEqual(15); // every kind of abuse was exercised

    // Still serving, nothing stored, nothing unhandled, the chains intact.
    expect((await client.send({ method: 'GET', path: '/health/ready' })).status).toBe(200);
    expect(await countStored(client, compliance)).toBe(storedBefore);
    expect(t.logLines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
    const verify = await client.send({ method: 'GET', path: '/v1/integrity/verify', headers: { authorization: `Bearer ${compliance}` } });
    expect(JSON.parse(verify.body)).toMatchObject({ ok: true, break: null });
    process.stdout.write(`fuzz: ${cases.length} cases in ${seconds.toFixed(1)} s\n${summary}\n`);
  }, 180_000);

  it('keeps the process healthy for every role afterwards', async () => {
    for (const role of ROLES) {
      const res = await client.send({ method: 'GET', path: '/health/live', headers: { authorization: `Bearer ${await t.token(role)}` } });
      expect(res.status).toBe(200);
    }
  });
});
