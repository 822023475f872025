/**
 * Upgrade from the previous release: test/fixtures/release-0.1.0 is a data dir the service wrote
 * before schema versioning (55 events in two chains, signed checkpoints, its keys; events.json is
 * what was posted). `auditctl migrate --status` shows what is pending, `auditctl migrate` applies
 * it, `auditctl verify` passes, and the service started on it serves every event posted then and
 * accepts new ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SCHEMA_VERSION } from '@app/storage';
import { runCli } from './support/cli';
import { accessEvent } from './support/events';
import { startTestApp, tempDataDir } from './support/test-app';

const FIXTURE = path.join(__dirname, 'fixtures', 'release-0.1.0');

function copyFixture(): string {
  const dir = tempDataDir('audit-upgrade-');
  fs.copyFileSync(path.join(FIXTURE, 'audit.db'), path.join(dir, 'audit.db'));
  fs.cpSync(path.join(FIXTURE, 'keys'), path.join(dir, 'keys'), { recursive: true });
  for (const f of fs.readdirSync(path.join(dir, 'keys'), { recursive: true }) as string[]) {
    const p = path.join(dir, 'keys', f);
    if (fs.statSync(p).isFile()) fs.chmodSync(p, 0o600);
  }
  return dir;
}

describe('upgrading a database of the previous release', () => {
  const posted = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'events.json'), 'utf8')) as { id: string }[];
  let dir: string;
  beforeAll(() => (dir = copyFixture()));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('migrate --status lists the pending migrations and changes nothing', () => {
    const r = runCli(['migrate', '--status', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('pending  1 baseline');
    expect(r.stdout).toContain(`schema version 0; this build: ${SCHEMA_VERSION}`);
    expect(runCli(['migrate', '--status', '--data-dir', dir]).status).toBe(1);
  });

  it('migrate applies them once, then verify passes on the upgraded database', () => {
    const r = runCli(['migrate', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('applied  1 baseline');
    expect(r.stdout).toContain(`schema version ${SCHEMA_VERSION}`);
    const again = runCli(['migrate', '--data-dir', dir]);
    expect(again.stdout).toContain('up to date, nothing to apply');
    const status = runCli(['migrate', '--status', '--data-dir', dir]);
    expect(status.status).toBe(0);
    expect(status.stdout).toContain('(up to date)');

    const v = runCli(['verify', '--data-dir', dir]);
    expect(v.stdout).toContain('OK: 55 records verified in 2 chain(s)');
    expect(v.status).toBe(0);
  });

  it('the service on the upgraded dir serves every event posted before and takes new ones', async () => {
    const t = await startTestApp({ dataDir: dir });
    try {
      const analyst = await t.client('soc_analyst');
      for (const e of posted) expect((await analyst.request('GET', `/v1/events/${e.id}`)).status).toBe(200);
      const integration = await t.client('integration');
      expect((await integration.request('POST', '/v1/events', { events: [accessEvent(), accessEvent()] })).status).toBe(202);
    } finally {
      await t.close();
    }
    const v = runCli(['verify', '--data-dir', dir]);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/OK: \d+ records verified/);
  }, 60_000);
});
