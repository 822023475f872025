/**
 * Upgrading a store of the single-table layout to the partitioned hot store (issue 19 item 2):
 * test/fixtures/single-table-main is a data dir written by main before partitions (54 events in
 * three chains, checkpoints, its keys). `auditctl migrate` turns its `events` table into partition 0
 * (no row copied) and `events` into a view; `auditctl verify` passes; the service started on it with
 * a small HOT_PARTITION_MAX_ROWS serves every old event, opens new partitions as it appends, answers
 * a repeated id with its original receipt whether the id lies in the old table or in a closed
 * partition, and a trigger dropped on an old partition is back after the next open.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { AccessEvent } from '@app/core';
import { SCHEMA_VERSION } from '@app/storage';
import { runCli } from './support/cli';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, tempDataDir } from './support/test-app';

const FIXTURE = path.join(__dirname, 'fixtures', 'single-table-main');

type Posted = AccessEvent & { receipt: { id: string; chain: string; seq: number; hash: string } };

function copyFixture(): string {
  const dir = tempDataDir('audit-partition-upgrade-');
  for (const f of ['audit.db', 'source-bindings.json']) fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
  fs.cpSync(path.join(FIXTURE, 'keys'), path.join(dir, 'keys'), { recursive: true });
  for (const f of fs.readdirSync(path.join(dir, 'keys'), { recursive: true }) as string[]) {
    const p = path.join(dir, 'keys', f);
    if (fs.statSync(p).isFile()) fs.chmodSync(p, 0o600);
  }
  return dir;
}

function verifyOk(dir: string): string {
  const v = runCli(['verify', '--data-dir', dir]);
  expect(v.stderr).toBe('');
  expect(v.stdout).toMatch(/^OK: /);
  expect(v.status).toBe(0);
  return v.stdout;
}

function newEvent(integration: string, i: number): AccessEvent {
  const patient = `MRN-PART-${integration}-${i}`;
  registerPhiMarkers('patient-id', [patient]);
  return {
    id: randomUUID(),
    occurredAt: '2026-11-02T09:00:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: `part-user-${i}`, type: 'user', role: 'physician' },
    patient: { id: patient },
    resource: { type: 'Observation', id: `obs-part-${i}` },
    purpose: 'TREAT',
    source: { system: `${integration}-system`, integration },
  };
}

function schemaObjects(dir: string): { partitions: { n: number; state: string }[]; eventsType: string } {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    const partitions = db.prepare('SELECT n, state FROM event_partitions ORDER BY n').all() as { n: number; state: string }[];
    const eventsType = (db.prepare("SELECT type FROM sqlite_master WHERE name = 'events'").get() as { type: string }).type;
    return { partitions, eventsType };
  } finally {
    db.close();
  }
}

describe('a single-table store made by main before partitions, upgraded', () => {
  const posted = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'events.json'), 'utf8')) as Posted[];
  let dir: string;
  beforeAll(() => {
    dir = copyFixture();
    registerPhiMarkers('patient-id', posted.map((e) => e.patient?.id));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('migrate turns the events table into partition 0 and a view; verify passes', () => {
    const status = runCli(['migrate', '--status', '--data-dir', dir]);
    expect(status.stdout).toContain('pending  6 hot-partitions');
    const r = runCli(['migrate', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('applied  6 hot-partitions');
    expect(r.stdout).toContain(`schema version ${SCHEMA_VERSION}`);
    expect(schemaObjects(dir)).toEqual({ partitions: [{ n: 0, state: 'open' }], eventsType: 'view' });
    const out = verifyOk(dir);
    for (const c of ['authentication', 'data_access', 'security']) expect(out).toContain(`  ${c}: 18 records, head seq 17`);
  });

  it('the service reads the old events, opens new partitions, and answers repeated ids from any partition with their original receipt', async () => {
    const t = await startTestApp({ dataDir: dir, hotPartitionMaxRows: 10 });
    const newlyPosted: { event: AccessEvent; receipt: { id: string; chain: string; seq: number; hash: string } }[] = [];
    try {
      const analyst = await t.client('compliance_officer');
      for (const e of posted) {
        const got = await analyst.request('GET', `/v1/events/${e.id}`);
        expect(got.status).toBe(200);
        expect(got.body).toContain(e.receipt.hash);
      }
      // Three groups of 12: partition 0 holds 54 rows (past 10), so each group opens a partition.
      const ehr = await t.client('integration', 'fixture-ehr');
      for (let g = 0; g < 3; g++) {
        const events = Array.from({ length: 12 }, (_, i) => newEvent('fixture-ehr', g * 12 + i));
        const res = await ehr.request('POST', '/v1/events', { events });
        expect(res.status).toBe(202);
        (JSON.parse(res.body).receipts as { id: string; chain: string; seq: number; hash: string }[]).forEach((receipt, i) => newlyPosted.push({ event: events[i], receipt }));
      }
      // Repeated: an id of the old table (partition 0) and one of the first new partition, now closed.
      const old = posted.find((e) => e.source.integration === 'fixture-ehr' && e.category === 'data_access')!;
      const { receipt: _r, ...oldEvent } = old;
      const again = await ehr.request('POST', '/v1/events', { events: [oldEvent, newlyPosted[0].event] });
      expect(again.status).toBe(202);
      const receipts = JSON.parse(again.body).receipts as unknown[];
      expect(receipts[0]).toMatchObject({ id: old.id, chain: old.receipt.chain, seq: old.receipt.seq, hash: old.receipt.hash });
      expect(receipts[1]).toMatchObject(newlyPosted[0].receipt);
      for (const p of newlyPosted) expect((await analyst.request('GET', `/v1/events/${p.event.id}`)).status).toBe(200);
    } finally {
      await t.close();
    }
    const { partitions, eventsType } = schemaObjects(dir);
    expect(eventsType).toBe('view');
    // The access log's records (the reads above) are appended too: more partitions than the three groups.
    expect(partitions.length).toBeGreaterThanOrEqual(4);
    expect(partitions.map((p) => p.n)).toEqual(partitions.map((_, i) => i));
    expect(partitions.map((p) => p.state)).toEqual([...partitions.slice(1).map(() => 'closed'), 'open']);
    const out = verifyOk(dir);
    expect(out).toContain('  data_access: 54 records, head seq 53');
  }, 90_000);

  it('immutability holds on every partition, and a trigger dropped on an old partition comes back at the next open', () => {
    const db = new Database(path.join(dir, 'audit.db'));
    try {
      expect(() => db.prepare("UPDATE events SET action = 'export' WHERE chain = 'data_access' AND seq = 1").run()).toThrow(/immutable/);
      expect(db.prepare('SELECT COUNT(*) AS n FROM events_p2').get()).not.toEqual({ n: 0 });
      expect(() => db.prepare("UPDATE events_p2 SET action = 'export'").run()).toThrow(/immutable/);
      expect(() => db.prepare("DELETE FROM events WHERE chain = 'data_access' AND seq = 53").run()).toThrow(/cannot be deleted/);
      db.exec('DROP TRIGGER events_are_immutable; DROP TRIGGER events_p1_are_never_deleted;');
      expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'trigger' AND name IN ('events_are_immutable', 'events_p1_are_never_deleted')").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    // Any read-write open (here `auditctl migrate`) re-creates them.
    expect(runCli(['migrate', '--data-dir', dir]).status).toBe(0);
    const again = new Database(path.join(dir, 'audit.db'));
    try {
      expect(() => again.prepare("UPDATE events_p0 SET action = 'export' WHERE chain = 'data_access' AND seq = 1").run()).toThrow(/immutable/);
      expect(again.prepare('SELECT COUNT(*) AS n FROM events_p1').get()).not.toEqual({ n: 0 });
      expect(() => again.prepare('DELETE FROM events_p1 WHERE seq >= 0').run()).toThrow(/cannot be deleted/);
    } finally {
      again.close();
    }
    verifyOk(dir);
  });
});
