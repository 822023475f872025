/**
 * No PHI in logs: runs the real app at LOG_LEVEL=debug through a session that posts events with
 * distinctive patient ids, actor ids and IPs and provokes every error the ingest path knows (400,
 * 401, 403, 404, 409, 413, 415, 429, 503), queries by those identifiers, then scans everything
 * the service wrote (its logger lines, and anything written to stdout/stderr in the meantime) and
 * finds none of them. (The whole-suite scan in jest's globalTeardown, test/support/phi-log-scan.ts,
 * does the same over every service log of the run.)
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVENT_STORE, EventStore } from '@app/storage';
import { accessEvent } from './support/events';
import { registerPhiMarkers } from './support/log-capture';
import { RawClient } from './support/raw-http';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

describe('logs never carry posted patient ids, actor ids or IPs', () => {
  let t: TestApp;
  let client: RawClient;
  const captured: string[] = [];
  const restore: Array<() => void> = [];

  beforeAll(async () => {
    // Capture whatever else the process writes while the service runs.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        captured.push(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => (stream.write = original as typeof stream.write));
    }
    const dataDir = tempDataDir('audit-logscan-');
    fs.writeFileSync(path.join(dataDir, 'integrations.json'), JSON.stringify({ throttled: { eventsPerSecond: 1, burst: 2 } }));
    t = await startTestApp({ dataDir, logLevel: 'debug' });
    client = new RawClient(t.baseUrl);
  });
  afterAll(async () => {
    client.close();
    await t.close();
    for (const r of restore) r();
  });

  it('scans every log line after a session full of identifiers and errors', async () => {
    const tag = randomBytes(4).toString('hex');
    const patients = Array.from({ length: 12 }, (_, i) => `PT-LOGSCAN-${tag}-${i}`);
    const actors = Array.from({ length: 4 }, (_, i) => `dr-logscan-${tag}-${i}`);
    const ips = ['203.0.113.41', '203.0.113.42', '2001:db8::4c0g'.replace('g', '1'), `198.51.100.${(parseInt(tag.slice(0, 2), 16) % 200) + 10}`];
    const secrets = [...patients, ...actors, ...ips];
    // Also part of the whole-suite scan (globalTeardown), which covers every service log of the run.
    registerPhiMarkers('patient-id', patients);
    registerPhiMarkers('actor-id', actors);
    registerPhiMarkers('ip', ips);
    const ev = (i: number, extra: Record<string, unknown> = {}) =>
      accessEvent({ patient: { id: patients[i % patients.length]! }, actor: { id: actors[i % actors.length]!, type: 'user', ip: ips[i % ips.length]! }, ...extra });

    const integration = await t.token('integration', 'sample-ehr');
    const throttled = await t.token('integration', 'throttled');
    const analyst = await t.token('soc_analyst');
    const writeJson = (token: string | null, body: string | Buffer, type = 'application/json') =>
      client.send({ method: 'POST', path: '/v1/events', headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}), 'x-forwarded-for': ips[0]! }, body });
    const seen = new Set<number>();
    const expectStatus = async (p: Promise<{ status: number }>, status: number) => {
      const res = await p;
      expect(res.status).toBe(status);
      seen.add(status);
    };

    // Accepted, retried, conflicting.
    const first = ev(0);
    await expectStatus(writeJson(integration, JSON.stringify(first)), 202);
    await expectStatus(writeJson(integration, JSON.stringify({ events: [ev(1), ev(2), ev(3)] })), 202);
    await expectStatus(writeJson(integration, JSON.stringify(first)), 202);
    await expectStatus(writeJson(integration, JSON.stringify({ ...first, outcome: 'denied' })), 409);
    // Invalid, hostile, foreign, unauthenticated, wrong type, too large.
    await expectStatus(writeJson(integration, JSON.stringify(ev(4, { outcome: 'maybe' }))), 400);
    await expectStatus(writeJson(integration, JSON.stringify(ev(5)).replace('"patient":{', `"patient":{"id":"${patients[6]}",`)), 400);
    await expectStatus(writeJson(integration, JSON.stringify(ev(7)).replace('"actor":{', `"actor":{"__proto__":{"ip":"${ips[1]}"},`)), 400);
    await expectStatus(writeJson(integration, JSON.stringify(ev(8)).replace(/"details":|"purpose"/, `"details":${'['.repeat(50)}"${patients[8]}"${']'.repeat(50)},"purpose"`)), 400);
    await expectStatus(writeJson(integration, Buffer.concat([Buffer.from(JSON.stringify(ev(9)).slice(0, 40)), Buffer.from([0xff, 0xfe]), Buffer.from(patients[9]!)])), 400);
    await expectStatus(writeJson(integration, JSON.stringify(ev(10, { source: { system: 'ehr-gateway', integration: 'billing' } }))), 403);
    await expectStatus(writeJson(await t.token('integration', 'billing'), JSON.stringify(ev(11))), 403);
    await expectStatus(writeJson(analyst, JSON.stringify(ev(0))), 403);
    await expectStatus(writeJson(null, JSON.stringify(ev(1))), 401);
    await expectStatus(client.send({ method: 'POST', path: '/v1/events', headers: { 'content-type': 'application/json', authorization: `Bearer ${patients[2]}` }, body: JSON.stringify(ev(2)) }), 401);
    await expectStatus(writeJson(integration, JSON.stringify(ev(3)), 'text/plain'), 415);
    await expectStatus(writeJson(integration, JSON.stringify(ev(4, { details: { blob: `${patients[4]}${'x'.repeat(1_200_000)}` } }))), 413);
    // Over the rate (the throttled integration has a bucket of 2 events).
    // Its own system (ehr-gateway is bound to sample-ehr, which posted it first); integration filled in as "throttled".
    const ownSource = { source: { system: 'throttled-system' } };
    await expectStatus(writeJson(throttled, JSON.stringify({ events: [ev(5, ownSource), ev(6, ownSource)] })), 202);
    const limited = await writeJson(throttled, JSON.stringify(ev(7, ownSource)));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    seen.add(429);
    // Reads by identifier, good and bad.
    const get = (p: string) => client.send({ method: 'GET', path: p, headers: { authorization: `Bearer ${analyst}` } });
    // An analyst sees tokens only: a lookup by clear patient id is refused (token enumeration), and not logged in clear.
    await expectStatus(get(`/v1/events?patient=${encodeURIComponent(patients[0]!)}&actor=${encodeURIComponent(actors[0]!)}`), 403);
    await expectStatus(get(`/v1/events?actor=${encodeURIComponent(actors[0]!)}`), 200);
    await expectStatus(get(`/v1/events?patient=${encodeURIComponent(patients[1]!)}&limit=${encodeURIComponent(ips[0]!)}`), 400);
    await expectStatus(get(`/v1/events/${encodeURIComponent(patients[3]!)}`), 400);
    await expectStatus(get('/v1/events/9b2f5a4e-0000-4000-8000-000000000000'), 404);
    // The store goes away: 503, and the failure gets logged.
    await t.app.get<EventStore>(EVENT_STORE).close();
    await expectStatus(writeJson(integration, JSON.stringify(ev(11))), 503);

    expect([...seen].sort()).toEqual([200, 202, 400, 401, 403, 404, 409, 413, 415, 429, 503]);
    const logged = [...t.logLines, ...captured].join('\n');
    // The scan is meaningful: the service did log this session (one access-log line per request).
    expect(t.logLines.filter((l) => l.includes('"msg":"request"')).length).toBeGreaterThanOrEqual(23);
    expect(secrets.filter((s) => logged.includes(s))).toEqual([]);
    expect(logged).not.toContain(tag);
  });
});
