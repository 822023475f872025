/**
 * Retention tiers, time travel through the CLI on a real data dir (events posted via the real
 * app): at +6 months records move hot -> warm and `GET /v1/events` and the patient-access report
 * answer exactly as they did from hot (patient ids still sealed/tokenized at rest); at +2 years
 * they move to cold archives under DATA_DIR/archive that verify offline (also copied elsewhere),
 * the store still verifies, and `retention restore` brings them back to warm with the same answers;
 * at +6.5 / +8 years archives past the window are deleted except the one under a legal hold.
 * A SIGKILL between writing an archive and dropping its rows (or mid warm move), then a rerun,
 * ends in the same state as an uninterrupted run.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { startTestApp } from './support/test-app';

const YEAR = 365.25 * 24 * 3600 * 1000;
const at = (years: number) => new Date(Date.now() + years * YEAR).toISOString();

/** Records per chain and tier: hot (events), warm (moved), restored, archived (not deleted). */
function tiers(dir: string): Record<string, { hot: number; warm: number; restored: number; archived: number }> {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    const out: Record<string, { hot: number; warm: number; restored: number; archived: number }> = {};
    const get = (c: string) => (out[c] ??= { hot: 0, warm: 0, restored: 0, archived: 0 });
    for (const r of db.prepare("SELECT chain, COUNT(*) AS n FROM events WHERE chain <> 'access_log' GROUP BY chain").all() as { chain: string; n: number }[]) get(r.chain).hot = r.n;
    const hasWarm = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'warm_events'").get();
    if (hasWarm) {
      for (const r of db.prepare('SELECT chain, restored, COUNT(*) AS n FROM warm_events GROUP BY chain, restored').all() as { chain: string; restored: number; n: number }[]) {
        if (r.restored) get(r.chain).restored = r.n;
        else get(r.chain).warm = r.n;
      }
      for (const r of db.prepare('SELECT chain, SUM(count) AS n FROM retention_archives WHERE deleted_at IS NULL GROUP BY chain').all() as { chain: string; n: number }[]) get(r.chain).archived = r.n;
    }
    return out;
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

interface RunJson {
  deleted: number;
  warmed: number;
  archived: number;
  chains: { chain: string; cold: { archiveId: string; path: string; fromSeq: number; toSeq: number; count: number }[]; archivesDeleted: { archiveId: string }[]; archivesHeld: number }[];
}

function retention(dir: string, env: NodeJS.ProcessEnv, ...args: string[]): { status: number; stdout: string; stderr: string; json: RunJson | null } {
  const r = runCli(['retention', 'run', '--data-dir', dir, '--json', ...args], env);
  return { ...r, json: r.status === 0 ? (JSON.parse(r.stdout) as RunJson) : null };
}

/** What a compliance officer sees: the events of a patient, a category paged by 3, and the report rows. */
async function answers(dir: string): Promise<unknown> {
  const t = await startTestApp({ dataDir: dir });
  try {
    const officer = await t.client('compliance_officer', 'u-officer-tiers');
    const patient = JSON.parse((await officer.request('GET', '/v1/events?patient=MRN-TIER-1')).body);
    const pages: unknown[] = [];
    let cursor: string | null = null;
    do {
      const r = await officer.request('GET', `/v1/events?category=data_access&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(r.status).toBe(200);
      const body = JSON.parse(r.body) as { events: unknown[]; next?: string | null; nextCursor?: string | null };
      pages.push(body.events);
      cursor = body.next ?? body.nextCursor ?? null;
    } while (cursor && pages.length < 10);
    const report = JSON.parse((await officer.request('GET', '/v1/reports/patient-access?patient=MRN-TIER-1&format=json')).body) as { rows: unknown[] };
    const verifyRes = await (await t.client('auditor')).request('GET', '/v1/integrity/verify');
    const verify = JSON.parse(verifyRes.body) as { ok: boolean };
    if (verify.ok !== true) throw new Error(`verify: ${verifyRes.status} ${verifyRes.body}`);
    expect(verify.ok).toBe(true);
    return { patient: patient.events, pages, report: report.rows };
  } finally {
    await t.close();
  }
}

function copyStore(from: string): string {
  const to = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-tiers-copy-'));
  fs.cpSync(from, to, { recursive: true });
  return to;
}

function archiveState(dir: string): unknown {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    return {
      archives: db.prepare('SELECT id, chain, from_seq, to_seq, count, last_hash, checkpoint_idx, path, deleted_at IS NULL AS live FROM retention_archives ORDER BY id').all(),
      purged: db.prepare('SELECT chain, size, last_hash, frontier, checkpoint_idx FROM purged_prefixes ORDER BY chain').all(),
      warm: db.prepare('SELECT chain, seq, hash FROM warm_events ORDER BY chain, seq').all(),
      hot: db.prepare("SELECT chain, seq, hash FROM events WHERE chain <> 'access_log' ORDER BY chain, seq").all(),
      files: fs.existsSync(path.join(dir, 'archive')) ? fs.readdirSync(path.join(dir, 'archive'), { recursive: true }).map(String).sort() : [],
    };
  } finally {
    db.close();
  }
}

describe('retention tiers: hot -> warm -> cold -> delete (time travel)', () => {
  let dir: string;
  let pristine: string;
  let baseline: unknown;

  beforeAll(async () => {
    const t1 = await startTestApp();
    dir = t1.dataDir;
    const ehr = await t1.client('integration');
    const accesses = Array.from({ length: 5 }, (_, i) => accessEvent({ patient: { id: `MRN-TIER-${i % 2}` }, occurredAt: `2026-03-0${i + 1}T10:00:00.000Z` }));
    const logins = Array.from({ length: 3 }, () => accessEvent({ category: 'authentication', action: 'login', patient: undefined, resource: undefined, purpose: undefined }));
    expect((await ehr.request('POST', '/v1/events', { events: [...accesses, ...logins] })).status).toBe(202);
    await t1.close(); // seals a checkpoint per chain
    const t2 = await startTestApp({ dataDir: dir });
    const ehr2 = await t2.client('integration');
    expect((await ehr2.request('POST', '/v1/events', { events: [accessEvent({ patient: { id: 'MRN-TIER-HELD' } }), accessEvent({ patient: { id: 'MRN-TIER-HELD' } })] })).status).toBe(202);
    const officer = await t2.client('compliance_officer', 'u-officer-tiers');
    expect((await officer.request('POST', '/v1/retention/holds', { patient: 'MRN-TIER-HELD', reason: 'Litigation', caseId: 'CASE-TIER-1' })).status).toBe(201);
    await t2.close();
    pristine = copyStore(dir);
    baseline = await answers(dir);
  }, 120_000);

  it('walks the tiers with the same answers while queryable, offline-verifiable archives, restore, and deletion', async () => {
    expect(tiers(dir)).toEqual({ data_access: { hot: 7, warm: 0, restored: 0, archived: 0 }, authentication: { hot: 3, warm: 0, restored: 0, archived: 0 } });
    expect((baseline as { patient: unknown[] }).patient).toHaveLength(2);

    // +6 months: past the 90-day hot window -> warm. Same answers.
    const dry = retention(dir, {}, '--dry-run', '--now', at(0.5));
    expect(dry.status).toBe(0);
    expect(tiers(dir).data_access.hot).toBe(7);
    const warm = retention(dir, {}, '--now', at(0.5));
    expect(warm.json).toMatchObject({ deleted: 0, warmed: 10, archived: 0 });
    expect(tiers(dir)).toEqual({ data_access: { hot: 0, warm: 7, restored: 0, archived: 0 }, authentication: { hot: 0, warm: 3, restored: 0, archived: 0 } });
    expectVerified(dir);
    expect(await answers(dir)).toEqual(baseline);
    // Warm keeps sealed fields sealed: no patient id at rest, only tokens.
    const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
    for (const r of db.prepare('SELECT patient_id, record FROM warm_events').all() as { patient_id: string | null; record: Buffer }[]) {
      expect(inflateRawSync(r.record).toString('utf8')).not.toContain('MRN-TIER');
      if (r.patient_id !== null) expect(r.patient_id).not.toContain('MRN-TIER');
    }
    db.close();

    // +2 years: past warm -> cold archives, one per checkpoint block.
    const cold = retention(dir, {}, '--now', at(2));
    expect(cold.json).toMatchObject({ deleted: 0, warmed: 0, archived: 10 });
    const da = cold.json!.chains.find((c) => c.chain === 'data_access')!;
    expect(da.cold.map((a) => [a.fromSeq, a.toSeq])).toEqual([
      [0, 5],
      [5, 7],
    ]);
    expect(tiers(dir)).toEqual({ data_access: { hot: 0, warm: 0, restored: 0, archived: 7 }, authentication: { hot: 0, warm: 0, restored: 0, archived: 3 } });
    expectVerified(dir);
    const archiveDir = path.join(dir, da.cold[0].path);
    expect(fs.readdirSync(archiveDir).sort()).toEqual(['checkpoints.json', 'frontiers.json', 'manifest.json', 'public-keys.json', 'records.ndjson.gz']);
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-archive-copy-'));
    fs.cpSync(archiveDir, elsewhere, { recursive: true });
    const offline = runCli(['verify', '--offline', elsewhere]);
    expect(offline.stdout).toMatch(/^OK: /);
    expect(offline.status).toBe(0);
    // One character changed in an archived record: offline verification and restore both refuse it.
    const packed = path.join(archiveDir, 'records.ndjson.gz');
    const original = fs.readFileSync(packed);
    const tampered = gzipSync(Buffer.from(gunzipSync(original).toString('utf8').replace('"action\\":\\"read', '"action\\":\\"reaD')));
    expect(tampered.equals(original)).toBe(false);
    fs.writeFileSync(path.join(elsewhere, 'records.ndjson.gz'), tampered);
    const broken = runCli(['verify', '--offline', elsewhere]);
    expect(broken.status).toBe(1);
    expect(broken.stdout + broken.stderr).toMatch(/BREAK: chain data_access seq 0 kind modified/);
    fs.writeFileSync(packed, tampered);
    const refused = runCli(['retention', 'restore', '--data-dir', dir, '--chain', 'data_access', '--archive', da.cold[0].archiveId]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/does not verify/);
    expect(tiers(dir).data_access.restored).toBe(0);
    fs.writeFileSync(packed, original);
    // Cold records are not queryable until restored...
    expect(((await answers(dir)) as { patient: unknown[] }).patient).toHaveLength(0);
    // ...and a restore brings them back, verified, with the same answers.
    const restored = runCli(['retention', 'restore', '--data-dir', dir, '--chain', 'data_access', '--from', '0', '--to', '6', '--json']);
    expect(restored.stderr).toBe('');
    expect(JSON.parse(restored.stdout)).toMatchObject({ chain: 'data_access', restored: 7 });
    expect(tiers(dir).data_access).toEqual({ hot: 0, warm: 0, restored: 7, archived: 7 });
    expect(await answers(dir)).toEqual(baseline);
    expectVerified(dir);
    // A restore again changes nothing (idempotent).
    expect(JSON.parse(runCli(['retention', 'restore', '--data-dir', dir, '--chain', 'data_access', '--archive', da.cold[0].archiveId, '--json']).stdout)).toMatchObject({ restored: 0 });

    // +6.5 years: the data-access archive without held records is deleted (with its restored copy).
    const six = retention(dir, {}, '--now', at(6.5));
    expect(six.json!.deleted).toBe(5);
    expect(six.json!.chains.find((c) => c.chain === 'data_access')).toMatchObject({ archivesHeld: 1 });
    expect(fs.existsSync(archiveDir)).toBe(false);
    expect(tiers(dir)).toEqual({ data_access: { hot: 0, warm: 0, restored: 2, archived: 2 }, authentication: { hot: 0, warm: 0, restored: 0, archived: 3 } });
    expectVerified(dir);

    // +8 years: only the held records remain.
    const eight = retention(dir, {}, '--now', at(8));
    expect(eight.json!.deleted).toBe(3);
    expect(tiers(dir)).toEqual({ data_access: { hot: 0, warm: 0, restored: 2, archived: 2 } });
    expectVerified(dir);
  }, 300_000);

  it('a SIGKILL after an archive is written (or mid warm move), then a rerun, ends like an uninterrupted run', () => {
    const clean = copyStore(pristine);
    expect(retention(clean, {}, '--now', at(0.5)).status).toBe(0);
    expect(retention(clean, {}, '--now', at(2)).status).toBe(0);

    const crashed = copyStore(pristine);
    const killedWarm = runCli(['retention', 'run', '--data-dir', crashed, '--now', at(0.5)], { AUDITCTL_TEST_KILL_AT_STEP: 'warm-batch:1' });
    expect(killedWarm.status).not.toBe(0);
    expectVerified(crashed);
    expect(retention(crashed, {}, '--now', at(0.5)).status).toBe(0);
    const killedCold = runCli(['retention', 'run', '--data-dir', crashed, '--now', at(2)], { AUDITCTL_TEST_KILL_AT_STEP: 'archive-written:1' });
    expect(killedCold.status).not.toBe(0);
    expectVerified(crashed);
    const rerun = retention(crashed, {}, '--now', at(2));
    expect(rerun.status).toBe(0);
    expect(archiveState(crashed)).toEqual(archiveState(clean));
    expect(tiers(crashed)).toEqual(tiers(clean));
    expectVerified(crashed);
  }, 300_000);
});
