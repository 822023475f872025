/**
 * `auditctl seed --hospital` as a user runs it (compiled CLI and service, `npm run build` first):
 * `--out` writes the context feeds, the events and the answer key as NDJSON/JSON files, the same
 * for the same seed; posted to a running service, the context feeds are all accepted (GET
 * /v1/context/status counts them), every event is stored, late batches included, and the service's
 * own detection raises exactly one alert per planted scenario and none on the benign week.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TokenService } from '@app/security';
import { loadConfig } from '@app/core';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { spawn } from 'node:child_process';
import { CLI_MAIN, REPO_ROOT, runCli, startService, ServiceProcess, waitForExit } from './support/cli';
import { allAlerts, waitForDetection } from './support/detection';
import { registerPhiMarkers } from './support/log-capture';
import { tempDataDir } from './support/test-app';

const HOSPITAL = ['seed', '--hospital', '--staff', '120', '--days', '2', '--events-per-shift', '20', '--start', '2026-03-02', '--seed', '5'];
/** A week (the baselines need days of history), small enough to post in about a minute. */
const WEEK = ['seed', '--hospital', '--staff', '200', '--days', '7', '--events-per-shift', '20', '--start', '2026-11-23', '--seed', '42', '--batch', '500'];

/** runCli without its 2-minute cap and without blocking the test's event loop (posting a week takes a while). */
function runCliAsync(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr })));
}

