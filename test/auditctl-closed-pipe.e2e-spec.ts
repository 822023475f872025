/**
 * `auditctl … | head`: a reader that closes the pipe early ends the command quietly (no EPIPE stack
 * trace on stderr, the command's own exit code), as other command-line tools do.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI_MAIN, REPO_ROOT } from './support/cli';
import { tempDataDir } from './support/test-app';

function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader went away before the command printed anything
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

it('verify into a closed pipe ends quietly with its own exit code', async () => {
  const dir = tempDataDir('audit-pipe-');
  try {
    const fixture = path.join(__dirname, 'fixtures', 'release-0.1.0');
    fs.copyFileSync(path.join(fixture, 'audit.db'), path.join(dir, 'audit.db'));
    fs.cpSync(path.join(fixture, 'keys'), path.join(dir, 'keys'), { recursive: true });
    const r = await runWithClosedStdout(['verify', '--json', '--data-dir', dir]);
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
