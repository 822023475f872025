/**
 * Issue 22, adversarial pass: every finding is replayed here as the attacker would, through HTTP,
 * and the test asserts the defended outcome (status, what the role sees, what the access log
 * records, what is stored). docs/security.md names each finding with its test.
 */
import { randomUUID } from 'node:crypto';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { SignJWT } from 'jose';
import { TokenService } from '@app/security';
import { AccessEvent } from '@app/core';
import { AlertJson, allAlerts, waitForDetection } from './support/detection';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

/** Least time between two on-demand checkpoints of one chain in this suite's service. */
const ON_DEMAND_INTERVAL_MS = 3000;

interface EventView {
  event: AccessEvent;
  receipt: { id: string; chain: string; seq: number; hash: string };
}
interface AccessEntry {
  action: string;
  outcome: string;
  principal: { sub: string; role?: string };
  route?: string;
  patient?: string;
  filters: Record<string, unknown>;
  ip?: string;
  reason?: string;
  denial?: Record<string, unknown>;
}

async function call(t: TestApp, role: Parameters<TestApp['client']>[0], method: string, url: string, body?: unknown, sub?: string) {
  let res: { status: number; headers: Record<string, string | string[] | undefined>; body: string };
  if (role === null) {
    // Anonymous: no Authorization header at all (the test apps speak plain HTTP).
    const r = await fetch(new URL(url, t.baseUrl), { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
    res = { status: r.status, headers: Object.fromEntries(r.headers.entries()), body: await r.text() };
  } else res = await (await t.client(role, sub)).request(method, url, body);
  let json: any = undefined;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text: res.body, body: json };
}

async function accessLog(t: TestApp, query: string): Promise<AccessEntry[]> {
  const res = await call(t, 'auditor', 'GET', `/v1/access-log?limit=1000${query}`, undefined, 'sec-auditor');
  expect(res.status).toBe(200);
  return res.body.entries as AccessEntry[];
}

describe('security hardening (issue 22): attacks replayed through the public surface', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ security: { checkpointOnDemandMinIntervalMs: ON_DEMAND_INTERVAL_MS }, accessDenialMaxKeys: 10 });
  });
  afterAll(async () => {
    await t.close();
  });

  describe('token enumeration by clear patient id', () => {
    const known = 'MRN-ENUM-000083';
    let token: string;
    beforeAll(async () => {
      const e = accessEvent({ patient: { id: known } });
      expect((await call(t, 'integration', 'POST', '/v1/events', e)).status).toBe(202);
      token = (await call(t, 'soc_analyst', 'GET', `/v1/events/${e.id}`)).body.event.patient.id;
      expect(token).toMatch(/^ptk_[a-z2-7]{24}$/);
    });

    it('refuses an analyst a lookup by clear id (403, known and unknown alike), keeps the token lookup, and records the refusal as a token', async () => {
      const hit = await call(t, 'soc_analyst', 'GET', `/v1/events?patient=${known}`, undefined, 'an-enum');
      const miss = await call(t, 'soc_analyst', 'GET', `/v1/events?patient=MRN-ENUM-999999`, undefined, 'an-enum');
      // The answer no longer tells a stored patient from an unknown one.
      expect(hit.status).toBe(403);
      expect(miss.status).toBe(403);
      expect(hit.body.type).toMatch(/patient-token-required$/);
      expect(hit.body.errors).toEqual([{ pointer: '/query/patient', message: expect.any(String) }]);
      expect(hit.text).not.toContain(known);
      const byToken = await call(t, 'soc_analyst', 'GET', `/v1/events?patient=${token}`, undefined, 'an-enum');
      expect(byToken.status).toBe(200);
      expect(byToken.body.events.map((e: EventView) => e.event.patient!.id)).toEqual([token]);
      // Compliance (events:identified) still searches by id.
      expect((await call(t, 'compliance_officer', 'GET', `/v1/events?patient=${known}`)).body.events).toHaveLength(1);

      const entries = await accessLog(t, '&actor=an-enum');
      const refused = entries.filter((e) => e.outcome === 'denied');
      expect(refused).toHaveLength(2);
      expect(refused.every((e) => e.route === 'GET /v1/events' && /^ptk_/.test(e.patient!))).toBe(true);
      expect(JSON.stringify(entries)).not.toContain(known);
    });

    it('refuses auditors and admins the same lookup on the access log', async () => {
      for (const role of ['auditor', 'admin'] as const) {
        const res = await call(t, role, 'GET', `/v1/access-log?patient=${known}`);
        expect(res.status).toBe(403);
        expect((await call(t, role, 'GET', `/v1/access-log?patient=${token}`)).status).toBe(200);
      }
    });
  });

  describe('idempotency bypass by re-spelling the event id', () => {
    it('treats an upper-cased or urn:uuid:-prefixed id as the same event: same content gets the original receipt, other content 409, never a second record', async () => {
      const original = accessEvent({ patient: { id: 'MRN-IDEM-1' } });
      const first = await call(t, 'integration', 'POST', '/v1/events', original);
      expect(first.status).toBe(202);
      const receipt = first.body.receipts[0];

      const retry = await call(t, 'integration', 'POST', '/v1/events', { ...original, id: `urn:uuid:${original.id.toUpperCase()}` });
      expect(retry.status).toBe(202);
      expect(retry.body.receipts[0]).toEqual(receipt);
      for (const id of [original.id.toUpperCase(), `urn:uuid:${original.id}`]) {
        const conflicting = await call(t, 'integration', 'POST', '/v1/events', { ...original, id, outcome: 'denied' });
        expect(conflicting.status).toBe(409);
      }
      const stored = await call(t, 'compliance_officer', 'GET', '/v1/events?patient=MRN-IDEM-1');
      expect(stored.body.events).toHaveLength(1);
      expect(stored.body.events[0].event.outcome).toBe('success');
      expect(stored.body.events[0].event.id).toBe(original.id);
      // The upper-case spelling reads the same event.
      expect((await call(t, 'compliance_officer', 'GET', `/v1/events/${original.id.toUpperCase()}`)).body.receipt).toEqual(receipt);
    });
  });

  describe('patient-id spelling tricks', () => {
    it('tokenizes Patient resources however spelled, and gives look-alike ids of one patient one token and one report', async () => {
      const mrn = 'MRN-LOOK-4711';
      const spellings = [mrn, 'MRN-\u200bLOOK-4711', 'ＭＲＮ-ＬＯＯＫ-４７１１', '\u041cRN-LOOK-4711', ' MRN-LOOK-4711\u2060'];
      const events = spellings.map((id) => accessEvent({ patient: { id } }));
      events.push(accessEvent({ patient: undefined, resource: { type: 'Patient ', id: mrn } }));
      events.push(accessEvent({ patient: undefined, resource: { type: 'fhir:Patient', id: mrn } }));
      events.push(accessEvent({ patient: undefined, resource: { type: 'Patient', id: `Patient/${mrn}` } }));
      expect((await call(t, 'integration', 'POST', '/v1/events', { events })).status).toBe(202);

      const seen: string[] = [];
      for (const e of events) {
        const view = await call(t, 'soc_analyst', 'GET', `/v1/events/${e.id}`);
        expect(view.text).not.toContain('LOOK-4711');
        expect(view.text).not.toContain('ＬＯＯＫ');
        seen.push(view.body.event.patient?.id ?? view.body.event.resource.id);
      }
      expect(new Set(seen).size).toBe(1);
      expect(seen[0]).toMatch(/^ptk_/);
      const report = await call(t, 'compliance_officer', 'GET', `/v1/reports/patient-access?patient=${mrn}&format=json`);
      expect(report.status).toBe(200);
      const ids = new Set(JSON.stringify(report.body).match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g));
      for (const e of events.slice(0, spellings.length)) expect(ids.has(e.id)).toBe(true);
    });

    it('refuses a patient id made only of invisible characters', async () => {
      const res = await call(t, 'integration', 'POST', '/v1/events', accessEvent({ patient: { id: '\u200b\u200b\u200b' } }));
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([{ pointer: '/patient/id', message: 'must contain visible characters' }]);
    });
  });

  describe('access-log attribution under a refusal flood', () => {
    it('records an analyst\'s refused probes individually (principal, IP, route) after anonymous noise from 30 addresses spent the key budget', async () => {
      const port = Number(new URL(t.baseUrl).port);
      // Anonymous noise from 30 loopback addresses: more distinct keys than ACCESS_DENIAL_MAX_KEYS (10).
      for (let i = 2; i < 32; i++) {
        const c = rawConnection(port, `127.0.0.${i}`);
        await c.connected;
        c.socket.write('GET /v1/rules HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
        await c.closedPromise;
        expect(c.received).toMatch(/^HTTP\/1\.1 401 /);
      }
      // In the same minute, an analyst probes what they may not do.
      const probes = ['/v1/access-log', '/v1/integrity/verify', '/v1/retention/holds', '/v1/integrity/checkpoints'];
      for (const p of probes) expect((await call(t, 'soc_analyst', 'GET', p, undefined, 'an-prober')).status).toBe(403);

      const denied = await accessLog(t, '&outcome=denied');
      expect(denied.some((e) => e.denial?.kind === 'overflow')).toBe(true);
      const mine = denied.filter((e) => e.principal.sub === 'an-prober');
      expect(mine.map((e) => e.route).sort()).toEqual(probes.map((p) => `GET ${p}`).sort());
      for (const e of mine) expect(e).toMatchObject({ principal: { sub: 'an-prober', role: 'soc_analyst' }, ip: '127.0.0.1', denial: { kind: 'forbidden', status: 403, count: 1 } });
    });
  });

  describe('break-glass flood from one integration', () => {
    it('folds one request of 300 break-glass events into 10 alerts and one that stands for the rest of the burst', async () => {
      const base = Date.parse('2026-01-05T03:00:00Z');
      const events = Array.from({ length: 300 }, (_, i) =>
        accessEvent({
          occurredAt: new Date(base + i).toISOString(),
          action: 'break_glass',
          purpose: 'EMERGENCY',
          actor: { id: `u-flood-${i}`, type: 'user' },
          patient: { id: `MRN-FLOOD-${i}` },
          source: { system: 'flood-ehr-system' },
        }),
      );
      const flood = await t.client('integration', 'flood-ehr');
      const posted = await flood.request('POST', '/v1/events', { events });
      expect(posted.status).toBe(202);
      const analyst = await t.client('soc_analyst');
      await waitForDetection(analyst);
      const mine = (await allAlerts(analyst, 'rule=break-glass-access')).filter((a) => String(a.groupKey['actor.id']).startsWith('u-flood-')) as (AlertJson & { context?: { burst?: unknown } })[];
      expect(mine).toHaveLength(11);
      const folded = mine.filter((a) => a.context?.burst !== undefined);
      expect(folded).toHaveLength(1);
      expect(folded[0].context!.burst).toEqual({ field: 'source.integration', value: 'flood-ehr', max: 10, window: '1m' });
      // It names the burst's window, so the analyst can list the folded events of that integration.
      expect(folded[0]).toMatchObject({ windowStart: new Date(base).toISOString(), windowEnd: new Date(base + 60_000).toISOString() });
      const detail = JSON.parse((await analyst.request('GET', `/v1/alerts/${folded[0].id}`)).body) as AlertJson;
      const markdown = (detail.runbook as { markdown: string }).markdown;
      expect(markdown).toContain('## One alert for a burst');
      expect(markdown).toMatch(/More than 10 break-glass events came from source\.integration\s+`flood-ehr` within 1m/);
      const ordinary = JSON.parse((await analyst.request('GET', `/v1/alerts/${mine.find((a) => !a.context)!.id}`)).body) as AlertJson;
      expect((ordinary.runbook as { markdown: string }).markdown).not.toContain('One alert for a burst');
    });

    it("does not let an admin-excepted account's break-glass events use up an integration's burst", async () => {
      const admin = await t.client('admin', 'sec-admin');
      const added = await admin.request('POST', '/v1/rule-overrides/break-glass-access/exceptions', { field: 'actor.id', value: 'svc-flood-kiosk', reason: 'shared ER kiosk account, reviewed daily' });
      expect(added.status).toBe(201);
      const base = Date.parse('2026-01-05T04:00:00Z');
      const glass = (i: number, actor: string) =>
        accessEvent({ occurredAt: new Date(base + i * 100).toISOString(), action: 'break_glass', purpose: 'EMERGENCY', actor: { id: actor, type: 'user' }, patient: { id: `MRN-KIOSK-${i}` }, source: { system: 'kiosk-ehr-system' } });
      // 30 break-glass events of the excepted kiosk account, then three physicians', in the same minute from one integration.
      const events = [...Array.from({ length: 30 }, (_, i) => glass(i, 'svc-flood-kiosk')), ...[30, 31, 32].map((i) => glass(i, `dr-kiosk-${i}`))];
      const kiosk = await t.client('integration', 'kiosk-ehr');
      expect((await kiosk.request('POST', '/v1/events', { events })).status).toBe(202);
      const analyst = await t.client('soc_analyst');
      await waitForDetection(analyst);
      const raised = (await allAlerts(analyst, 'rule=break-glass-access')) as (AlertJson & { context?: { burst?: unknown } })[];
      const mine = raised.filter((a) => /^(svc-flood-kiosk|dr-kiosk-)/.test(String(a.groupKey['actor.id'])));
      expect(mine.map((a) => [a.groupKey['actor.id'], a.context?.burst === undefined ? 'own' : 'burst']).sort()).toEqual([
        ['dr-kiosk-30', 'own'],
        ['dr-kiosk-31', 'own'],
        ['dr-kiosk-32', 'own'],
      ]);
    });
  });

  describe('Markdown injection into runbooks', () => {
    it('renders an actor id full of Markdown and HTML as one line of inert text in the runbook', async () => {
      const evil =
        'dr-evil\n\n## Containment\n1. [Reset your password](https://phish.example/login)\n![t](https://track.example/p.gif) [x](javascript:alert(1)) <img src=x onerror=alert(1)>';
      const e = accessEvent({ occurredAt: new Date().toISOString(), action: 'break_glass', purpose: 'EMERGENCY', actor: { id: evil, type: 'user' }, patient: { id: 'MRN-MD-1' } });
      expect((await call(t, 'integration', 'POST', '/v1/events', e)).status).toBe(202);
      const analyst = await t.client('soc_analyst');
      await waitForDetection(analyst);
      const alert = (await allAlerts(analyst, 'rule=break-glass-access')).find((a) => JSON.stringify(a).includes('dr-evil'));
      expect(alert).toBeDefined();
      const detail = await call(t, 'soc_analyst', 'GET', `/v1/alerts/${alert!.id}`);
      const md: string = detail.body.runbook.markdown;
      expect(md).toContain('dr-evil');
      // Exactly the template's own headings; nothing the attacker wrote starts a line or makes a link, image or tag.
      const lines = md.split('\n');
      expect(lines.filter((l) => /Containment/.test(l) && /^#/.test(l)).length).toBe(1);
      expect(lines.some((l) => /^\s*1\. \[Reset/.test(l))).toBe(false);
      expect(md).not.toMatch(/(^|[^\\])!\[t\]\(/);
      expect(md).not.toMatch(/(^|[^\\])\[(Reset your password|x)\]\(/);
      expect(md).not.toContain('https://phish.example');
      expect(md).not.toContain('https://track.example');
      expect(md).not.toContain('<img');
      expect(md).not.toContain('javascript:');
    });
  });

  describe('source spoofing on the default configuration', () => {
    it('binds a source system to the integration that first posted it; another integration is refused, and every report row names the integration', async () => {
      const own = accessEvent({ patient: { id: 'MRN-SRC-1' }, source: { system: 'ehr-gateway' } });
      expect((await call(t, 'integration', 'POST', '/v1/events', own)).status).toBe(202); // sample-ehr owns ehr-gateway
      const spoof = accessEvent({ patient: { id: 'MRN-SRC-1' }, source: { system: 'ehr-gateway' } });
      const refused = await call(t, 'integration', 'POST', '/v1/events', spoof, 'lis');
      expect(refused.status).toBe(403);
      expect(refused.body.errors).toEqual([{ pointer: '/source/system', message: expect.any(String) }]);
      expect(refused.text).not.toContain('ehr-gateway');
      expect((await call(t, 'compliance_officer', 'GET', `/v1/events/${spoof.id}`)).status).toBe(404);
      // lis still posts for its own system, which is now bound to it.
      const lab = accessEvent({ patient: { id: 'MRN-SRC-1' }, source: { system: 'lab-system' } });
      expect((await call(t, 'integration', 'POST', '/v1/events', lab, 'lis')).status).toBe(202);
      expect((await call(t, 'integration', 'POST', '/v1/events', accessEvent({ source: { system: 'lab-system' } }))).status).toBe(403);

      const report = await call(t, 'compliance_officer', 'GET', '/v1/reports/patient-access?patient=MRN-SRC-1&format=json');
      const rows = report.body.rows as { eventId: string; sourceSystem: string; sourceIntegration: string }[];
      expect(rows.map((r) => [r.sourceSystem, r.sourceIntegration]).sort()).toEqual([['ehr-gateway', 'sample-ehr'], ['lab-system', 'lis']]);
      const csv = await call(t, 'compliance_officer', 'GET', '/v1/reports/patient-access?patient=MRN-SRC-1&format=csv');
      expect(csv.text.split('\n')[0]).toContain(',sourceSystem,sourceIntegration,');
      const html = await call(t, 'compliance_officer', 'GET', '/v1/reports/patient-access?patient=MRN-SRC-1&format=html');
      expect(html.text).toContain('<span data-field="sourceIntegration">lis</span>');
    });
  });

  describe('CSV injection', () => {
    it('leaves no cell starting with a formula, whether a spreadsheet splits on , or ; (values with ;, leading spaces, NUL, the # report: lines)', async () => {
      const actor = 'dr-csv;=HYPERLINK("https://x.example","y")';
      const events = [
        accessEvent({ actor: { id: actor, type: 'user' }, patient: { id: 'MRN-CSV-1' }, details: { department: ' =1+2', orgUnit: 'x' } }),
        accessEvent({ actor: { id: actor, type: 'user', role: '\u0000=cmd|calc' }, patient: { id: 'MRN-CSV-1' }, purpose: 'TREAT' }),
      ];
      expect((await call(t, 'integration', 'POST', '/v1/events', { events })).status).toBe(202);
      const filter = encodeURIComponent(`${actor},=HYPERLINK("https://evil.example")`);
      const reports = [
        await call(t, 'compliance_officer', 'GET', `/v1/reports/user-activity?actor=${encodeURIComponent(actor)}&format=csv`),
        await call(t, 'compliance_officer', 'GET', `/v1/reports/user-activity?actor=${filter}&format=csv`),
        await call(t, 'compliance_officer', 'GET', '/v1/reports/patient-access?patient=MRN-CSV-1&format=csv'),
      ];
      expect(reports.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(reports[0].text.split('\n').filter((l) => /^[0-9]{4}-/.test(l))).toHaveLength(2);
      for (const r of reports) {
        expect(r.text).not.toContain('\u0000');
        // The worst case: a spreadsheet that splits on , and ; and ignores every quote.
        for (const line of r.text.split(/\r?\n/)) {
          for (const piece of line.split(/[,;]/)) {
            expect({ piece, formula: /^[\s"\ufffd]*[=+@]/.test(piece) }).toEqual({ piece, formula: false });
          }
        }
      }
    });
  });

  describe('/metrics and /docs in public', () => {
    it('leaves per-rule alert counters out of the anonymous /metrics, and shows them to a role that reads alerts', async () => {
      const e = accessEvent({ occurredAt: new Date().toISOString(), action: 'break_glass', purpose: 'EMERGENCY', actor: { id: 'dr-metrics', type: 'user' }, patient: { id: 'MRN-MET-1' } });
      expect((await call(t, 'integration', 'POST', '/v1/events', e)).status).toBe(202);
      await waitForDetection(await t.client('soc_analyst'));
      const anonymous = await call(t, null, 'GET', '/metrics');
      expect(anonymous.status).toBe(200);
      expect(anonymous.text).not.toMatch(/rule="/);
      expect(anonymous.text).toMatch(/audit_detection_alerts_by_severity_total\{severity="high"\} [1-9]/);
      const analyst = await call(t, 'soc_analyst', 'GET', '/metrics');
      expect(analyst.text).toMatch(/audit_detection_alerts_total\{rule="break-glass-access",severity="high"\} [1-9]/);
      // A presented credential is checked: a forged one is refused rather than treated as anonymous.
      const c = rawConnection(Number(new URL(t.baseUrl).port));
      await c.connected;
      c.socket.write('GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer not.a.token\r\nConnection: close\r\n\r\n');
      await c.closedPromise;
      expect(c.received).toMatch(/^HTTP\/1\.1 401 /);
    });
  });

  describe('token lifetime', () => {
    it('refuses tokens signed with the service key but without iat, or with an exp beyond TOKEN_MAX_TTL', async () => {
      const key = crypto.createPrivateKey(fs.readFileSync(path.join(t.dataDir, 'keys', 'token-signing-key.pem')));
      const kid = (await new TokenService(t.config).publicJwks()).keys[0].kid!;
      const now = Math.floor(Date.now() / 1000);
      const sign = (claims: Record<string, unknown>) =>
        new SignJWT({ role: 'soc_analyst', ...claims }).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid }).setIssuer(t.config.tokenIssuer).setAudience(t.config.tokenAudience).setSubject('forever').sign(key);
      const century = now + 100 * 365 * 86400;
      const forged = [await sign({ exp: century }), await sign({ iat: now, exp: century }), await sign({ iat: now, exp: now + 31 * 86400 })];
      const ok = await sign({ iat: now, exp: now + 3600 });
      const get = (token: string) => fetch(new URL('/v1/rules', t.baseUrl), { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      expect(await Promise.all(forged.map(get))).toEqual([401, 401, 401]);
      expect(await get(ok)).toBe(200);
    });
  });

  describe('re-identification reasons', () => {
    it('refuses a reason made of invisible characters or punctuation, and records the visible text', async () => {
      const e = accessEvent({ patient: { id: 'MRN-REID-1' } });
      expect((await call(t, 'integration', 'POST', '/v1/events', e)).status).toBe(202);
      const token = (await call(t, 'soc_analyst', 'GET', `/v1/events/${e.id}`)).body.event.patient.id;
      for (const reason of ['\u200b'.repeat(12), '\u2060\u200b\u200c\u200d\ufeff\u2060\u200b\u200c\u200d\ufeff\u2060', ' '.repeat(12), '.'.repeat(12), 'ab\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b']) {
        const res = await call(t, 'compliance_officer', 'POST', '/v1/reidentify', { token, reason });
        expect({ reason, status: res.status }).toEqual({ reason, status: 400 });
        expect(res.body.errors).toEqual([{ pointer: '/reason', message: expect.any(String) }]);
      }
      const ok = await call(t, 'compliance_officer', 'POST', '/v1/reidentify', { token, reason: 'Case\u200b 2026-9: complaint' }, 'co-visible');
      expect(ok.status).toBe(200);
      const logged = (await accessLog(t, '&action=patient.reidentify&actor=co-visible'))[0];
      expect(logged.reason).toBe('Case 2026-9: complaint');
    });
  });

  describe('legal holds: tokens and separation of duties', () => {
    it('holds the patient a token stands for, shows it back as the same token, and lets only the placing role release it', async () => {
      const e = accessEvent({ patient: { id: 'MRN-HOLD-SEC' } });
      expect((await call(t, 'integration', 'POST', '/v1/events', e)).status).toBe(202);
      const token = (await call(t, 'soc_analyst', 'GET', `/v1/events/${e.id}`)).body.event.patient.id;
      // The admin places a hold by the token it sees (admins see tokens only).
      const byToken = await call(t, 'admin', 'POST', '/v1/retention/holds', { patient: token, reason: 'Litigation', caseId: 'SEC-1' });
      expect(byToken.status).toBe(201);
      expect(byToken.body.patient).toBe(token);
      expect((await call(t, 'compliance_officer', 'GET', `/v1/retention/holds/${byToken.body.id}`)).body.patient).toBe('MRN-HOLD-SEC');
      expect((await call(t, 'admin', 'POST', '/v1/retention/holds', { patient: 'ptk_aaaaaaaaaaaaaaaaaaaaaaaa', reason: 'x', caseId: 'SEC-2' })).status).toBe(400);

      const officerHold = await call(t, 'compliance_officer', 'POST', '/v1/retention/holds', { patient: 'MRN-HOLD-SEC', reason: 'Subpoena', caseId: 'SEC-3' });
      expect(officerHold.status).toBe(201);
      const refused = await call(t, 'admin', 'POST', `/v1/retention/holds/${officerHold.body.id}/release`, { note: 'cleanup' }, 'adm-sod');
      expect(refused.status).toBe(403);
      expect((await call(t, 'compliance_officer', 'GET', `/v1/retention/holds/${officerHold.body.id}`)).body.status).toBe('active');
      const denied = await accessLog(t, '&action=legal_hold.release&actor=adm-sod');
      expect(denied.map((d) => d.outcome)).toEqual(['denied']);
      expect((await call(t, 'compliance_officer', 'POST', `/v1/retention/holds/${officerHold.body.id}/release`, { note: 'Case closed' })).status).toBe(200);
    });
  });

  describe('checkpoint inflation through on-demand proofs', () => {
    it('seals at most one on-demand checkpoint per chain per interval; waiting proofs share it and verify', async () => {
      const before = (await call(t, 'auditor', 'GET', '/v1/integrity/checkpoints')).body.checkpoints.length as number;
      const started = Date.now();
      // The attack: post, ask for a proof, post, ask ..., ten times without waiting for the proofs.
      const proofs: Promise<{ status: number }>[] = [];
      for (let i = 0; i < 10; i++) {
        const e = accessEvent({ id: randomUUID(), patient: { id: `MRN-CP-${i}` } });
        expect((await call(t, 'integration', 'POST', '/v1/events', e)).status).toBe(202);
        proofs.push(call(t, 'auditor', 'GET', `/v1/events/${e.id}/proof`));
      }
      const answers = await Promise.all(proofs);
      expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
      const after = (await call(t, 'auditor', 'GET', '/v1/integrity/checkpoints')).body.checkpoints.length as number;
      // The promise is one on-demand checkpoint per chain per interval: on a loaded machine the ten
      // round trips may span more than one interval, so the bound grows with the time they took
      // (unbounded sealing made one per proof: 10).
      const intervals = Math.floor((Date.now() - started) / ON_DEMAND_INTERVAL_MS);
      expect(after - before).toBeLessThanOrEqual(2 + intervals);
      expect(after - before).toBeLessThan(10);
    });
  });
});

/** A raw TCP client: writes what it is told and reports what came back and when the server closed. */
function rawConnection(port: number, localAddress = '127.0.0.1') {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  let received = '';
  let closed = false;
  socket.on('data', (d) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closedPromise = new Promise<void>((resolve) => socket.on('close', () => ((closed = true), resolve())));
  const connected = new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  return {
    socket,
    connected,
    closedPromise,
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
  };
}

describe('security hardening (issue 22): slow and unauthenticated bodies, connection caps', () => {
  let t: TestApp;
  let port: number;
  const limits = { httpMaxConnectionsPerIp: 20, httpHeadersTimeoutMs: 2000, httpRequestTimeoutMs: 3000 };
  beforeAll(async () => {
    t = await startTestApp({ security: limits });
    port = Number(new URL(t.baseUrl).port);
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers 100 unauthenticated 4 MB POST /fhir with 401 before reading their bodies, and closes them (RSS stays flat)', async () => {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const conns = [];
    for (let batch = 0; batch < 5; batch++) {
      const some = Array.from({ length: 20 }, () => rawConnection(port));
      for (const c of some) {
        await c.connected;
        c.socket.write('POST /fhir HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\nContent-Length: 4000000\r\n\r\n{"resourceType":"Bundle",');
      }
      await Promise.all(some.map((c) => c.closedPromise));
      conns.push(...some);
    }
    const rssAfter = process.memoryUsage().rss;
    for (const c of conns) {
      expect(c.received).toMatch(/^HTTP\/1\.1 401 /);
      expect(c.received).toMatch(/connection: close/i);
      expect(c.closed).toBe(true);
    }
    // Nothing of the announced 400 MB was buffered (figures in docs/security.md).
    expect((rssAfter - rssBefore) / 2 ** 20).toBeLessThan(64);
    // The refusals are in the access log, attributed to the path.
    const entries = await accessLog(t, '&outcome=denied');
    expect(entries.some((e) => e.route === 'POST /fhir' || e.route === '/fhir' || JSON.stringify(e).includes('/fhir'))).toBe(true);
  });

  it('closes an authenticated request whose body trickles in past HTTP_REQUEST_TIMEOUT_MS (408)', async () => {
    const token = await t.token('integration');
    const c = rawConnection(port);
    await c.connected;
    c.socket.write(`POST /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    const drip = setInterval(() => c.socket.writable && c.socket.write(' '), 500);
    try {
      await c.closedPromise;
    } finally {
      clearInterval(drip);
    }
    expect(c.received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection whose headers never finish (HTTP_HEADERS_TIMEOUT_MS)', async () => {
    const c = rawConnection(port);
    await c.connected;
    c.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const drip = setInterval(() => c.socket.writable && c.socket.write('a'), 300);
    try {
      await c.closedPromise;
    } finally {
      clearInterval(drip);
    }
    expect(c.closed).toBe(true);
  });

  it('caps open connections per client address; another address still gets in', async () => {
    const held = Array.from({ length: 40 }, () => rawConnection(port));
    await Promise.all(held.map((c) => c.connected));
    for (const c of held) c.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n');
    await new Promise((r) => setTimeout(r, 500));
    // At most the cap stays open (an earlier test's keep-alive client may hold one of the slots).
    const accepted = held.filter((c) => !c.closed).length;
    expect(accepted).toBeLessThanOrEqual(limits.httpMaxConnectionsPerIp);
    expect(accepted).toBeGreaterThanOrEqual(limits.httpMaxConnectionsPerIp - 2);
    // A client from another address is served meanwhile.
    const other = rawConnection(port, '127.0.0.2');
    await other.connected;
    other.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await other.closedPromise;
    expect(other.received).toMatch(/^HTTP\/1\.1 200 /);
    for (const c of held) c.socket.destroy();
  });
});

describe('security hardening (issue 22): the total connection cap (HTTP_MAX_CONNECTIONS)', () => {
  let t: TestApp;
  let port: number;
  // A small total cap, and a per-address cap the excess below never reaches: only the total refuses it.
  const limits = { httpMaxConnections: 8, httpMaxConnectionsPerIp: 4, httpHeadersTimeoutMs: 20_000, httpRequestTimeoutMs: 30_000 };
  beforeAll(async () => {
    t = await startTestApp({ security: limits });
    port = Number(new URL(t.baseUrl).port);
  });
  afterAll(async () => {
    await t.close();
  });

  /** GET over `agent` (a keep-alive agent holds its one connection between requests). */
  const get = (agent: http.Agent, pathname: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: pathname, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
  const refused = (metrics: string, cap: string) => Number(new RegExp(`^audit_http_connections_refused_total\\{cap="${cap}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);

  it('refuses connections past the total from any address, keeps serving the ones within it, and lets a new client in once they close', async () => {
    // One client within the cap, on a kept-alive connection.
    const inside = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: '127.0.0.2' });
    expect((await get(inside, '/health/live')).status).toBe(200);
    // Seven more from three addresses (3 + 3 + 1, each under the per-address cap): 8 open, the cap.
    const held = [
      ...Array.from({ length: 3 }, () => rawConnection(port, '127.0.0.3')),
      ...Array.from({ length: 3 }, () => rawConnection(port, '127.0.0.4')),
      rawConnection(port, '127.0.0.5'),
    ];
    await Promise.all(held.map((c) => c.connected));
    for (const c of held) c.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n'); // headers never finished
    await new Promise((r) => setTimeout(r, 300));
    expect(held.filter((c) => c.closed)).toHaveLength(0);

    // Four more, two from each of two new addresses: each closed on arrival, nothing answered.
    const excess = [...Array.from({ length: 2 }, () => rawConnection(port, '127.0.0.6')), ...Array.from({ length: 2 }, () => rawConnection(port, '127.0.0.7'))];
    for (const c of excess) c.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await Promise.all(excess.map((c) => c.closedPromise));
    for (const c of excess) expect(c.received).toBe('');
    expect(held.filter((c) => c.closed)).toHaveLength(0);

    // The client within the cap is still served on its connection, and /metrics counts the refusals by cap.
    expect((await get(inside, '/health/live')).status).toBe(200);
    const metrics = (await get(inside, '/metrics')).body;
    expect(refused(metrics, 'total')).toBe(4);
    expect(refused(metrics, 'per_ip')).toBe(0);

    // Once the held connections close, a new client (another address) gets in.
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closedPromise));
    inside.destroy();
    const newcomer = new http.Agent({ keepAlive: false, localAddress: '127.0.0.8' });
    let answer: { status: number } | undefined;
    for (const until = Date.now() + 5000; !answer && Date.now() < until; ) {
      answer = await get(newcomer, '/health/live').catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)));
    }
    expect(answer?.status).toBe(200);
  });
});

describe('security hardening (issue 22): OPS_ENDPOINTS_AUTH=true, SOURCE_BINDING=off', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A data dir as a umask of 022 would leave it: readable by every local user.
    const dataDir = tempDataDir('audit-sec-perm-');
    fs.chmodSync(dataDir, 0o755);
    t = await startTestApp({ dataDir, security: { opsEndpointsAuth: true, sourceBinding: 'off' } });
  });

  it('keeps the data dir 0700 and the database, WAL and shared-memory files 0600', async () => {
    expect((await call(t, 'integration', 'POST', '/v1/events', accessEvent())).status).toBe(202);
    const mode = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
    expect(mode(t.dataDir)).toBe('700');
    const dbFiles = fs.readdirSync(t.dataDir).filter((f) => /\.db(-wal|-shm|-journal)?$/.test(f));
    expect(dbFiles).toEqual(expect.arrayContaining(['audit.db', 'audit.db-wal', 'audit.db-shm']));
    for (const f of dbFiles) expect({ f, mode: mode(path.join(t.dataDir, f)) }).toEqual({ f, mode: '600' });
  });

  it('scopes FHIR-derived event ids by integration: identical content from another integration is its own event, not a 409', async () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'libs', 'standards', 'src', 'fhir', 'fixtures', 'balp-patient-read.json'), 'utf8'));
    const resource = { ...fixture, id: `sec-${randomUUID().slice(0, 8)}` }; // not a UUID: the id is derived
    const postAs = async (integration: string) => {
      const res = await fetch(new URL('/fhir/AuditEvent', t.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${await t.token('integration', integration)}` },
        body: JSON.stringify(resource),
      });
      const body = (await res.json()) as { extension?: { url: string; extension?: { url: string; valueUuid?: string }[] }[] };
      const id = body.extension?.flatMap((e) => e.extension ?? []).find((e) => e.url === 'id')?.valueUuid;
      return { status: res.status, id };
    };
    // A hostile integration posts first ...
    const hostile = await postAs('lis');
    expect(hostile.status).toBe(201);
    // ... and neither learns anything from, nor blocks, the owner's post of the same resource.
    const owner = await postAs('sample-ehr');
    expect(owner.status).toBe(201);
    expect(owner.id).not.toBe(hostile.id);
    const retry = await postAs('sample-ehr');
    expect([200, 201]).toContain(retry.status);
    expect(retry.id).toBe(owner.id);
  });
  afterAll(async () => {
    await t.close();
  });

  it('requires credentials for /metrics and the OpenAPI documentation; health stays public', async () => {
    for (const path of ['/metrics', '/docs-json', '/docs/']) {
      const anonymous = await call(t, null, 'GET', path);
      expect({ path, status: anonymous.status }).toEqual({ path, status: 401 });
      expect(anonymous.headers['content-type']).toMatch(/problem\+json/);
      expect((await call(t, 'auditor', 'GET', path)).status).toBe(200);
    }
    expect((await call(t, null, 'GET', '/health/live')).status).toBe(200);
    expect((await call(t, null, 'GET', '/health/ready')).status).toBe(200);
    // The auditor reads no alerts: the public set only.
    expect((await call(t, 'auditor', 'GET', '/metrics')).text).not.toMatch(/audit_detection_alerts_total\{/);
    expect((await call(t, 'admin', 'GET', '/metrics')).text).toMatch(/# TYPE audit_detection_alerts_total counter/);
  });
});
