/**
 * Legal holds and retention policies over HTTP: compliance officers and admins place, list and
 * release holds (release is a recorded state change; the hold stays listed); other roles are
 * refused; every change is audited without PHI in the logs; the policy endpoint shows the
 * RETENTION_CONFIG file (or the defaults), and a bad file stops the service from starting.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LEGAL_HOLD_STORE, LegalHoldStore } from '@app/retention';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { startService } from './support/cli';
import { accessEvent } from './support/events';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

describe('legal holds over HTTP', () => {
  let t: TestApp;
  let officer: ApiClient;
  let admin: ApiClient;

  beforeAll(async () => {
    t = await startTestApp();
    officer = await t.client('compliance_officer', 'u-officer-1');
    admin = await t.client('admin', 'u-admin-1');
  });
  afterAll(() => t.close());

  it('place, list, release: who and when are recorded, and a released hold stays listed', async () => {
    const created = await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-HOLD-1', from: '2024-01-01', to: '2025-01-01', reason: 'Subpoena 24-117', caseId: 'CASE-2026-001' });
    expect(created.status).toBe(201);
    const hold = JSON.parse(created.body);
    expect(hold).toMatchObject({
      status: 'active',
      patient: 'MRN-HOLD-1',
      actor: null,
      from: '2024-01-01T00:00:00.000Z',
      to: '2025-01-01T00:00:00.000Z',
      reason: 'Subpoena 24-117',
      caseId: 'CASE-2026-001',
      createdBy: 'u-officer-1',
      createdByRole: 'compliance_officer',
      releasedAt: null,
    });
    const byActor = JSON.parse((await admin.request('POST', '/v1/retention/holds', { actor: 'dr-x', reason: 'HR investigation', caseId: 'HR-7' })).body);
    expect(byActor).toMatchObject({ actor: 'dr-x', createdBy: 'u-admin-1', createdByRole: 'admin' });

    const list = JSON.parse((await admin.request('GET', '/v1/retention/holds')).body);
    expect(list.holds.map((h: { id: string }) => h.id)).toEqual([byActor.id, hold.id]);

    // Separation of duties: the admin may not release the compliance officer's hold; the officer may.
    const refused = await admin.request('POST', `/v1/retention/holds/${hold.id}/release`, { note: 'Case dismissed' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).type).toMatch(/legal-hold-release-not-allowed$/);
    const released = await officer.request('POST', `/v1/retention/holds/${hold.id}/release`, { note: 'Case dismissed' });
    expect(released.status).toBe(200);
    expect(JSON.parse(released.body)).toMatchObject({ id: hold.id, status: 'released', releasedBy: 'u-officer-1', releasedByRole: 'compliance_officer', releaseNote: 'Case dismissed' });
    const again = await officer.request('POST', `/v1/retention/holds/${hold.id}/release`, { note: 'twice' });
    expect(again.status).toBe(409);
    expect(JSON.parse(again.body).type).toMatch(/legal-hold-released$/);

    const active = JSON.parse((await officer.request('GET', '/v1/retention/holds?status=active')).body);
    expect(active.holds.map((h: { id: string }) => h.id)).toEqual([byActor.id]);
    const releasedList = JSON.parse((await officer.request('GET', '/v1/retention/holds?status=released')).body);
    expect(releasedList.holds.map((h: { id: string }) => h.id)).toEqual([hold.id]);
    expect(JSON.parse((await officer.request('GET', `/v1/retention/holds/${hold.id}`)).body).releaseNote).toBe('Case dismissed');
    expect((await officer.request('GET', '/v1/retention/holds/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('the retention runner sees active holds through the LegalHoldStore port', async () => {
    const integration = await t.client('integration');
    const held = accessEvent({ patient: { id: 'MRN-HOLD-2' } });
    const receipts = JSON.parse((await integration.request('POST', '/v1/events', { events: [accessEvent(), held, accessEvent()] })).body).receipts;
    await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-HOLD-2', reason: 'r', caseId: 'C' });
    const store = t.app.get<LegalHoldStore>(LEGAL_HOLD_STORE);
    const seqs = receipts.map((r: { seq: number }) => r.seq);
    const coverage = await store.coverage('data_access', seqs[0], seqs[2]);
    expect(coverage).toMatchObject({ held: true, heldRecords: 1, firstHeldSeq: seqs[1], lastHeldSeq: seqs[1] });
  });

  it('validates the request and names the fields (never echoing values)', async () => {
    const none = await officer.request('POST', '/v1/retention/holds', { reason: 'r', caseId: 'C' });
    expect(none.status).toBe(400);
    expect(JSON.parse(none.body).errors).toEqual([{ pointer: '', message: 'a hold needs at least one of patient, actor, from, to' }]);
    const bad = await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-SECRET', from: 'soon', caseId: 'C', color: 'red' });
    expect(JSON.parse(bad.body).errors.map((e: { pointer: string }) => e.pointer)).toEqual(['', '/from', '/reason']);
    expect(bad.body).not.toContain('MRN-SECRET');
    expect((await officer.request('POST', '/v1/retention/holds/00000000-0000-4000-8000-000000000000/release', {})).status).toBe(400);
    expect((await officer.request('GET', '/v1/retention/holds?status=open')).status).toBe(400);
  });

  it('roles: only retention:write places or releases; only retention:read lists', async () => {
    const body = { actor: 'dr-y', reason: 'r', caseId: 'C' };
    for (const role of ['soc_analyst', 'auditor', 'integration'] as const) {
      const c = await t.client(role);
      expect((await c.request('POST', '/v1/retention/holds', body)).status).toBe(403);
      expect((await c.request('GET', '/v1/retention/holds')).status).toBe(403);
      expect((await c.request('GET', '/v1/retention/policies')).status).toBe(403);
      expect((await c.request('POST', '/v1/retention/holds/00000000-0000-4000-8000-000000000000/release', { note: 'n' })).status).toBe(403);
    }
    expect((await (await t.client(null)).request('GET', '/v1/retention/holds')).status).toBe(401);
  });

  it('placing and releasing are audited; the logs name the hold, never the patient, actor, case or who', async () => {
    const before = t.logLines.length;
    const h = JSON.parse((await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-LOG-1', actor: 'dr-log', reason: 'Secret matter', caseId: 'CASE-LOG' })).body);
    await officer.request('POST', `/v1/retention/holds/${h.id}/release`, { note: 'done' });
    const lines = t.logLines.slice(before).join('\n');
    expect(lines).toContain(`audit action=legal_hold.create outcome=success role=compliance_officer holdId=${h.id} criteria=patient,actor`);
    expect(lines).toContain(`audit action=legal_hold.release outcome=success role=compliance_officer holdId=${h.id}`);
    for (const secret of ['MRN-LOG-1', 'dr-log', 'Secret matter', 'CASE-LOG', 'u-officer-1']) expect(t.logLines.join('\n')).not.toContain(secret);
    // The access log (PHI-grade storage) has the full entries, reads of holds included.
    await officer.request('GET', '/v1/retention/holds');
    const entries = JSON.parse((await admin.request('GET', '/v1/access-log?limit=20')).body).entries as { action: string; principal: { sub: string }; filters: Record<string, unknown> }[];
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['legal_hold.create', 'legal_hold.release', 'legal_hold.list']));
    const create = entries.find((e) => e.action === 'legal_hold.create' && e.filters.holdId === h.id)!;
    expect(create.principal.sub).toBe('u-officer-1');
    expect(create.filters).toMatchObject({ caseId: 'CASE-LOG', criteria: 'patient,actor' });
  });

  it('GET /v1/retention/policies: the built-in defaults, as a reusable config document and a life cycle', async () => {
    const p = JSON.parse((await officer.request('GET', '/v1/retention/policies')).body);
    expect(p.source).toBe('built-in defaults');
    expect(p.countedFrom).toBe('receivedAt');
    expect(p.policy.categories.authentication).toEqual({ retain: 'P7Y', tiers: { hot: 'P90D', warm: 'P1Y' } });
    expect(p.policy.categories.data_access.retain).toBe('P6Y');
    expect(p.lifecycle.security.map((s: { stage: string }) => s.stage)).toEqual(['hot', 'warm', 'cold', 'delete']);
    expect(p.legalHolds.active).toBeGreaterThanOrEqual(1);
  });
});

describe('RETENTION_CONFIG', () => {
  const dir = tempDataDir('audit-retention-config-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the policy endpoint shows the configured file', async () => {
    const file = path.join(dir, 'retention.yml');
    fs.writeFileSync(file, 'version: 1\ncategories:\n  data_access: { retain: P10Y, tiers: { hot: P30D, warm: P2Y } }\n');
    const t = await startTestApp({ compliance: { retentionConfigFile: file, reportPageSize: 1000 } });
    try {
      const p = JSON.parse((await (await t.client('admin')).request('GET', '/v1/retention/policies')).body);
      expect(p.source).toBe(file);
      expect(p.policy.categories.data_access).toEqual({ retain: 'P10Y', tiers: { hot: 'P30D', warm: 'P2Y' } });
      expect(p.policy.categories.security.retain).toBe('P7Y');
    } finally {
      await t.close();
    }
  });

  it('a bad file stops the service from starting, naming the key', async () => {
    const file = path.join(dir, 'bad.yml');
    fs.writeFileSync(file, 'categories:\n  data_access: { retain: P6Y, keep: forever }\n');
    const started = startService({ DATA_DIR: path.join(dir, 'data'), INSECURE_HTTP: 'true', RETENTION_CONFIG: file });
    await expect(started).rejects.toThrow(/service exited with 1/);
    await expect(started).rejects.toThrow(/RETENTION_CONFIG: .*bad\.yml: categories\.data_access\.keep: unknown key/);
  });
});

describe('retention runs over HTTP', () => {
  it('admins start runs (dry or real), time travel only when the deployment allows it; compliance reads what each run did', async () => {
    const t = await startTestApp();
    try {
      const ehr = await t.client('integration');
      expect((await ehr.request('POST', '/v1/events', accessEvent({ patient: { id: 'MRN-RUNS-1' } }))).status).toBe(202);
      const admin = await t.client('admin', 'u-admin-runs');
      const officer = await t.client('compliance_officer', 'u-officer-runs');

      const dry = await admin.request('POST', '/v1/retention/runs', { dryRun: true });
      expect(dry.status).toBe(200);
      expect(JSON.parse(dry.body)).toMatchObject({ dryRun: true, runId: null, deleted: 0 });
      // Time travel is off by default, and bad input names the field without echoing it.
      const travel = await admin.request('POST', '/v1/retention/runs', { now: '2040-01-01T00:00:00Z' });
      expect(travel.status).toBe(403);
      expect(travel.headers['content-type']).toMatch(/application\/problem\+json/);
      const bad = await admin.request('POST', '/v1/retention/runs', { dryRun: 'yes', when: 'MRN-RUNS-1' });
      expect(bad.status).toBe(400);
      expect(bad.body).not.toContain('MRN-RUNS-1');
      expect(JSON.parse(bad.body).errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['', '/dryRun']);
      // Running retention is an admin's call, not a compliance officer's.
      expect((await officer.request('POST', '/v1/retention/runs', {})).status).toBe(403);

      const real = await admin.request('POST', '/v1/retention/runs', {});
      expect(real.status).toBe(200);
      const report = JSON.parse(real.body) as { runId: string; deleted: number };
      expect(report.runId).toMatch(/^[0-9a-f-]{36}$/);
      const list = JSON.parse((await officer.request('GET', '/v1/retention/runs')).body) as { runs: { id: string; trigger: string; status: string }[] };
      expect(list.runs[0]).toMatchObject({ id: report.runId, trigger: 'api:admin:u-admin-runs', status: 'completed' });
      const one = await officer.request('GET', `/v1/retention/runs/${report.runId}`);
      expect(one.status).toBe(200);
      expect(JSON.parse(one.body)).toMatchObject({ id: report.runId, status: 'completed', summary: { runId: report.runId, deleted: 0 }, purges: [], actions: [] });
      expect((await officer.request('GET', '/v1/retention/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
      expect((await officer.request('GET', '/v1/retention/runs?limit=0')).status).toBe(400);
    } finally {
      await t.close();
    }
  });

  it('with RETENTION_ALLOW_TIME_TRAVEL an admin runs as of another time: records move to warm and the run shows it', async () => {
    const t = await startTestApp({ compliance: { reportPageSize: 1000, retentionAllowTimeTravel: true } });
    try {
      const ehr = await t.client('integration');
      expect((await ehr.request('POST', '/v1/events', { events: [accessEvent({ patient: { id: 'MRN-RUNS-2' } }), accessEvent({ patient: { id: 'MRN-RUNS-2' } })] })).status).toBe(202);
      const admin = await t.client('admin', 'u-admin-runs');
      const officer = await t.client('compliance_officer', 'u-officer-runs');
      const before = JSON.parse((await officer.request('GET', '/v1/events?patient=MRN-RUNS-2')).body) as { events: unknown[] };
      const r = await admin.request('POST', '/v1/retention/runs', { now: new Date(Date.now() + 200 * 24 * 3600 * 1000).toISOString() });
      expect(r.status).toBe(200);
      const report = JSON.parse(r.body) as { runId: string; warmed: number };
      expect(report.warmed).toBeGreaterThanOrEqual(2);
      const detail = JSON.parse((await officer.request('GET', `/v1/retention/runs/${report.runId}`)).body) as { actions: { chain: string; action: string; count: number }[] };
      expect(detail.actions).toEqual(expect.arrayContaining([expect.objectContaining({ chain: 'data_access', action: 'warm', count: 2 })]));
      const after = JSON.parse((await officer.request('GET', '/v1/events?patient=MRN-RUNS-2')).body) as { events: unknown[] };
      expect(after.events).toEqual(before.events);
      expect(JSON.parse((await (await t.client('auditor')).request('GET', '/v1/integrity/verify')).body)).toMatchObject({ ok: true });
    } finally {
      await t.close();
    }
  });
});

describe('legal holds keep no patient id in clear', () => {
  it('the database holds a token and a sealed id; compliance officers see the id, admins the token (as in event queries)', async () => {
    const t = await startTestApp();
    try {
      const officer = await t.client('compliance_officer', 'u-officer-seal');
      const admin = await t.client('admin', 'u-admin-seal');
      const created = await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-SEALED-HOLD-1', reason: 'Litigation', caseId: 'CASE-SEAL-1' });
      expect(created.status).toBe(201);
      const id = JSON.parse(created.body).id as string;
      expect(JSON.parse(created.body).patient).toBe('MRN-SEALED-HOLD-1');
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(path.join(t.dataDir, 'audit.db'), { readonly: true });
      const row = db.prepare('SELECT * FROM legal_holds WHERE id = ?').get(id) as Record<string, unknown>;
      db.close();
      expect(JSON.stringify(row, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))).not.toContain('MRN-SEALED-HOLD-1');
      expect(row.patient_id).toMatch(/^ptk_[a-z2-7]{24}$/);
      const byOfficer = JSON.parse((await officer.request('GET', `/v1/retention/holds/${id}`)).body);
      expect(byOfficer.patient).toBe('MRN-SEALED-HOLD-1');
      const byAdmin = JSON.parse((await admin.request('GET', '/v1/retention/holds')).body) as { holds: { id: string; patient: string }[] };
      expect(byAdmin.holds.find((h) => h.id === id)!.patient).toBe(row.patient_id);
    } finally {
      await t.close();
    }
  });
});
