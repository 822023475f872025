/**
 * One writer per data dir, for `auditctl` too (issue 15): the commands that must not write beside
 * a running service (migrate, restore, retention run and retention restore) take the service's
 * data-dir lock; while a service holds it they exit 2 naming its pid and what to do instead, and
 * change nothing. Read-only runs (`retention run --dry-run`, `migrate --status`) and the commands
 * made for a running service (`token revoke`) still work. A service started while such a command
 * holds the lock is refused naming the command. Once the service is gone, the writers run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataDirLock, DataDirLockedError } from '@app/storage';
import { runCli } from './support/cli';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir } from './support/test-app';

describe('auditctl writers and the data-dir lock', () => {
  it('refuses migrate, restore and retention while the service runs, naming its pid; runs them once it stopped', async () => {
    const t = await startTestApp();
    const scratch = tempDataDir('audit-writers-');
    try {
      expect((await (await t.client('integration')).request('POST', '/v1/events', accessEvent())).status).toBe(202);
      const backup = path.join(scratch, 'backup');
      expect(runCli(['backup', '--out', backup, '--data-dir', t.dataDir]).status).toBe(0);
      const holder = `is in use by the running service (pid ${process.pid} on ${os.hostname()}, started 20`;
      const runsBefore = runCli(['retention', 'runs', '--data-dir', t.dataDir]).stdout;

      const refused: [string[], string][] = [
        [['migrate'], 'stop it first (a service applies pending migrations itself at start)'],
        [['retention', 'run'], 'run it on the service instead (POST /v1/retention/runs'],
        [['retention', 'restore', '--chain', 'data_access', '--from', '0', '--to', '0'], 'run it on the service instead'],
        [['restore', '--from', backup], 'stop it first, or restore into another data dir'],
      ];
      for (const [args, instead] of refused) {
        const r = runCli([...args, '--data-dir', t.dataDir]);
        expect({ args, status: r.status }).toEqual({ args, status: 2 });
        expect(r.stderr).toContain(`auditctl ${args[0] === 'retention' ? `retention ${args[1]}` : args[0]}: ${t.dataDir} ${holder}`);
        expect(r.stderr).toContain(instead);
      }
      // Nothing changed: no retention run recorded, the service still serves.
      expect(runCli(['retention', 'runs', '--data-dir', t.dataDir]).stdout).toBe(runsBefore);
      expect((await (await t.client('integration')).request('POST', '/v1/events', accessEvent())).status).toBe(202);

      // Readers and the commands made for a running service still work.
      expect(runCli(['retention', 'run', '--dry-run', '--data-dir', t.dataDir]).status).toBe(0);
      expect(runCli(['migrate', '--status', '--data-dir', t.dataDir]).status).toBe(0);
      expect(runCli(['token', 'revoke', '--sub', 'u-nobody', '--data-dir', t.dataDir]).status).toBe(0);
    } finally {
      await t.close();
    }
    // The service is gone: the writers run.
    expect(runCli(['migrate', '--data-dir', t.dataDir]).status).toBe(0);
    const run = runCli(['retention', 'run', '--data-dir', t.dataDir]);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^RETENTION RUN /);
    const restored = path.join(scratch, 'restored');
    expect(runCli(['restore', '--from', path.join(scratch, 'backup'), '--data-dir', restored]).status).toBe(0);
    // The lock was let go: a service starts on the restored dir.
    const again = await startTestApp({ dataDir: restored });
    await again.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }, 120_000);

  it('a service started while an auditctl writer holds the dir is refused naming the command', async () => {
    const dir = tempDataDir('audit-writer-held-');
    const lock = DataDirLock.acquire(dir, 'migrate');
    try {
      const err = await startTestApp({ dataDir: dir }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as Error).message).toContain(`${dir} is in use by auditctl migrate (pid ${process.pid} on ${os.hostname()}, started 20`);
      expect((err as Error).message).toContain('wait for it to finish, then start again');
    } finally {
      lock.release();
    }
    const t = await startTestApp({ dataDir: dir });
    await t.close();
  }, 60_000);
});
