/**
 * Protecting the audit data itself (issue 5, items 4 and 5), through HTTP, the CLI and the database
 * file: patient ids and IPs are nowhere in clear on disk (database and WAL), analysts see patient
 * tokens and compliance the ids, a token finds the same events, re-identification is a separate,
 * audited call, every read of the audit data lands in the access log (its own verified chain), and
 * data-key rotation keeps old records readable.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { ChainWriter } from '@app/pipeline';
import { FileDataKeyProvider } from '@app/security';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

const PATIENTS = Array.from({ length: 12 }, (_, i) => `MRN-ZQX-${String(9000 + i)}`);
const IPS = ['10.213.77.41', '10.213.77.42', 'fd00:beef:cafe::4711'];

interface EventView {
  event: AccessEvent;
  receipt: { id: string; chain: string; seq: number; hash: string };
}
interface AccessEntry {
  action: string;
  outcome: string;
  principal: { sub: string; role?: string };
  route?: string;
  filters: Record<string, string | number | boolean>;
  patient?: string;
  recordCount: number;
  reason?: string;
  resource?: { type: string; id?: string };
  receipt: { chain: string; seq: number };
}

function dbBytes(dataDir: string): Buffer {
  return Buffer.concat(fs.readdirSync(dataDir).filter((f) => f.startsWith('audit.db')).map((f) => fs.readFileSync(path.join(dataDir, f))));
}

function expectNoPlaintext(bytes: Buffer): void {
  for (const secret of [...PATIENTS, ...IPS]) expect({ secret, at: bytes.indexOf(Buffer.from(secret)) }).toEqual({ secret, at: -1 });
}

async function get<T>(t: TestApp, role: Parameters<TestApp['client']>[0], url: string, sub?: string): Promise<{ status: number; body: T }> {
  const res = await (await t.client(role, sub)).request('GET', url);
  return { status: res.status, body: JSON.parse(res.body) as T };
}

async function accessLog(t: TestApp, query = ''): Promise<AccessEntry[]> {
  const res = await get<{ entries: AccessEntry[] }>(t, 'auditor', `/v1/access-log?limit=1000${query}`);
  expect(res.status).toBe(200);
  return res.body.entries;
}

describe('protection of the audit data itself', () => {
  let t: TestApp;
  let posted: AccessEvent[];

  beforeAll(async () => {
    t = await startTestApp();
    posted = PATIENTS.map((id, i) =>
      accessEvent({
        actor: { id: `dr-zqx-${i % 3}`, type: 'user', role: 'physician', ip: IPS[i % IPS.length] },
        patient: { id },
        resource: i === 0 ? { type: 'Patient', id } : { type: 'Observation', id: `obs-${i}` },
      }),
    );
    // The same patient twice more, so a token filter has several events to find.
    posted.push(accessEvent({ actor: { id: 'dr-zqx-9', type: 'user', ip: IPS[0] }, patient: { id: PATIENTS[1] } }));
    posted.push(accessEvent({ actor: { id: 'dr-zqx-9', type: 'user', ip: IPS[1] }, patient: { id: PATIENTS[1] }, action: 'update', category: 'data_modification' }));
    const integration = await t.client('integration');
    expect((await integration.request('POST', '/v1/events', { events: posted })).status).toBe(202);
  });

  afterAll(async () => {
    await t?.close();
  });

  it('keeps no patient id or IP in clear anywhere in the database file or its WAL, and the index holds tokens', async () => {
    // While the service runs (fresh rows are in the WAL) ...
    expect(fs.existsSync(path.join(t.dataDir, 'audit.db-wal'))).toBe(true);
    expectNoPlaintext(dbBytes(t.dataDir));
    const db = new Database(path.join(t.dataDir, 'audit.db'), { readonly: true });
    try {
      const rows = db.prepare("SELECT patient_id, event, sealed FROM events WHERE chain = 'data_access' AND patient_id IS NOT NULL").all() as { patient_id: string; event: string; sealed: Buffer }[];
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.patient_id).toMatch(/^ptk_[a-z2-7]{24}$/);
        expect(r.event).toContain('"patient":{"id":""}');
        expect(r.sealed.length).toBeGreaterThan(30);
      }
    } finally {
      db.close();
    }
  });

  it('shows analysts patient tokens and compliance officers the ids, for lists and single events', async () => {
    const analyst = await get<{ events: EventView[] }>(t, 'soc_analyst', '/v1/events?actor=dr-zqx-0');
    const compliance = await get<{ events: EventView[] }>(t, 'compliance_officer', '/v1/events?actor=dr-zqx-0');
    expect(analyst.body.events.length).toBe(4);
    expect(compliance.body.events.map((e) => e.event.patient!.id).sort()).toEqual([PATIENTS[0], PATIENTS[3], PATIENTS[6], PATIENTS[9]].sort());
    for (const e of analyst.body.events) expect(e.event.patient!.id).toMatch(/^ptk_[a-z2-7]{24}$/);
    expectNoPlaintext(Buffer.from(JSON.stringify(analyst.body).replace(/10\.213\.77\.4\d|fd00:beef:cafe::4711/g, '')));
    // Analysts still see IPs (only patient identifiers are tokenized); they are decrypted for them.
    expect(analyst.body.events.map((e) => e.event.actor.ip).sort()).toEqual(compliance.body.events.map((e) => e.event.actor.ip).sort());

    const first = posted[0];
    const one = await get<EventView>(t, 'soc_analyst', `/v1/events/${first.id}`);
    expect(one.body.event.patient!.id).toMatch(/^ptk_/);
    // A Patient resource names the same identifier: tokenized too.
    expect(one.body.event.resource).toEqual({ type: 'Patient', id: one.body.event.patient!.id });
    const same = await get<EventView>(t, 'compliance_officer', `/v1/events/${first.id}`);
    expect(same.body.event).toEqual(first);
  });

  it('finds the same events by token as by id, and gives one patient one token everywhere', async () => {
    const byId = await get<{ events: EventView[] }>(t, 'compliance_officer', `/v1/events?patient=${PATIENTS[1]}`);
    expect(byId.body.events.length).toBe(3);
    // Analysts see tokens only; they learn a token from an event they may read (never by looking up a clear id).
    const tokens: string[] = [];
    for (const e of byId.body.events) tokens.push((await get<EventView>(t, 'soc_analyst', `/v1/events/${e.receipt.id}`)).body.event.patient!.id);
    expect(new Set(tokens).size).toBe(1);
    const token = tokens[0];
    const byToken = await get<{ events: EventView[] }>(t, 'soc_analyst', `/v1/events?patient=${token}`);
    expect(byToken.body.events.map((e) => e.receipt.id).sort()).toEqual(byId.body.events.map((e) => e.receipt.id).sort());
    const complianceByToken = await get<{ events: EventView[] }>(t, 'compliance_officer', `/v1/events?patient=${token}`);
    expect(complianceByToken.body.events.map((e) => e.event.patient!.id)).toEqual([PATIENTS[1], PATIENTS[1], PATIENTS[1]]);
  });

  it('re-identifies a token for compliance with a reason, refuses analysts (403) and bad requests, and logs it', async () => {
    const token = (await get<EventView>(t, 'soc_analyst', `/v1/events/${posted[2].id}`)).body.event.patient!.id;
    const compliance = await t.client('compliance_officer', 'co-reid');
    const ok = await compliance.request('POST', '/v1/reidentify', { token, reason: 'Case 2026-117: privacy complaint' });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ token, patientId: PATIENTS[2] });

    const analyst = await t.client('soc_analyst', 'an-reid');
    const refused = await analyst.request('POST', '/v1/reidentify', { token, reason: 'curious about this one' });
    expect(refused.status).toBe(403);
    expect(refused.body).not.toContain(PATIENTS[2]);

    expect((await compliance.request('POST', '/v1/reidentify', { token, reason: 'short' })).status).toBe(400);
    expect((await compliance.request('POST', '/v1/reidentify', { token: 'MRN-1', reason: 'a good long reason' })).status).toBe(400);
    const unknown = await compliance.request('POST', '/v1/reidentify', { token: 'ptk_aaaaaaaaaaaaaaaaaaaaaaaa', reason: 'Case 2026-118: check' });
    expect(unknown.status).toBe(404);

    const entries = await accessLog(t, '&action=patient.reidentify');
    const success = entries.find((e) => e.principal.sub === 'co-reid' && e.outcome === 'success')!;
    expect(success).toMatchObject({
      action: 'patient.reidentify',
      principal: { sub: 'co-reid', role: 'compliance_officer' },
      route: 'POST /v1/reidentify',
      reason: 'Case 2026-117: privacy complaint',
      recordCount: 1,
      // The auditor holds no events:identified: the patient appears as its token.
      patient: token,
      filters: { patient: token },
    });
    expect(entries.some((e) => e.principal.sub === 'co-reid' && e.outcome === 'failure' && e.reason === 'Case 2026-118: check')).toBe(true);
    // The refused analyst never reached the service: nothing was revealed, nothing to record as a read.
    expect(entries.some((e) => e.principal.sub === 'an-reid')).toBe(false);
  });

  it('records every query and view in the access log: who, route, filters, records returned, when', async () => {
    const sub = 'an-logged';
    const list = await get<{ events: EventView[] }>(t, 'soc_analyst', '/v1/events?actor=dr-zqx-1&limit=2', sub);
    expect(list.body.events.length).toBe(2);
    const one = await get<EventView>(t, 'soc_analyst', `/v1/events/${posted[4].id}`, sub);
    expect(one.status).toBe(200);
    const missing = await get<unknown>(t, 'soc_analyst', '/v1/events/9b2f5a4e-0000-4000-8000-000000000000', sub);
    expect(missing.status).toBe(404);
    const patientToken = (await get<EventView>(t, 'soc_analyst', `/v1/events/${posted[5].id}`)).body.event.patient!.id;
    const byPatient = await get<{ events: EventView[] }>(t, 'soc_analyst', `/v1/events?patient=${patientToken}`, sub);
    expect(byPatient.body.events.length).toBe(1);

    const entries = await accessLog(t, `&actor=${sub}`);
    expect(entries.map((e) => e.action)).toEqual(['events.query', 'events.read', 'events.read', 'events.query']);
    const [patientQuery, notFound, view, query] = entries;
    expect(query).toMatchObject({ principal: { sub, role: 'soc_analyst' }, route: 'GET /v1/events', filters: { actor: 'dr-zqx-1', limit: '2' }, recordCount: 2, outcome: 'success' });
    expect(view).toMatchObject({ route: 'GET /v1/events/:id', resource: { type: 'AuditEvent', id: posted[4].id }, recordCount: 1, outcome: 'success' });
    expect(notFound).toMatchObject({ recordCount: 0, outcome: 'failure' });
    // A patient searched for is logged as its token (the id itself only sealed, in the record's patient field).
    expect(patientQuery.filters.patient).toMatch(/^ptk_/);
    expect(patientQuery.patient).toBe(patientQuery.filters.patient);
    expect(patientQuery.recordCount).toBe(1);
    expect(Date.parse((entries[0] as unknown as { at: string }).at)).toBeGreaterThan(Date.now() - 60_000);
    // Nothing of the access log leaks into the events the analyst searched.
    expectNoPlaintext(Buffer.from(JSON.stringify(entries).replace(/10\.213\.77\.4\d|fd00:beef:cafe::4711/g, '')));
  });

  it('lets auditors and admins read the access log (itself recorded), and nobody else; keeps it out of event queries', async () => {
    expect((await get(t, 'admin', '/v1/access-log?limit=1')).status).toBe(200);
    expect((await get(t, 'soc_analyst', '/v1/access-log')).status).toBe(403);
    expect((await get(t, 'compliance_officer', '/v1/access-log')).status).toBe(403);
    expect((await get(t, 'auditor', '/v1/access-log?colour=red')).status).toBe(400);
    const reads = await accessLog(t, '&action=access-log.query&actor=test-admin');
    expect(reads[0]).toMatchObject({ principal: { role: 'admin' }, route: 'GET /v1/access-log', filters: { limit: '1' } });

    const all = await get<{ events: EventView[] }>(t, 'compliance_officer', '/v1/events?limit=1000');
    expect(all.body.events.every((e) => e.receipt.chain !== ACCESS_LOG_CHAIN)).toBe(true);
    const administrative = await get<{ events: EventView[] }>(t, 'compliance_officer', '/v1/events?category=administrative');
    expect(administrative.body.events).toEqual([]);
    const someAccessRecord = (await accessLog(t))[0] as unknown as { id: string };
    expect((await get(t, 'compliance_officer', `/v1/events/${someAccessRecord.id}`)).status).toBe(404);
  });

  it('answers 503 and shows nothing when the access cannot be recorded', async () => {
    const writer = t.app.get(ChainWriter);
    const spy = jest.spyOn(writer, 'submit').mockRejectedValueOnce(new Error('disk full'));
    try {
      const res = await (await t.client('soc_analyst')).request('GET', '/v1/events?limit=5');
      expect(res.status).toBe(503);
      expect(res.body).not.toContain('"events"');
    } finally {
      spy.mockRestore();
    }
  });

  it('tokenizes patient ids in alert evidence and in the rendered runbook for analysts', async () => {
    // Fifty distinct patients read by one user in minutes: bulk-phi-read fires.
    const bulk = Array.from({ length: 55 }, (_, i) =>
      accessEvent({ actor: { id: 'dr-bulk-zqx', type: 'user', ip: IPS[0] }, patient: { id: `MRN-BULK-ZQX-${i}` }, occurredAt: new Date(Date.UTC(2026, 2, 3, 10, 0, i)).toISOString() }),
    );
    expect((await (await t.client('integration')).request('POST', '/v1/events', { events: bulk })).status).toBe(202);
    let alert: { id: string } | undefined;
    for (let i = 0; i < 50 && !alert; i++) {
      const list = await get<{ alerts: { id: string; ruleId: string; groupKey: Record<string, unknown> }[] }>(t, 'soc_analyst', '/v1/alerts?rule=bulk-phi-read');
      alert = list.body.alerts.find((a) => a.groupKey['actor.id'] === 'dr-bulk-zqx');
      if (!alert) await new Promise((r) => setTimeout(r, 100));
    }
    expect(alert).toBeDefined();
    const view = await get<{ summary: { topPatients: { patientId: string }[] }; runbook: { markdown: string | null } }>(t, 'soc_analyst', `/v1/alerts/${alert!.id}`);
    expect(view.body.summary.topPatients.length).toBeGreaterThan(0);
    for (const p of view.body.summary.topPatients) expect(p.patientId).toMatch(/^ptk_/);
    expect(JSON.stringify(view.body)).not.toContain('MRN-BULK-ZQX-');
    expect(bytesContain(dbBytes(t.dataDir), 'MRN-BULK-ZQX-')).toBe(false);
    const views = await accessLog(t, '&action=alerts.view');
    expect(views[0]).toMatchObject({ resource: { type: 'Alert', id: alert!.id }, recordCount: 1, principal: { role: 'soc_analyst' } });
  });

  it('verifies the access chain with every other chain (HTTP and CLI), and names a tampered access record', async () => {
    const verify = await get<{ ok: boolean; chains: { chain: string; verified: number }[] }>(t, 'auditor', '/v1/integrity/verify');
    expect(verify.body.ok).toBe(true);
    expect(verify.body.chains.find((c) => c.chain === ACCESS_LOG_CHAIN)!.verified).toBeGreaterThan(5);

    const dir = tempDataDir('audit-access-tamper-');
    for (const f of fs.readdirSync(t.dataDir)) if (f.startsWith('audit.db')) fs.copyFileSync(path.join(t.dataDir, f), path.join(dir, f));
    fs.cpSync(path.join(t.dataDir, 'keys'), path.join(dir, 'keys'), { recursive: true });
    const ok = runCli(['verify', '--data-dir', dir]);
    expect(ok.stdout).toContain('OK:');
    expect(ok.stdout).toContain(`${ACCESS_LOG_CHAIN}:`);
    expect(ok.status).toBe(0);

    const db = new Database(path.join(dir, 'audit.db'));
    // The events live in the hot partitions (events_p<N>; `events` is the view over them): each one's update trigger dropped.
    const partitions = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'events_p[0-9]*'").pluck().all() as string[];
    for (const name of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name GLOB 'events_p[0-9]*' AND name GLOB '*_are_immutable'").pluck().all() as string[]) db.exec(`DROP TRIGGER ${name}`);
    // Someone hides what they searched for: the recorded filter is rewritten.
    const changed = partitions.reduce(
      (n, table) => n + db.prepare(`UPDATE ${table} SET event = replace(event, '"filter.actor":"dr-zqx-1"', '"filter.actor":"dr-zqx-2"') WHERE chain = ?`).run(ACCESS_LOG_CHAIN).changes,
      0,
    );
    expect(changed).toBeGreaterThan(0);
    const seq = (db.prepare(`SELECT MIN(seq) AS s FROM events WHERE chain = ? AND instr(event, '"filter.actor":"dr-zqx-2"') > 0`).get(ACCESS_LOG_CHAIN) as { s: number }).s;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const broken = runCli(['verify', '--data-dir', dir]);
    expect(broken.stdout).toContain(`BREAK: chain ${ACCESS_LOG_CHAIN} seq ${seq} kind modified`);
    expect(broken.status).toBe(1);
  });
});

function bytesContain(bytes: Buffer, text: string): boolean {
  return bytes.indexOf(Buffer.from(text)) >= 0;
}

describe('data key rotation', () => {
  it('keeps events sealed under an old data key readable and verifiable after rotation', async () => {
    const dataDir = tempDataDir('audit-rotation-');
    const before = accessEvent({ actor: { id: 'dr-rot', type: 'user', ip: '10.213.99.1' }, patient: { id: 'MRN-ROT-OLD' } });
    const after = accessEvent({ actor: { id: 'dr-rot', type: 'user', ip: '10.213.99.2' }, patient: { id: 'MRN-ROT-NEW' } });

    let t = await startTestApp({ dataDir });
    expect((await (await t.client('integration')).request('POST', '/v1/events', before)).status).toBe(202);
    await t.close();

    const keys = FileDataKeyProvider.forDataDir(dataDir);
    const oldKey = keys.current().keyId;
    const rotated = runCli(['data-keys', 'rotate', '--data-dir', dataDir]);
    expect(rotated.status).toBe(0);
    const newKey = FileDataKeyProvider.forDataDir(dataDir).current().keyId;
    expect(newKey).not.toBe(oldKey);
    expect(rotated.stdout).toContain(newKey);

    t = await startTestApp({ dataDir });
    try {
      expect((await (await t.client('integration')).request('POST', '/v1/events', after)).status).toBe(202);
      const seen = await get<{ events: EventView[] }>(t, 'compliance_officer', '/v1/events?actor=dr-rot');
      expect(seen.body.events.map((e) => e.event).sort((a, b) => a.patient!.id.localeCompare(b.patient!.id))).toEqual([after, before]);
      const db = new Database(path.join(dataDir, 'audit.db'), { readonly: true });
      const keyIds = (db.prepare("SELECT sealed FROM events WHERE actor_id = 'dr-rot' ORDER BY seq").all() as { sealed: Buffer }[]).map((r) =>
        r.sealed.toString('latin1', 2, 2 + r.sealed[1]),
      );
      db.close();
      expect(keyIds).toEqual([oldKey, newKey]);
      expect((await get<{ ok: boolean }>(t, 'auditor', '/v1/integrity/verify')).body.ok).toBe(true);
    } finally {
      await t.close();
    }
    expect(runCli(['verify', '--data-dir', dataDir]).status).toBe(0);
    expect(runCli(['data-keys', 'list', '--data-dir', dataDir]).stdout).toContain(oldKey);
  });
});
