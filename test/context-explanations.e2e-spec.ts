/**
 * The explanation stage in compliance reports (issue 13 item 2): context posted over HTTP, then
 * events, then patient-access and user-activity reports whose every row says whether the access was
 * justified (care relationship, open encounter in the user's department, documented emergency, or
 * unexplained), judged with the context as it was at the access (an encounter that ended yesterday
 * explained yesterday's access, not today's), and links the alerts whose evidence cites the event.
 * JSON, CSV and HTML carry the same explanation and stay signed.
 */
import { AccessEvent } from '@app/core';
import { REPORT_COLUMNS, verifySignedReport } from '@app/reports';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { accessEvent } from './support/events';
import { registerPhiMarkers } from './support/log-capture';
import { allAlerts, waitForDetection } from './support/detection';
import { parseCsv, parseHtmlRows, rawGet } from './support/reports';
import { startTestApp, TestApp } from './support/test-app';

const HOUR = 3_600_000;
const SELF = 'MRN-EXP-SELF-5501';
const P1 = 'MRN-EXP-5502';
const P2 = 'MRN-EXP-5503';
const P3 = 'MRN-EXP-5504';

describe('explanations in compliance reports', () => {
  let t: TestApp;
  let compliance: ApiClient;
  let token: string;
  let keys: Map<string, string>;
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const from = iso(now - 4 * 24 * HOUR);
  const to = iso(now + HOUR);
  const ev = (actor: string, patient: string, atMs: number, extra: Partial<AccessEvent> = {}) =>
    accessEvent({ actor: { id: actor, type: 'user', role: 'nurse' }, patient: { id: patient }, occurredAt: iso(atMs), ...extra });
  const events = {
    care: ev('u-exp-nurse', P1, now - 10 * 60_000),
    department: ev('u-exp-nurse', P2, now - 9 * 60_000),
    own: ev('u-exp-nurse', SELF, now - 8 * 60_000),
    clerkUnexplained: ev('u-exp-clerk', P1, now - 7 * 60_000),
    clerkEmergency: ev('u-exp-clerk', P2, now - 6 * 60_000, { purpose: 'EMERGENCY' }),
    clerkDuringEncounter: ev('u-exp-clerk', P3, now - 60 * HOUR),
    clerkAfterEncounter: ev('u-exp-clerk', P3, now - 5 * 60_000),
  };

  beforeAll(async () => {
    registerPhiMarkers('patient-id', [SELF, P1, P2, P3]);
    t = await startTestApp();
    const integration = await t.client('integration');
    const post = async (kind: string, records: unknown[]) => {
      const res = await integration.request('POST', `/v1/context/${kind}`, { records });
      expect(JSON.parse(res.body)).toEqual({ accepted: records.length, rejected: [] });
    };
    await post('users', [
      { id: 'u-exp-nurse', department: 'cardiology', status: 'active', patientId: SELF, effectiveAt: iso(now - 30 * 24 * HOUR) },
      { id: 'u-exp-clerk', department: 'registration', status: 'active', effectiveAt: iso(now - 30 * 24 * HOUR) },
    ]);
    await post('patients', [{ id: SELF }, { id: P1 }, { id: P2 }, { id: P3 }]);
    await post('encounters', [
      { id: 'enc-exp-1', patient: { id: P1 }, participants: ['u-exp-nurse'], start: iso(now - 24 * HOUR) },
      { id: 'enc-exp-2', patient: { id: P2 }, department: 'cardiology', start: iso(now - 24 * HOUR) },
      { id: 'enc-exp-3', patient: { id: P3 }, participants: ['u-exp-clerk'], start: iso(now - 72 * HOUR), end: iso(now - 48 * HOUR) },
    ]);
    const res = await integration.request('POST', '/v1/events', { events: Object.values(events).sort((a, b) => a.occurredAt.localeCompare(b.occurredAt)) });
    expect(res.status).toBe(202);
    await waitForDetection(await t.client('soc_analyst'));
    compliance = await t.client('compliance_officer');
    token = await t.token('compliance_officer');
    const k = await compliance.request('GET', '/v1/reports/keys');
    keys = new Map((JSON.parse(k.body).keys as { keyId: string; publicKeyPem: string }[]).map((x) => [x.keyId, x.publicKeyPem]));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('user-activity: each row explained or not, and why, with the alerts that cite it', async () => {
    const alerts = await allAlerts(await t.client('soc_analyst'));
    const selfAccess = alerts.filter((a) => a.ruleId === 'self-access');
    expect(selfAccess).toHaveLength(1);
    expect(selfAccess[0]!.evidence.eventIds).toContain(events.own.id);

    const res = await rawGet(t.baseUrl, `/v1/reports/user-activity?actor=u-exp-nurse&from=${from}&to=${to}&format=json`, token);
    expect(res.status).toBe(200);
    const doc = JSON.parse(res.body.toString('utf8'));
    const byId = new Map<string, Record<string, unknown>>(doc.rows.map((r: Record<string, unknown>) => [r.eventId, r]));
    expect(byId.get(events.care.id)).toMatchObject({ explained: true, explanation: 'care relationship (encounter enc-exp-1)', encounterId: 'enc-exp-1' });
    expect(byId.get(events.department.id)).toMatchObject({ explained: true, explanation: 'open encounter in the user\u2019s department (encounter enc-exp-2)', encounterId: 'enc-exp-2' });
    expect(byId.get(events.own.id)).toMatchObject({ explained: false, explanation: expect.stringMatching(/^unexplained/), encounterId: null, alertIds: expect.arrayContaining([selfAccess[0]!.id]) });
    expect(byId.get(events.care.id)!.alertIds).not.toContain(selfAccess[0]!.id);
    expect(verifySignedReport(res.body, keys)).toMatchObject({ ok: true });
  });

  it('patient-access: judged with the context as of the access, the same in JSON, CSV and HTML', async () => {
    const path = `/v1/reports/patient-access?patient=${P3}&from=${from}&to=${to}`;
    const json = JSON.parse((await rawGet(t.baseUrl, `${path}&format=json`, token)).body.toString('utf8'));
    expect(json.rows.map((r: Record<string, unknown>) => [r.eventId, r.explained, r.encounterId])).toEqual([
      [events.clerkDuringEncounter.id, true, 'enc-exp-3'],
      [events.clerkAfterEncounter.id, false, null],
    ]);

    const csvRes = await rawGet(t.baseUrl, `${path}&format=csv`, token);
    const { rows } = parseCsv(csvRes.body.toString('utf8'));
    expect(rows[0]).toEqual(REPORT_COLUMNS);
    const col = (name: string) => REPORT_COLUMNS.indexOf(name as (typeof REPORT_COLUMNS)[number]);
    expect(rows.slice(1).map((r) => [r[col('explained')], r[col('explanation')]])).toEqual([
      ['true', 'care relationship (encounter enc-exp-3)'],
      ['false', json.rows[1].explanation],
    ]);
    expect(verifySignedReport(csvRes.body, keys)).toMatchObject({ ok: true, format: 'csv' });

    const htmlRes = await rawGet(t.baseUrl, `${path}&format=html`, token);
    const html = parseHtmlRows(htmlRes.body.toString('utf8'));
    expect(html.map((r) => r.fields.explanation)).toEqual(json.rows.map((r: { explanation: string }) => r.explanation));
    expect(verifySignedReport(htmlRes.body, keys)).toMatchObject({ ok: true, format: 'html' });

    // A documented emergency explains an access without any care relationship.
    const p2 = JSON.parse((await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${P2}&from=${from}&to=${to}&format=json`, token)).body.toString('utf8'));
    const emergency = p2.rows.find((r: { eventId: string }) => r.eventId === events.clerkEmergency.id);
    expect(emergency).toMatchObject({ explained: true, explanation: 'documented emergency access' });
    const p1 = JSON.parse((await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${P1}&from=${from}&to=${to}&format=json`, token)).body.toString('utf8'));
    expect(p1.rows.find((r: { eventId: string }) => r.eventId === events.clerkUnexplained.id)).toMatchObject({ explained: false });
  });
});
