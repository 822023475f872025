/**
 * Compliance reports end to end over HTTP: a fixture of known accesses gives exactly the expected
 * rows in JSON, CSV and HTML for every report kind; each report's signature verifies (in memory,
 * from a saved file, and with `auditctl report verify`) and changing any one character makes it
 * fail; only roles with reports:read get reports; generating one is audited without PHI in logs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { REPORT_COLUMNS, verifyReportFile, verifySignedReport } from '@app/reports';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { runCli } from './support/cli';
import { accessEvent } from './support/events';
import { parseCsv, parseHtmlRows, rawGet } from './support/reports';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

const P = 'MRN-RPT-1';
const ev = (o: Partial<AccessEvent>): AccessEvent => accessEvent({ patient: { id: P }, ...o });

const fixture = {
  alice: ev({ occurredAt: '2026-01-05T09:00:00.000Z', actor: { id: 'dr-alice', type: 'user', role: 'physician' }, resource: { type: 'Observation' }, purpose: 'TREAT', details: { department: 'Cardiology' } }),
  aliceOther: ev({ occurredAt: '2026-01-05T10:00:00.000Z', patient: { id: 'MRN-RPT-2' }, actor: { id: 'dr-alice', type: 'user', role: 'physician' }, resource: { type: 'Condition' }, purpose: 'TREAT' }),
  bobLoginFail: ev({ occurredAt: '2026-01-06T08:00:00.000Z', category: 'authentication', action: 'login', outcome: 'failure', patient: undefined, resource: undefined, purpose: undefined, actor: { id: 'nurse-bob', type: 'user', role: 'nurse' } }),
  bob: ev({ occurredAt: '2026-01-06T14:30:00.000Z', actor: { id: 'nurse-bob', type: 'user', role: 'nurse' }, resource: { type: 'MedicationRequest' }, purpose: 'TREAT', details: { orgUnit: 'Ward 4B, "East"' } }),
  billing: ev({ occurredAt: '2026-01-07T11:00:00.000Z', action: 'query', actor: { id: 'billing-svc', type: 'service', role: 'billing' }, resource: { type: 'Claim' }, purpose: 'PAYMENT' }),
  eveGlass: ev({ occurredAt: '2026-01-08T02:15:00.000Z', category: 'security', action: 'break_glass', actor: { id: 'dr-eve', type: 'user', role: 'emergency physician' }, resource: { type: 'Patient' }, purpose: 'EMERGENCY', details: { department: 'ED' } }),
  malloryDenied: ev({ occurredAt: '2026-01-09T16:45:00.000Z', outcome: 'denied', actor: { id: 'dr-mallory', type: 'user', role: 'physician' }, resource: { type: 'DiagnosticReport' }, purpose: undefined }),
  eveFhirGlass: ev({ occurredAt: '2026-01-10T03:00:00.000Z', actor: { id: 'dr-eve', type: 'user', role: 'emergency physician' }, resource: { type: 'AllergyIntolerance' }, purpose: 'EMERGENCY', details: { breakGlass: true, department: 'ED' } }),
  beforeRange: ev({ occurredAt: '2025-12-31T23:59:59.000Z', actor: { id: 'dr-alice', type: 'user', role: 'physician' } }),
};

interface ExpectedRow {
  eventId: string;
  actorId: string;
  actorRole: string | null;
  orgUnit: string | null;
  patientId: string | null;
  actionText: string;
  resourceText: string | null;
  purposeText: string;
  outcomeText: string;
  occurredAt: string;
}

const row = (e: AccessEvent, words: { actionText: string; resourceText: string | null; purposeText: string; outcomeText: string; orgUnit?: string | null }): ExpectedRow => ({
  eventId: e.id,
  actorId: e.actor.id,
  actorRole: e.actor.role ?? null,
  orgUnit: words.orgUnit ?? null,
  patientId: e.patient?.id ?? null,
  occurredAt: e.occurredAt,
  actionText: words.actionText,
  resourceText: words.resourceText,
  purposeText: words.purposeText,
  outcomeText: words.outcomeText,
});

const expected = {
  alice: row(fixture.alice, { actionText: 'viewed', resourceText: 'observations (results, vital signs)', purposeText: 'treatment', outcomeText: 'completed', orgUnit: 'Cardiology' }),
  aliceOther: row(fixture.aliceOther, { actionText: 'viewed', resourceText: 'diagnoses and problems', purposeText: 'treatment', outcomeText: 'completed' }),
  bobLoginFail: row(fixture.bobLoginFail, { actionText: 'signed in', resourceText: null, purposeText: 'not stated', outcomeText: 'failed' }),
  bob: row(fixture.bob, { actionText: 'viewed', resourceText: 'medication orders', purposeText: 'treatment', outcomeText: 'completed', orgUnit: 'Ward 4B, "East"' }),
  billing: row(fixture.billing, { actionText: 'searched', resourceText: 'insurance claims', purposeText: 'payment', outcomeText: 'completed' }),
  eveGlass: row(fixture.eveGlass, { actionText: 'used emergency access (break-glass)', resourceText: 'demographics', purposeText: 'emergency treatment', outcomeText: 'completed', orgUnit: 'ED' }),
  malloryDenied: row(fixture.malloryDenied, { actionText: 'viewed', resourceText: 'diagnostic reports', purposeText: 'not stated', outcomeText: 'refused' }),
  eveFhirGlass: row(fixture.eveFhirGlass, { actionText: 'viewed', resourceText: 'allergies', purposeText: 'emergency treatment', outcomeText: 'completed', orgUnit: 'ED' }),
};

const cases: { name: string; path: string; rows: ExpectedRow[] }[] = [
  {
    name: 'patient-access',
    path: `/v1/reports/patient-access?patient=${P}&from=2026-01-01&to=2026-02-01`,
    rows: [expected.alice, expected.bob, expected.billing, expected.eveGlass, expected.malloryDenied, expected.eveFhirGlass],
  },
  { name: 'user-activity', path: '/v1/reports/user-activity?actor=dr-alice&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z', rows: [expected.alice, expected.aliceOther] },
  { name: 'break-glass', path: '/v1/reports/break-glass?from=2026-01-01&to=2026-02-01', rows: [expected.eveGlass, expected.eveFhirGlass] },
  { name: 'failed-access', path: '/v1/reports/failed-access?from=2026-01-01&to=2026-02-01', rows: [expected.bobLoginFail, expected.malloryDenied] },
];

const pick = (r: Record<string, unknown>): ExpectedRow => ({
  eventId: String(r.eventId),
  actorId: String(r.actorId),
  actorRole: (r.actorRole as string | null) || null,
  orgUnit: (r.orgUnit as string | null) || null,
  patientId: (r.patientId as string | null) || null,
  actionText: String(r.actionText),
  resourceText: (r.resourceText as string | null) || null,
  purposeText: String(r.purposeText),
  outcomeText: String(r.outcomeText),
  occurredAt: String(r.occurredAt),
});

describe('compliance reports over HTTP', () => {
  let t: TestApp;
  let compliance: ApiClient;
  let keys: Map<string, string>;
  let complianceToken: string;
  const outDir = tempDataDir('audit-reports-out-');

  beforeAll(async () => {
    // No interval checkpoints during the run: the test seals on demand and expects what it sealed.
    t = await startTestApp({ integrity: { checkpointEveryRecords: 10_000, checkpointIntervalSeconds: 86_400, verifyWorkers: 1 } });
    const integration = await t.client('integration');
    const res = await integration.request('POST', '/v1/events', { events: Object.values(fixture) });
    expect(res.status).toBe(202);
    compliance = await t.client('compliance_officer');
    complianceToken = await t.token('compliance_officer');
    const k = await compliance.request('GET', '/v1/reports/keys');
    expect(k.status).toBe(200);
    keys = new Map((JSON.parse(k.body).keys as { keyId: string; publicKeyPem: string }[]).map((x) => [x.keyId, x.publicKeyPem]));
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  describe.each(cases)('$name', (c) => {
    it('JSON: exactly the expected rows, oldest first, with the header, summary and integrity statement', async () => {
      const res = await rawGet(t.baseUrl, `${c.path}&format=json`, complianceToken);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const doc = JSON.parse(res.body.toString('utf8'));
      expect(Object.keys(doc)).toEqual(['report', 'rows', 'summary', 'integrity', 'signature']);
      expect(doc.report.kind).toBe(c.name);
      expect(doc.report.columns).toEqual(REPORT_COLUMNS);
      expect(doc.rows.map(pick)).toEqual(c.rows);
      for (const r of doc.rows) expect(Object.keys(r)).toEqual(REPORT_COLUMNS);
      expect(doc.summary.rows).toBe(c.rows.length);
      expect(doc.integrity.body).toMatchObject({ hash: 'SHA-256', signatureAlgorithm: 'Ed25519', keyId: doc.signature.keyId });
      expect(doc.integrity.checkpoints).toHaveProperty('available');
      expect(verifySignedReport(res.body, keys)).toMatchObject({ ok: true, format: 'json' });
      // The body hash and signature are also sent as HTTP trailers, the key id as a header.
      expect(res.headers['report-key-id']).toBe(doc.signature.keyId);
      expect(res.trailers['report-sha256']).toBe(doc.signature.reportSha256);
      expect(res.trailers['report-signature']).toBe(doc.signature.signature);
    });

    it('CSV: the same rows under a header row, closed by comment lines and the signature', async () => {
      const res = await rawGet(t.baseUrl, `${c.path}&format=csv`, complianceToken);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      expect(res.headers['content-disposition']).toMatch(new RegExp(`^attachment; filename="${c.name}-\\d{8}T\\d{6}Z\\.csv"$`));
      const { rows, comments } = parseCsv(res.body.toString('utf8'));
      expect(rows[0]).toEqual(REPORT_COLUMNS);
      const objects = rows.slice(1).map((cells) => Object.fromEntries(REPORT_COLUMNS.map((k, i) => [k, cells[i]])));
      expect(objects.map(pick)).toEqual(c.rows);
      expect(comments.map((l) => l.split(':')[0])).toEqual(['# report', '# summary', '# integrity', '# report-signature']);
      expect(verifySignedReport(res.body, keys)).toMatchObject({ ok: true, format: 'csv' });
    });

    it('HTML: the same rows in the table, readable words, and a signature footer', async () => {
      const res = await rawGet(t.baseUrl, `${c.path}&format=html`, complianceToken);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['content-security-policy']).toMatch(/style-src 'sha256-[A-Za-z0-9+/=]+'/);
      const html = res.body.toString('utf8');
      const rows = parseHtmlRows(html);
      expect(rows.map((r) => pick({ ...r.fields, eventId: r.eventId }))).toEqual(
        c.rows.map((r) => (c.name === 'patient-access' ? { ...r, patientId: null } : r)),
      );
      // When, Who, (Patient), What, Why, Outcome, Recorded by (system and authenticated integration), Justified? (the explanation stage).
      expect(new Set(rows.map((r) => r.cells))).toEqual(new Set([c.name === 'patient-access' ? 7 : 8]));
      expect(html).toContain('<footer id="report-signature">');
      expect(verifySignedReport(res.body, keys)).toMatchObject({ ok: true, format: 'html' });
    });
  });

  it('a saved report verifies with `auditctl report verify`; changing one character makes it fail', async () => {
    const formats = ['json', 'csv', 'html'] as const;
    for (const format of formats) {
      const res = await rawGet(t.baseUrl, `${cases[0].path}&format=${format}`, complianceToken);
      const file = path.join(outDir, `report.${format}`);
      fs.writeFileSync(file, res.body);
      expect(await verifyReportFile(file, keys)).toMatchObject({ ok: true });
      const cli = runCli(['report', 'verify', file, '--data-dir', t.dataDir]);
      expect(cli.stdout).toMatch(/^OK: patient-access report/);
      expect(cli.status).toBe(0);

      // One character changed in a row, in the integrity statement, in the signature block.
      const text = res.body.toString('utf8');
      const spots = [text.indexOf('dr-alice'), text.indexOf('Cardiology'), text.lastIndexOf('"keyId"') + 12, text.length - 30];
      for (const [i, at] of spots.entries()) {
        const tampered = Buffer.from(res.body);
        tampered[at] = tampered[at] === 0x61 ? 0x62 : 0x61;
        const bad = path.join(outDir, `tampered-${i}.${format}`);
        fs.writeFileSync(bad, tampered);
        expect((await verifyReportFile(bad, keys)).ok).toBe(false);
      }
      // The CLI on one of them (each run starts a process; the library check above covers the rest).
      const r = runCli(['report', 'verify', path.join(outDir, `tampered-0.${format}`), '--data-dir', t.dataDir]);
      expect(r.stdout).toMatch(/^FAILED: the report body does not match its SHA-256/);
      expect(r.status).toBe(1);
    }
  }, 180_000);

  it('states the signed checkpoints that seal the listed records, and that they verified', async () => {
    const before = JSON.parse((await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${P}`, complianceToken)).body.toString('utf8'));
    expect(before.integrity.checkpoints).toMatchObject({ available: true, verified: null, checkpoints: [] });
    // The proof endpoint seals the data_access chain on demand; the security chain stays unsealed.
    expect((await compliance.request('GET', `/v1/events/${fixture.eveFhirGlass.id}/proof`)).status).toBe(200);
    const doc = JSON.parse((await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${P}`, complianceToken)).body.toString('utf8'));
    const spans = Object.fromEntries(doc.summary.chains.map((c: { chain: string }) => [c.chain, c]));
    const cp = doc.integrity.checkpoints;
    expect(cp).toMatchObject({ available: true, verified: true, checks: ['signature', 'head-matches-store'] });
    expect(cp.checkpoints).toHaveLength(1);
    expect(cp.checkpoints[0]).toMatchObject({ chain: 'data_access', verified: true, problem: null, seals: { fromSeq: spans.data_access.fromSeq, toSeq: spans.data_access.toSeq } });
    expect(cp.checkpoints[0].treeSize).toBeGreaterThan(spans.data_access.toSeq);
    expect(cp.unsealed).toEqual([{ chain: 'security', fromSeq: spans.security.fromSeq, toSeq: spans.security.toSeq }]);
    const html = (await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${P}&format=html`, complianceToken)).body.toString('utf8');
    expect(html).toMatch(/<tr><td>data_access<\/td><td>\d+&ndash;\d+<\/td><td>\d+, <code>[0-9a-f]{64}<\/code><\/td><td>[^<]+<\/td><td>yes<\/td><\/tr>/);
    expect(html).toContain('of log security are newer than its latest checkpoint: not sealed yet.');
  });

  it('validates parameters before streaming (400 problem naming the parameter)', async () => {
    const missing = await compliance.request('GET', '/v1/reports/patient-access?format=csv');
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body).errors).toEqual([{ pointer: '/query/patient', message: 'is required for a patient-access report' }]);
    const badFormat = await compliance.request('GET', `/v1/reports/patient-access?patient=${P}&format=pdf`);
    expect(badFormat.status).toBe(400);
    const badTime = await compliance.request('GET', '/v1/reports/failed-access?from=yesterday');
    expect(JSON.parse(badTime.body).errors[0].pointer).toBe('/query/from');
    const unknown = await compliance.request('GET', '/v1/reports/break-glass?limit=5');
    expect(JSON.parse(unknown.body).errors[0].pointer).toBe('/query');
    expect(missing.body + badFormat.body).not.toContain(P);
  });

  it('only roles with reports:read get reports', async () => {
    for (const role of ['soc_analyst', 'auditor', 'admin', 'integration'] as const) {
      const c = await t.client(role);
      expect((await c.request('GET', `/v1/reports/patient-access?patient=${P}`)).status).toBe(403);
      expect((await c.request('GET', '/v1/reports/break-glass')).status).toBe(403);
    }
    const anonymous = await t.client(null);
    expect((await anonymous.request('GET', `/v1/reports/patient-access?patient=${P}`)).status).toBe(401);
  });

  it('generating a report is audited, and the logs carry no patient or user identifiers', async () => {
    const before = t.logLines.length;
    const res = await rawGet(t.baseUrl, `/v1/reports/patient-access?patient=${P}&format=csv`, complianceToken);
    expect(res.status).toBe(200);
    const lines = t.logLines.slice(before).join('\n');
    expect(lines).toMatch(/audit action=report\.generate outcome=success role=compliance_officer kind=patient-access format=csv/);
    expect(lines).toMatch(/report generated kind=patient-access format=csv rows=7 /);
    const all = t.logLines.join('\n');
    for (const secret of [P, 'MRN-RPT-2', 'dr-alice', 'nurse-bob', 'Cardiology', 'test-compliance_officer']) expect(all).not.toContain(secret);
    // The access log has the full entry: who asked for which report about whom.
    const auditor = await t.client('auditor');
    const entries = JSON.parse((await auditor.request('GET', '/v1/access-log?action=report.generate&limit=5')).body).entries;
    expect(entries[0]).toMatchObject({ action: 'report.generate', principal: { sub: 'test-compliance_officer', role: 'compliance_officer' }, filters: { kind: 'patient-access', format: 'csv' } });
  });
});
