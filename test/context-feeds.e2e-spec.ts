/**
 * Context feeds through HTTP (CONTRACT "Context feeds"): users, patients and encounters posted as
 * JSON and as NDJSON, upserted by id and versioned by validity time (a user terminated today was
 * active last week), durable across a restart, `GET /v1/context/status` without PHI; bad input
 * (unknown member, malformed date, a token where a clear name or id is expected, a 50 MB NDJSON
 * file) refused per record or whole with nothing half-applied and no value echoed; and no clear
 * name or address anywhere in the database file, its WAL or the service log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

const NAMES = ['Quillfeathers', 'Brannigvolt', 'Oksanavitch'];
const ADDRESSES = ['17 Wrenfield Crescent, Lowmoor', '4 Tamblyn Row, Eastcote'];
const PATIENT_IDS = ['MRN-CTX-71001', 'MRN-CTX-71002'];
const NDJSON = 'application/x-ndjson';
const DAY = 86_400_000;

interface Receipt {
  accepted: number;
  rejected: { index: number; pointer: string; message: string }[];
}

function dbBytes(dataDir: string): Buffer {
  return Buffer.concat(fs.readdirSync(dataDir).filter((f) => f.startsWith('audit.db')).map((f) => fs.readFileSync(path.join(dataDir, f))));
}

async function post(t: TestApp, kind: string, body: unknown, contentType = 'application/json'): Promise<{ status: number; body: Receipt & Record<string, unknown>; raw: string }> {
  const res = await (await t.client('integration')).request('POST', `/v1/context/${kind}`, body, contentType);
  return { status: res.status, body: JSON.parse(res.body), raw: res.body };
}

async function get<T>(t: TestApp, url: string, role: 'soc_analyst' | 'compliance_officer' | 'admin' | 'auditor' = 'soc_analyst'): Promise<{ status: number; body: T }> {
  const res = await (await t.client(role)).request('GET', url);
  return { status: res.status, body: JSON.parse(res.body) as T };
}

describe('context feeds over HTTP', () => {
  const dataDir = tempDataDir('audit-context-');
  let t: TestApp;
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();

  beforeAll(async () => {
    registerPhiMarkers('name', NAMES);
    registerPhiMarkers('address', ADDRESSES);
    registerPhiMarkers('patient-id', PATIENT_IDS);
    t = await startTestApp({ dataDir });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('accepts users as JSON, versioned by validity: a user terminated today was active last week', async () => {
    const first = await post(t, 'users', {
      records: [
        { id: 'u-ctx-nurse', family: NAMES[0], given: 'Ann', department: 'cardiology', title: 'RN', status: 'active', homeAddress: ADDRESSES[0], patientId: PATIENT_IDS[0], effectiveAt: iso(now - 30 * DAY) },
        { id: 'u-ctx-clerk', family: NAMES[1], department: 'registration', status: 'active' },
      ],
    });
    expect(first).toMatchObject({ status: 202, body: { accepted: 2, rejected: [] } });
    const terminated = await post(t, 'users', { records: [{ id: 'u-ctx-nurse', family: NAMES[0], department: 'cardiology', status: 'terminated', terminatedAt: iso(now - 3_600_000) }] });
    expect(terminated.body).toEqual({ accepted: 1, rejected: [] });

    const lastWeek = await get<{ user: Record<string, unknown> }>(t, `/v1/context/users/u-ctx-nurse?at=${iso(now - 7 * DAY)}`);
    expect(lastWeek.status).toBe(200);
    expect(lastWeek.body.user).toMatchObject({ id: 'u-ctx-nurse', status: 'active', department: 'cardiology', patientId: PATIENT_IDS[0] });
    const today = await get<{ user: Record<string, unknown> }>(t, `/v1/context/users/u-ctx-nurse?at=${iso(now)}`);
    expect(today.body.user).toMatchObject({ id: 'u-ctx-nurse', status: 'terminated' });
    // Names and addresses only as matching tokens; the same surname gives the same token.
    expect(lastWeek.body.user.familyToken).toMatch(/^ctk_[a-z2-7]{24}$/);
    expect(lastWeek.body.user.homeAddressToken).toMatch(/^ctk_[a-z2-7]{24}$/);
    expect(today.body.user.familyToken).toBe(lastWeek.body.user.familyToken);
    expect(JSON.stringify([lastWeek.body, today.body])).not.toMatch(new RegExp([...NAMES, ...ADDRESSES].join('|'), 'i'));
    expect((await get(t, '/v1/context/users/u-ctx-nobody')).status).toBe(404);
  });

  it('normalizes names before tokenizing: case, accents and whitespace do not change the token', async () => {
    await post(t, 'users', {
      records: [
        { id: 'u-ctx-a', family: '  Müller-Lüdenscheidt ', status: 'active' },
        { id: 'u-ctx-b', family: 'MULLER ludenscheidt', status: 'active' },
        { id: 'u-ctx-c', family: 'Muller-Ludenscheid', status: 'active' },
      ],
    });
    const token = async (id: string) => (await get<{ user: { familyToken: string } }>(t, `/v1/context/users/${id}`)).body.user.familyToken;
    expect(await token('u-ctx-a')).toBe(await token('u-ctx-b'));
    expect(await token('u-ctx-a')).not.toBe(await token('u-ctx-c'));
  });

  it('accepts patients and encounters as NDJSON, bad lines rejected by line number', async () => {
    const patients = [
      JSON.stringify({ id: PATIENT_IDS[0], family: NAMES[0], address: ADDRESSES[0], vip: false }),
      '',
      JSON.stringify({ id: PATIENT_IDS[1], family: NAMES[2], address: ADDRESSES[1], relatedPersons: [{ family: NAMES[1], address: ADDRESSES[0] }], vip: true }),
      '{"id": "MRN-CTX-BROKEN", ', // not JSON
    ].join('\n');
    const res = await post(t, 'patients', patients, NDJSON);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(2);
    expect(res.body.rejected).toEqual([{ index: 3, pointer: '', message: expect.any(String) }]);
    expect(res.raw).not.toContain('MRN-CTX-BROKEN');

    const encounters = [
      { id: 'enc-ctx-1', patient: { id: PATIENT_IDS[1] }, department: 'cardiology', participants: ['u-ctx-nurse'], start: iso(now - 2 * DAY) },
      { id: 'enc-ctx-2', patient: { id: PATIENT_IDS[0] }, start: iso(now - 5 * DAY), end: iso(now - 4 * DAY) },
    ];
    const enc = await post(t, 'encounters', encounters.map((e) => JSON.stringify(e)).join('\n') + '\n', NDJSON);
    expect(enc.body).toEqual({ accepted: 2, rejected: [] });
  });

  it('reports status per kind without PHI, to analysts, compliance and admins only', async () => {
    const status = await get<Record<string, { records: number; versions: number; newestReceivedAt: string | null }>>(t, '/v1/context/status');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ users: { records: 5, versions: 6 }, patients: { records: 2, versions: 2 }, encounters: { records: 2, versions: 2 }, loaded: true });
    expect(Date.parse(status.body.users.newestReceivedAt!)).toBeGreaterThanOrEqual(now - 60_000);
    expect(JSON.stringify(status.body)).not.toMatch(/MRN-CTX|u-ctx|ctk_/);
    expect((await get(t, '/v1/context/status', 'compliance_officer')).status).toBe(200);
    expect((await get(t, '/v1/context/status', 'admin')).status).toBe(200);
    expect((await get(t, '/v1/context/status', 'auditor')).status).toBe(403);
    const analyst = await (await t.client('soc_analyst')).request('POST', '/v1/context/users', { records: [] });
    expect(analyst.status).toBe(403);
  });

  it('rejects bad records one by one, naming the member, never echoing the value, storing the good ones', async () => {
    const res = await post(t, 'users', {
      records: [
        { id: 'u-ctx-ok', status: 'leave', department: 'oncology' },
        { id: 'u-ctx-bad1', status: 'active', favouriteColour: 'Zinnoberrot' },
        { id: 'u-ctx-bad2', status: 'terminated', terminatedAt: '31/12/2025 Brannigvolt' },
        { id: 'u-ctx-bad3', status: 'active', family: 'ctk_abcdefghijklmnopqrstuvwx' },
        { id: 'u-ctx-bad4', status: 'active', patientId: 'ptk_abcdefghijklmnopqrstuvwx' },
        { id: 'u-ctx-bad5', status: 'retired' },
      ],
    });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toEqual([
      { index: 1, pointer: '', message: expect.stringMatching(/unknown field.*not repeated/) },
      { index: 2, pointer: '/terminatedAt', message: expect.stringMatching(/RFC 3339/) },
      { index: 3, pointer: '/family', message: expect.stringMatching(/token where the clear name is expected/) },
      { index: 4, pointer: '/patientId', message: expect.stringMatching(/patient token/) },
      { index: 5, pointer: '/status', message: expect.stringMatching(/active, leave, terminated/) },
    ]);
    for (const secret of ['favouriteColour', 'Zinnoberrot', '31/12/2025', 'Brannigvolt', 'ctk_abcdefghijklmnopqrstuvwx', 'ptk_abcdefghijklmnopqrstuvwx', 'retired']) expect(res.raw).not.toContain(secret);
    expect((await get(t, '/v1/context/users/u-ctx-ok')).status).toBe(200);
    for (const id of ['u-ctx-bad1', 'u-ctx-bad2', 'u-ctx-bad3', 'u-ctx-bad4', 'u-ctx-bad5']) expect((await get(t, `/v1/context/users/${id}`)).status).toBe(404);
    // A malformed encounter date: the record is refused, pointing at the member.
    const enc = await post(t, 'encounters', { records: [{ id: 'enc-ctx-bad', patient: { id: PATIENT_IDS[0] }, start: '2026-13-45T99:00:00Z' }] });
    expect(enc.body).toEqual({ accepted: 0, rejected: [{ index: 0, pointer: '/start', message: expect.stringMatching(/RFC 3339/) }] });
  });

  it('refuses a 50 MB NDJSON file whole with 413, storing none of it', async () => {
    const before = await get<Record<string, { versions: number }>>(t, '/v1/context/status');
    const line = JSON.stringify({ id: 'u-ctx-bulk-000000', family: NAMES[2], status: 'active', department: 'x'.repeat(100) }) + '\n';
    const count = Math.ceil((50 * 1024 * 1024) / line.length);
    const body = Buffer.alloc(line.length * count);
    for (let i = 0; i < count; i++) body.write(line.replace('000000', String(i).padStart(6, '0')), i * line.length);
    const res = await post(t, 'users', body, NDJSON);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ type: expect.stringContaining('payload-too-large'), detail: expect.stringMatching(/nothing was stored/) });
    expect(res.raw).not.toContain(NAMES[2]);
    const after = await get<Record<string, { versions: number }>>(t, '/v1/context/status');
    expect(after.body.users.versions).toBe(before.body.users.versions);
    expect((await get(t, '/v1/context/users/u-ctx-bulk-000001')).status).toBe(404);
  });

  it('refuses bodies that are not records whole (unknown top-level member, wrong media type)', async () => {
    const extra = await post(t, 'users', { records: [{ id: 'u-ctx-x', status: 'active' }], Quillfeathers: true });
    expect(extra.status).toBe(400);
    expect(extra.raw).not.toContain(NAMES[0]);
    expect((await get(t, '/v1/context/users/u-ctx-x')).status).toBe(404);
    const text = await (await t.client('integration')).request('POST', '/v1/context/users', 'id,status', 'text/csv');
    expect(text.status).toBe(415);
    expect((await post(t, 'physicians', { records: [] })).status).toBe(404);
  });

  it('keeps no clear name or address in the database file, its WAL or the service log; context survives a restart', async () => {
    const bytes = dbBytes(dataDir);
    for (const secret of [...NAMES, ...ADDRESSES, ...PATIENT_IDS, 'Müller', 'muller ludenscheidt']) {
      expect({ secret, at: bytes.indexOf(Buffer.from(secret)) }).toEqual({ secret, at: -1 });
    }
    const log = t.logLines.join('\n');
    for (const secret of [...NAMES, ...ADDRESSES, ...PATIENT_IDS]) expect(log).not.toContain(secret);

    await t.close();
    t = await startTestApp({ dataDir });
    const status = await get<Record<string, { records: number; versions: number }>>(t, '/v1/context/status');
    expect(status.body).toMatchObject({ users: { records: 6, versions: 7 }, patients: { records: 2 }, encounters: { records: 2 } });
    const lastWeek = await get<{ user: { status: string } }>(t, `/v1/context/users/u-ctx-nurse?at=${iso(now - 7 * DAY)}`);
    expect(lastWeek.body.user.status).toBe('active');
    const today = await get<{ user: { status: string } }>(t, '/v1/context/users/u-ctx-nurse');
    expect(today.body.user.status).toBe('terminated');
  });
});
