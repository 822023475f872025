/**
 * jest globalTeardown: the whole-suite PHI scan. Every service log written during the run (in-process
 * apps and spawned services, test/support/log-capture.ts) is scanned for every identifier the tests
 * posted; a hit fails the run (non-zero exit) naming file and line, never the identifier. The run
 * directory is removed when clean and kept for inspection when not.
 */
import * as fs from 'node:fs';
import { RUN_DIR_ENV, describeFindings, listLogFiles, loadMarkers, scanLogFiles } from './phi-log-scan';

export default function globalTeardown(): void {
  const dir = process.env[RUN_DIR_ENV];
  if (!dir || !fs.existsSync(dir)) return;
  const files = listLogFiles(dir);
  const markers = loadMarkers(dir);
  const findings = scanLogFiles(files, markers);
  if (findings.length > 0) throw new Error(`${describeFindings(findings)}\n(run directory kept: ${dir})`);
  process.stdout.write(`\nPHI log scan: ${files.length} service log file(s) scanned for ${markers.length} posted identifier(s): none found.\n`);
  fs.rmSync(dir, { recursive: true, force: true });
}
