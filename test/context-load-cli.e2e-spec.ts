/**
 * `auditctl context load` (CONTRACT "Running it"): bulk-loads an NDJSON export into the running
 * service in several requests, reports each rejected record by its line number in the file without
 * repeating its content, exits 1 when any line was rejected (0 when none), 2 for a file that is not
 * there; what it loaded is in the service's context (status, lookups).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCliAsync } from './support/cli';
import { registerPhiMarkers } from './support/log-capture';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

const NAME = 'Fenwickshaw';

describe('auditctl context load', () => {
  let t: TestApp;
  const dir = tempDataDir('audit-context-load-');

  beforeAll(async () => {
    registerPhiMarkers('name', [NAME]);
    t = await startTestApp();
  });

  afterAll(async () => {
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads a file in batches, names rejected lines by number, exits 1, and the service knows the rest', async () => {
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({ id: `u-load-${i}`, family: NAME, department: i % 2 ? 'icu' : 'ed', status: 'active' }));
    lines[6] = JSON.stringify({ id: 'u-load-bad', status: 'active', shoeSize: 'Fenwickshaw-44' }); // line 7: unknown member
    lines[17] = '{"id": "u-load-broken", "status": "act'; // line 18: not JSON
    lines.splice(20, 0, ''); // a blank line (skipped, still counted)
    const file = path.join(dir, 'users.ndjson');
    fs.writeFileSync(file, lines.join('\n') + '\n');

    const r = await runCliAsync(['context', 'load', 'users', file, '--batch', '4', '--url', t.baseUrl, '--data-dir', t.dataDir]);
    expect(r.stdout).toContain('Loaded 23 users record(s); 2 line(s) rejected');
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^line 7: unknown field/), expect.stringMatching(/^line 18: line is not valid JSON/)]);
    expect(r.stderr).not.toMatch(/shoeSize|Fenwickshaw|u-load-broken/);
    expect(r.status).toBe(1);

    const status = JSON.parse((await (await t.client('soc_analyst')).request('GET', '/v1/context/status')).body);
    expect(status.users).toMatchObject({ records: 23, versions: 23 });
    expect((await (await t.client('soc_analyst')).request('GET', '/v1/context/users/u-load-24')).status).toBe(200);
  });

  it('exits 0 when every line was accepted, and 2 without a file', async () => {
    const file = path.join(dir, 'encounters.ndjson');
    fs.writeFileSync(file, [JSON.stringify({ id: 'enc-load-1', patient: { id: 'MRN-LOAD-1' }, start: '2026-05-01T08:00:00Z' })].join('\n'));
    const ok = await runCliAsync(['context', 'load', 'encounters', file, '--url', t.baseUrl, '--data-dir', t.dataDir]);
    expect(ok.stdout).toContain('Loaded 1 encounters record(s).');
    expect(ok.status).toBe(0);
    const none = await runCliAsync(['context', 'load', 'encounters', path.join(dir, 'nope.ndjson'), '--url', t.baseUrl, '--data-dir', t.dataDir]);
    expect(none.stderr).toContain('no file at');
    expect(none.status).toBe(2);
  });
});
