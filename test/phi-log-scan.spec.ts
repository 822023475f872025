/**
 * The whole-suite PHI scan can fail: a planted identifier in a service log is found and reported by
 * file and line (never by value), the jest globalTeardown throws on it, and the scan does not cry
 * wolf on longer words, loopback addresses or short values. Also checks that this very run captures
 * service logs and markers (the suite's real scan has something to scan).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import globalTeardown from './support/global-teardown';
import { RUN_DIR_ENV, describeFindings, isScannable, loadMarkers, logsDir, markersDir, scanLogFiles } from './support/phi-log-scan';
import { startTestApp } from './support/test-app';

function plantedRun(logText: string, markers: object[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phi-scan-spec-'));
  fs.mkdirSync(logsDir(dir));
  fs.mkdirSync(markersDir(dir));
  fs.writeFileSync(path.join(logsDir(dir), 'in-process-app-1-1.log'), logText);
  fs.writeFileSync(path.join(markersDir(dir), '1.jsonl'), markers.map((m) => JSON.stringify(m)).join('\n') + '\n');
  return dir;
}

describe('whole-suite PHI log scan', () => {
  const PATIENT = 'MRN-PLANTED-5521';
  const IP = '198.51.100.77';
  const log = [
    '{"level":"info","msg":"listening","listenUrl":"http://127.0.0.1:8443"}',
    '{"level":"info","msg":"request","status":202}',
    `{"level":"error","msg":"failed for ${PATIENT}"}`,
    `{"level":"warn","msg":"from ${IP}:443 and 198.51.100.770"}`,
    `{"level":"info","msg":"${PATIENT}X is another word"}`,
  ].join('\n');

  it('finds a planted patient id and IP by file and line, and says so without the value', () => {
    const dir = plantedRun(log, [
      { kind: 'patient-id', value: PATIENT, plantedBy: 'test/x.e2e-spec.ts' },
      { kind: 'ip', value: IP },
      { kind: 'ip', value: '127.0.0.1' },
      { kind: 'actor-id', value: 'bob' },
    ]);
    const markers = loadMarkers(dir);
    expect(markers.map((m) => m.value).sort()).toEqual([IP, PATIENT].sort());
    const file = path.join(logsDir(dir), 'in-process-app-1-1.log');
    const findings = scanLogFiles([file], markers);
    expect(findings).toEqual([
      { file, line: 3, kind: 'patient-id', plantedBy: 'test/x.e2e-spec.ts' },
      { file, line: 4, kind: 'ip' },
    ]);
    const message = describeFindings(findings);
    expect(message).toContain(`${file}:3: a posted patient-id (posted by test/x.e2e-spec.ts)`);
    expect(message).toContain(`${file}:4: a posted ip`);
    expect(message).not.toContain(PATIENT);
    expect(message).not.toContain(IP);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails the run from globalTeardown on a planted case and passes (removing the run dir) when clean', () => {
    const saved = process.env[RUN_DIR_ENV];
    const dirty = plantedRun(log, [{ kind: 'patient-id', value: PATIENT }]);
    const clean = plantedRun(log, [{ kind: 'patient-id', value: 'MRN-NEVER-LOGGED-1' }]);
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      process.env[RUN_DIR_ENV] = dirty;
      expect(() => globalTeardown()).toThrow(/in-process-app-1-1\.log:3: a posted patient-id/);
      try {
        globalTeardown();
      } catch (err) {
        expect(String(err)).not.toContain(PATIENT);
      }
      expect(fs.existsSync(dirty)).toBe(true); // kept for inspection
      process.env[RUN_DIR_ENV] = clean;
      expect(() => globalTeardown()).not.toThrow();
      expect(fs.existsSync(clean)).toBe(false);
    } finally {
      write.mockRestore();
      process.env[RUN_DIR_ENV] = saved;
      fs.rmSync(dirty, { recursive: true, force: true });
    }
  });

  it('scans only distinctive values', () => {
    expect(isScannable('ip', '127.0.0.1')).toBe(false);
    expect(isScannable('ip', '::1')).toBe(false);
    expect(isScannable('ip', '10.1.2.3')).toBe(true);
    expect(isScannable('patient-id', 'P1')).toBe(false);
    expect(isScannable('patient-id', 'MRN-0001')).toBe(true);
    expect(isScannable('actor-id', 'bob')).toBe(false);
  });

  it('captures this run: an in-process app writes its log to the run directory and posted ids become markers', async () => {
    const dir = process.env[RUN_DIR_ENV];
    expect(dir && fs.existsSync(dir)).toBeTruthy(); // jest.config.js globalSetup ran
    const event = accessEvent({ patient: { id: 'MRN-CAPTURE-CHECK-1' } });
    const t = await startTestApp();
    try {
      const res = await (await t.client('integration')).request('POST', '/v1/events', event);
      expect(res.status).toBe(202);
    } finally {
      await t.close();
    }
    const logs = fs.readdirSync(logsDir(dir!)).map((f) => fs.readFileSync(path.join(logsDir(dir!), f), 'utf8'));
    expect(logs.some((text) => text.includes('"msg":"request"'))).toBe(true);
    expect(loadMarkers(dir!).some((m) => m.value === 'MRN-CAPTURE-CHECK-1' && m.plantedBy === 'test/phi-log-scan.spec.ts')).toBe(true);
  });
});
