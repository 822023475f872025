/**
 * jest globalTeardown: the whole-suite PHI scan. Every service log written during the run (in-process
 * apps and spawned services, test/support/log-capture.ts) is scanned for every identifier the tests
 * posted; a hit fails the run (non-zero exit) naming file and line, never the identifier. The run
 * directory is removed when clean and kept for inspection when not.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { serviceProcessesDir } from './log-capture';
import { RUN_DIR_ENV, describeFindings, listLogFiles, loadMarkers, scanLogFiles } from './phi-log-scan';

/**
 * Service processes a test started and left running (test/support/cli.ts lists each one until it
 * exits): stopped here, so none outlives the run. A pid is killed only while its command line is
 * still the service's (a reused pid is left alone).
 */
function stopLeftoverServices(dir: string): number {
  const listed = serviceProcessesDir(dir);
  if (!fs.existsSync(listed)) return 0;
  let stopped = 0;
  for (const name of fs.readdirSync(listed)) {
    const pid = Number(name);
    const command = fs.readFileSync(path.join(listed, name), 'utf8');
    let cmdline = '';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone already
    }
    if (!Number.isInteger(pid) || !command || !cmdline.includes(command)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      stopped++;
    } catch {
      /* exited meanwhile */
    }
  }
  return stopped;
}

export default function globalTeardown(): void {
  const dir = process.env[RUN_DIR_ENV];
  if (!dir || !fs.existsSync(dir)) return;
  const stopped = stopLeftoverServices(dir);
  if (stopped > 0) process.stdout.write(`\nStopped ${stopped} service process(es) a test left running.\n`);
  const files = listLogFiles(dir);
  const markers = loadMarkers(dir);
  const findings = scanLogFiles(files, markers);
  if (findings.length > 0) throw new Error(`${describeFindings(findings)}\n(run directory kept: ${dir})`);
  process.stdout.write(`\nPHI log scan: ${files.length} service log file(s) scanned for ${markers.length} posted identifier(s): none found.\n`);
  fs.rmSync(dir, { recursive: true, force: true });
}
