/**
 * Retention enforcement, time travel through the CLI on a real data dir (events posted via the
 * real app): `auditctl retention run --now` at +5 years deletes nothing; at +6.5 years the
 * data-access records are gone except those under a legal hold while authentication records
 * remain; at +8 years only held records remain; `verify` (CLI and GET /v1/integrity/verify)
 * passes at every step; --dry-run changes nothing; a rerun is a no-op; runs are recorded.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { startTestApp } from './support/test-app';
import { SchedulerRegistry } from '@nestjs/schedule';
import { RETENTION_JOB, RetentionScheduler } from '../apps/api/src/compliance/retention-schedule.module';

const YEAR = 365.25 * 24 * 3600 * 1000;
const at = (years: number) => new Date(Date.now() + years * YEAR).toISOString();

/** Records still kept per chain, in whichever tier: hot, warm, or a cold archive not deleted. */
function counts(dir: string): Record<string, number> {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    const hasTiers = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'retention_archives'").get() !== undefined;
    const rows = db
      .prepare(
        `SELECT chain, SUM(n) AS n FROM (
           SELECT chain, COUNT(*) AS n FROM events GROUP BY chain
           ${hasTiers ? 'UNION ALL SELECT chain, COUNT(*) FROM warm_events WHERE restored = 0 GROUP BY chain UNION ALL SELECT chain, SUM(count) FROM retention_archives WHERE deleted_at IS NULL GROUP BY chain' : ''}
         ) WHERE chain IN ('data_access', 'authentication') GROUP BY chain HAVING SUM(n) > 0`,
      )
      .all() as { chain: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.chain, r.n]));
  } finally {
    db.close();
  }
}

function expectVerified(dir: string): void {
  const r = runCli(['verify', '--data-dir', dir]);
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^OK: /);
  expect(r.status).toBe(0);
}

function retention(dir: string, ...args: string[]): { status: number; stdout: string; stderr: string; json: { deleted: number; chains: { chain: string; count: number; keptBecause: string; archivesDeleted: { count: number }[]; archivesHeld: number }[] } | null } {
  const r = runCli(['retention', 'run', '--data-dir', dir, '--json', ...args]);
  return { ...r, json: r.status === 0 ? JSON.parse(r.stdout) : null };
}

describe('auditctl retention run (time travel)', () => {
  let dir: string;

  beforeAll(async () => {
    // Session 1: ordinary accesses and logins; closing seals a checkpoint of every chain.
    const t1 = await startTestApp();
    dir = t1.dataDir;
    const ehr = await t1.client('integration');
    const accesses = Array.from({ length: 5 }, (_, i) => accessEvent({ patient: { id: `MRN-RET-${i}` } }));
    const logins = Array.from({ length: 4 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined, resource: undefined, purpose: undefined }));
    expect((await ehr.request('POST', '/v1/events', { events: [...accesses, ...logins] })).status).toBe(202);
    await t1.close();
    // Session 2: accesses to a patient under a legal hold.
    const t2 = await startTestApp({ dataDir: dir });
    const ehr2 = await t2.client('integration');
    const held = Array.from({ length: 2 }, () => accessEvent({ patient: { id: 'MRN-RET-HELD' } }));
    expect((await ehr2.request('POST', '/v1/events', { events: held })).status).toBe(202);
    const officer = await t2.client('compliance_officer', 'u-officer-ret');
    const hold = await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-RET-HELD', reason: 'Litigation', caseId: 'CASE-RET-1' });
    expect(hold.status).toBe(201);
    await t2.close();
  }, 120_000);

  it('walks through the years: nothing, then data access except held, then only held; verify passes at every step', async () => {
    expect(counts(dir)).toEqual({ data_access: 7, authentication: 4 });
    expectVerified(dir);

    const dry = retention(dir, '--dry-run', '--now', at(6.5));
    expect(dry.status).toBe(0);
    expect(dry.json!.chains.find((c) => c.chain === 'data_access')!.count).toBe(5);
    expect(counts(dir)).toEqual({ data_access: 7, authentication: 4 });
    const plain = runCli(['retention', 'run', '--data-dir', dir, '--dry-run', '--now', at(6.5)]);
    expect(plain.stdout).toMatch(/^DRY RUN \(nothing changed\)/);
    expect(plain.stdout).not.toContain('MRN-');

    const five = retention(dir, '--now', at(5));
    expect(five.json!.deleted).toBe(0);
    expect(counts(dir)).toEqual({ data_access: 7, authentication: 4 });
    expectVerified(dir);

    const sixAndHalf = retention(dir, '--now', at(6.5));
    expect(sixAndHalf.json!.deleted).toBe(5);
    // The +5y run moved everything to cold archives (one per checkpoint block): the block without
    // held records is deleted, the one with them is kept.
    expect(sixAndHalf.json!.chains.find((c) => c.chain === 'data_access')).toMatchObject({ archivesDeleted: [{ count: 5 }], archivesHeld: 1 });
    expect(counts(dir)).toEqual({ data_access: 2, authentication: 4 });
    expectVerified(dir);

    const rerun = retention(dir, '--now', at(6.5));
    expect(rerun.json!.deleted).toBe(0);
    expect(counts(dir)).toEqual({ data_access: 2, authentication: 4 });

    const eight = retention(dir, '--now', at(8));
    expect(eight.json!.deleted).toBe(4);
    expect(counts(dir)).toEqual({ data_access: 2 });
    expectVerified(dir);
    const printed = runCli(['retention', 'run', '--data-dir', dir, '--now', at(8)]);
    expect(printed.stdout).toMatch(/^RETENTION RUN [0-9a-f-]+: now .* deleted 0 record\(s\)/);

    const runs = JSON.parse(runCli(['retention', 'runs', '--data-dir', dir]).stdout) as { status: string; deleted: number }[];
    expect(runs.map((r) => r.status)).toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);
    expect(runs.reduce((s, r) => s + r.deleted, 0)).toBe(9);
  }, 120_000);

  it('the service verifies the purged store over HTTP and keeps ingesting into purged chains', async () => {
    const t = await startTestApp({ dataDir: dir });
    try {
      const ehr = await t.client('integration');
      expect((await ehr.request('POST', '/v1/events', accessEvent({ category: 'authentication', action: 'login', patient: undefined, resource: undefined, purpose: undefined }))).status).toBe(202);
      const auditor = await t.client('auditor');
      const r = await auditor.request('GET', '/v1/integrity/verify');
      expect(r.status).toBe(200);
      const body = JSON.parse(r.body);
      expect(body).toMatchObject({ ok: true, break: null });
    } finally {
      await t.close();
    }
    expectVerified(dir);
  }, 120_000);
});

