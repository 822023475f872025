/**
 * One service per data dir: a second service started on the same DATA_DIR exits non-zero and says
 * who holds it (pid, host, start time); the lock goes with its holder however it ends (kill -9
 * included), and an in-process app releases it when it closes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { DataDirLockedError } from '@app/storage';
import { API_MAIN, REPO_ROOT, startService, waitForExit } from './support/cli';
import { startTestApp, tempDataDir } from './support/test-app';

describe('one service per data dir', () => {
  it('a second service exits non-zero naming the holder; after the holder is killed, a new one starts', async () => {
    const dir = tempDataDir('audit-lock-');
    const env = { DATA_DIR: dir, LOG_LEVEL: 'warn' };
    const first = await startService(env);
    try {
      const second = spawnSync(process.execPath, [API_MAIN], { cwd: REPO_ROOT, env: { ...process.env, PORT: '0', ...env }, encoding: 'utf8', timeout: 30_000 });
      expect(second.status).not.toBe(0);
      expect(second.stderr).toContain(`${dir} is in use by another service (pid ${first.child.pid} on ${os.hostname()}, started 20`);
    } finally {
      first.child.kill('SIGKILL');
      await waitForExit(first.child);
    }
    // The operating system dropped the lock with the process: no stale lock to clean up.
    const next = await startService(env);
    next.child.kill('SIGTERM');
    await waitForExit(next.child);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  it('in-process: refused while another app holds the dir, free again once it closes', async () => {
    const t = await startTestApp();
    try {
      await expect(startTestApp({ dataDir: t.dataDir })).rejects.toBeInstanceOf(DataDirLockedError);
    } finally {
      await t.close();
    }
    const again = await startTestApp({ dataDir: t.dataDir });
    await again.close();
  }, 60_000);
});
