/**
 * `auditctl backup` while the service ingests, then `auditctl restore` into another, empty data
 * dir: the restore verifies (OK), every receipt acknowledged before the backup started is in the
 * restored store (the service started on it serves each one), and a changed backup file or a
 * non-empty target is refused (exit 2).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI_MAIN, REPO_ROOT, runCli } from './support/cli';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir } from './support/test-app';

/** The CLI without blocking this process (the in-process service keeps serving meanwhile). */
function runCliAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

describe('backup and restore', () => {
  it('an online backup during ingestion restores elsewhere, verifies, and holds every acknowledged event', async () => {
    const t = await startTestApp();
    const scratch = tempDataDir('audit-backup-');
    const out = path.join(scratch, 'backup');
    const restored = path.join(scratch, 'restored');
    const acknowledged: string[] = [];
    try {
      const ehr = await t.client('integration');
      const post = async () => {
        const events = Array.from({ length: 20 }, (_, i) => accessEvent({ patient: { id: `MRN-BK-${acknowledged.length + i}` } }));
        const res = await ehr.request('POST', '/v1/events', { events });
        expect(res.status).toBe(202);
        return events.map((e) => e.id);
      };
      for (let i = 0; i < 5; i++) acknowledged.push(...(await post()));
      // Ingestion goes on while the backup runs.
      let ingesting = true;
      const during = (async () => {
        let n = 0;
        while (ingesting) n += (await post()).length;
        return n;
      })();
      const backup = await runCliAsync(['backup', '--out', out, '--data-dir', t.dataDir]);
      ingesting = false;
      expect(await during).toBeGreaterThan(0);
      expect(backup.stderr).toBe('');
      expect(backup.stdout).toMatch(/^backup written to .*: \d+ files, \d+ chain\(s\)/);
      expect(backup.status).toBe(0);
      expect(fs.existsSync(path.join(out, 'service.lock'))).toBe(false);
    } finally {
      await t.close();
    }

    const r = runCli(['restore', '--from', out, '--data-dir', restored]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/OK: \d+ records verified in \d+ chain\(s\)/);
    expect(r.status).toBe(0);

    const back = await startTestApp({ dataDir: restored });
    try {
      const officer = await back.client('compliance_officer');
      for (const id of acknowledged) expect((await officer.request('GET', `/v1/events/${id}`)).status).toBe(200);
    } finally {
      await back.close();
    }

    // A target that already holds a database, and a backup changed after the fact, are refused.
    const again = runCli(['restore', '--from', out, '--data-dir', restored]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('already holds an audit database');
    fs.appendFileSync(path.join(out, 'audit.db'), Buffer.from([0]));
    const changed = runCli(['restore', '--from', out, '--data-dir', path.join(scratch, 'other')]);
    expect(changed.status).toBe(2);
    expect(changed.stderr).toContain('backup file audit.db is missing or changed since the backup');
    fs.rmSync(scratch, { recursive: true, force: true });
  }, 120_000);
});