describe('scheduled retention (RETENTION_CRON, RETENTION_ENABLED)', () => {
  it('schedules the job by default and runs the same code path; RETENTION_ENABLED=false schedules nothing', async () => {
    const t1 = await startTestApp();
    const dir = t1.dataDir;
    expect(t1.app.get(SchedulerRegistry).getCronJob(RETENTION_JOB)).toBeDefined();
    const ehr = await t1.client('integration');
    const logins = Array.from({ length: 3 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined, resource: undefined, purpose: undefined }));
    expect((await ehr.request('POST', '/v1/events', { events: logins })).status).toBe(202);
    await t1.close(); // seals a checkpoint

    const t2 = await startTestApp({ dataDir: dir });
    try {
      const report = await t2.app.get(RetentionScheduler).runNow(Date.parse(at(8)));
      expect(report).toMatchObject({ deleted: 3, dryRun: false });
      expect(counts(dir)).toEqual({});
      const auditor = await t2.client('auditor');
      expect(JSON.parse((await auditor.request('GET', '/v1/integrity/verify')).body)).toMatchObject({ ok: true });
    } finally {
      await t2.close();
    }
    expectVerified(dir);
    const runs = JSON.parse(runCli(['retention', 'runs', '--data-dir', dir]).stdout) as { trigger: string; status: string }[];
    expect(runs[0]).toMatchObject({ trigger: 'schedule', status: 'completed' });

    const off = await startTestApp({ dataDir: dir, compliance: { reportPageSize: 1000, retentionEnabled: false, retentionCron: '0 3 * * *' } });
    try {
      expect(off.app.get(SchedulerRegistry).doesExist('cron', RETENTION_JOB)).toBe(false);
    } finally {
      await off.close();
    }
  }, 120_000);
});

describe('retention run killed mid-way (SIGKILL) then rerun', () => {
  function copyStore(from: string): string {
    const to = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-retention-copy-'));
    for (const f of fs.readdirSync(from)) if (f.startsWith('audit.db')) fs.copyFileSync(path.join(from, f), path.join(to, f));
    fs.cpSync(path.join(from, 'keys'), path.join(to, 'keys'), { recursive: true });
    return to;
  }
  function purgedState(dir: string): unknown[] {
    const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
    try {
      return db.prepare('SELECT chain, size, last_hash, frontier, checkpoint_idx FROM purged_prefixes ORDER BY chain').all();
    } finally {
      db.close();
    }
  }

  it('leaves the same result as an uninterrupted run', async () => {
    const t = await startTestApp();
    const ehr = await t.client('integration');
    const accesses = Array.from({ length: 6 }, (_, i) => accessEvent({ patient: { id: `MRN-CRASH-${i}` } }));
    const logins = Array.from({ length: 4 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined, resource: undefined, purpose: undefined }));
    expect((await ehr.request('POST', '/v1/events', { events: [...accesses, ...logins] })).status).toBe(202);
    await t.close();
    const clean = copyStore(t.dataDir);
    const crashed = copyStore(t.dataDir);
    const now = at(8);

    expect(retention(clean, '--now', now).json!.deleted).toBe(10);

    const killed = runCli(['retention', 'run', '--data-dir', crashed, '--now', now], { AUDITCTL_TEST_KILL_AFTER_CHAINS: '1' });
    expect(killed.status).not.toBe(0);
    const partial = counts(crashed);
    expect(Object.values(partial).reduce((s, n) => s + n, 0)).toBeGreaterThan(0); // one chain purged, the other not yet
    expect(Object.keys(partial)).toHaveLength(1);
    expectVerified(crashed);

    const rerun = retention(crashed, '--now', now);
    expect(rerun.status).toBe(0);
    expect(counts(crashed)).toEqual(counts(clean));
    expect(purgedState(crashed)).toEqual(purgedState(clean));
    expectVerified(crashed);
    const runs = JSON.parse(runCli(['retention', 'runs', '--data-dir', crashed]).stdout) as { status: string }[];
    expect(runs.map((r) => r.status).sort()).toEqual(['completed', 'interrupted']);
  }, 120_000);
});