const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('auditctl seed --hospital --out', () => {
  const dir = tempDataDir('audit-hospital-out-');
  let stdout = '';

  beforeAll(() => {
    const r = runCli([...HOSPITAL, '--out', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    stdout = r.stdout;
  });

  it('writes the context feeds, the events in receive order and the answer key', () => {
    const users = lines(path.join(dir, 'users.ndjson'));
    const patients = lines(path.join(dir, 'patients.ndjson'));
    const encounters = lines(path.join(dir, 'encounters.ndjson'));
    const events = lines(path.join(dir, 'events.ndjson'));
    expect(users).toHaveLength(120);
    expect(stdout).toContain(`Wrote 120 users, ${patients.length} patients, ${encounters.length} encounters and ${events.length} events to ${dir}.`);
    expect(events.length).toBeGreaterThan(1_000);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    // Receive order: the encoder's and oncology's nightly batch comes after the day it covers.
    const late = events.findIndex((e) => ['encoder', 'onc-legacy'].includes((e.source as { integration: string }).integration));
    expect(late).toBeGreaterThan(0);
    expect(Date.parse(events[late].occurredAt as string)).toBeLessThan(Date.parse(events[late - 1].occurredAt as string) - 60 * 60_000);
    const key = JSON.parse(fs.readFileSync(path.join(dir, 'planted.json'), 'utf8')) as { planted: { scenario: string; eventIds: string[]; actorId: string }[] };
    expect(key.planted.map((p) => p.scenario)).toHaveLength(11);
    const ids = new Set(events.map((e) => e.id));
    for (const p of key.planted) for (const id of p.eventIds) expect(ids).toContain(id);
    for (const p of key.planted) expect(stdout).toContain(p.actorId);
    // Names and addresses in clear are what the feed posts (the service tokenizes them).
    expect(users[0]).toEqual(expect.objectContaining({ id: 'emp-00001', family: expect.any(String), homeAddress: expect.any(String), status: expect.any(String) }));
  });

  it('writes the same files for the same seed, others for another', () => {
    const again = tempDataDir('audit-hospital-again-');
    expect(runCli([...HOSPITAL, '--out', again]).status).toBe(0);
    for (const f of ['users.ndjson', 'patients.ndjson', 'encounters.ndjson', 'events.ndjson']) expect(sha(path.join(again, f))).toBe(sha(path.join(dir, f)));
    const other = tempDataDir('audit-hospital-other-');
    expect(runCli([...HOSPITAL.slice(0, -1), '6', '--out', other]).status).toBe(0);
    expect(sha(path.join(other, 'events.ndjson'))).not.toBe(sha(path.join(dir, 'events.ndjson')));
  });

  it('refuses bad options with a clear message (exit 2)', () => {
    const badStart = runCli(['seed', '--hospital', '--start', '2026-02-30', '--out', tempDataDir()]);
    expect(badStart.status).toBe(2);
    expect(badStart.stderr).toContain('--start must be a date YYYY-MM-DD');
    const small = runCli(['seed', '--hospital', '--staff', '10', '--out', tempDataDir()]);
    expect(small.status).toBe(2);
    expect(small.stderr).toContain('--staff must be at least 50');
    const both = runCli(['seed', '--hospital', '--events', '100', '--out', tempDataDir()]);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain('--events is for synthetic traffic');
  });
});

describe('auditctl seed --hospital against a running service', () => {
  let service: ServiceProcess;
  const dataDir = tempDataDir('audit-hospital-post-');
  const out = tempDataDir('audit-hospital-expected-');

  beforeAll(async () => {
    service = await startService({ DATA_DIR: dataDir, INSECURE_HTTP: 'true' });
    expect(runCli([...WEEK, '--out', out]).status).toBe(0);
  }, 60_000);
  afterAll(async () => {
    service.child.kill('SIGTERM');
    await waitForExit(service.child);
  });

  it('posts every context record and every event, late batches included; detection raises one alert per planted scenario, none else', async () => {
    // No service log may hold what was posted: a sample of patient ids, names and addresses, and every planted patient.
    const key0 = JSON.parse(fs.readFileSync(path.join(out, 'planted.json'), 'utf8')) as { planted: { patientIds: string[] }[] };
    const patientRecords = lines(path.join(out, 'patients.ndjson')) as { id: string; family?: string; address?: string }[];
    const userRecords = lines(path.join(out, 'users.ndjson')) as { family?: string; homeAddress?: string }[];
    registerPhiMarkers('patient-id', [...key0.planted.flatMap((p) => p.patientIds), ...patientRecords.slice(0, 200).map((p) => p.id)]);
    registerPhiMarkers('address', [...patientRecords.slice(0, 200).map((p) => p.address), ...userRecords.slice(0, 100).map((u) => u.homeAddress)]);
    registerPhiMarkers('name', userRecords.slice(0, 100).map((u) => u.family));
    const r = await runCliAsync([...WEEK, '--url', service.url, '--data-dir', dataDir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const expected = { users: lines(path.join(out, 'users.ndjson')).length, patients: lines(path.join(out, 'patients.ndjson')).length, encounters: lines(path.join(out, 'encounters.ndjson')).length };
    const events = lines(path.join(out, 'events.ndjson'));
    expect(r.stdout).toContain(`Posted ${expected.users} users, ${expected.patients} patients, ${expected.encounters} encounters and ${events.length} events.`);

    const tokens = new TokenService(loadConfig({ DATA_DIR: dataDir }));
    const analyst = new ApiClient(service.url, await tokens.issue({ role: 'soc_analyst', sub: 'hospital-test' }));
    const compliance = new ApiClient(service.url, await tokens.issue({ role: 'compliance_officer', sub: 'hospital-test' }));
    try {
      const status = await analyst.request('GET', '/v1/context/status');
      expect(status.status).toBe(200);
      const counts = JSON.parse(status.body) as Record<string, { records: number }>;
      expect({ users: counts.users.records, patients: counts.patients.records, encounters: counts.encounters.records }).toEqual(expected);
      // A late event (yesterday's, from the nightly batch) and the last one are stored.
      const late = events.find((e) => (e.source as { integration: string }).integration === 'encoder')!;
      for (const e of [late, events[events.length - 1]]) {
        const got = await compliance.request('GET', `/v1/events/${e.id as string}`);
        expect(got.status).toBe(200);
      }
      // The service's detection, with the context it was fed: the planted scenarios, nothing else.
      await waitForDetection(analyst, 60_000);
      const key = JSON.parse(fs.readFileSync(path.join(out, 'planted.json'), 'utf8')) as { planted: { actorId: string; rules: string[]; reasons: string[] }[] };
      const alerts = (await allAlerts(analyst)) as unknown as { ruleId: string; actor: string; reasons: string[] }[];
      expect(alerts.map((a) => `${a.actor} ${a.ruleId}`).sort()).toEqual(key.planted.map((p) => `${p.actorId} ${p.rules[0]}`).sort());
      for (const p of key.planted) expect(alerts.find((a) => a.actor === p.actorId)!.reasons).toEqual([p.reasons[0]]);
      const detection = JSON.parse((await analyst.request('GET', '/v1/detection/status')).body) as { lateDropped: number; lateLaned: number; unevaluated: Record<string, number> };
      expect(detection).toMatchObject({ lateDropped: 0, unevaluated: {} });
      expect(detection.lateLaned).toBeGreaterThan(0);
    } finally {
      analyst.close();
      compliance.close();
    }
  }, 300_000);
});
