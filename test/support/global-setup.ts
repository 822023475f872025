/** jest globalSetup: one run directory for the service logs and PHI markers of this run (phi-log-scan.ts). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUN_DIR_ENV } from './phi-log-scan';

export default function globalSetup(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-test-run-'));
  // Workers are started after this and inherit the environment.
  process.env[RUN_DIR_ENV] = dir;
}
