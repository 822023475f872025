/**
 * What a newcomer sees when `auditctl` is pointed at the wrong place: a service not listening at the
 * URL it derives (seed names the URL and how to point it elsewhere), a data dir the service never
 * started on (token and seed refuse instead of minting tokens the service rejects, and create
 * nothing), a chain the store does not hold, an export directory that does not exist. Each exits 2.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { accessEvent } from './support/events';
import { runCli } from './support/cli';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('auditctl on a data dir the service ran on', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
    const client = await t.client('integration');
    expect((await client.request('POST', '/v1/events', accessEvent())).status).toBe(202);
  });
  afterAll(() => t.close());

  it('token mints a token the running service accepts', async () => {
    const r = runCli(['token', '--role', 'soc_analyst', '--data-dir', t.dataDir]);
    expect(r.status).toBe(0);
    const res = await fetch(`${t.baseUrl}/v1/events?limit=1`, { headers: { authorization: `Bearer ${r.stdout.trim()}` } });
    expect(res.status).toBe(200);
  });

  it('verify --chain with an unknown chain says so and lists the chains (exit 2)', () => {
    const r = runCli(['verify', '--chain', 'nope', '--data-dir', t.dataDir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no chain "nope" in this store');
    expect(r.stderr).toContain('data_access');
    expect(r.stdout).toBe('');
  });

  it('seed names the URL it tried and how to point it at the service when nothing listens there (exit 2)', async () => {
    const port = await closedPort();
    const fromEnv = runCli(['seed', '--events', '10', '--data-dir', t.dataDir], { PORT: String(port), HOST: '127.0.0.1', INSECURE_HTTP: 'false' });
    expect(fromEnv.status).toBe(2);
    expect(fromEnv.stderr).toContain(`cannot reach the service at https://127.0.0.1:${port}`);
    expect(fromEnv.stderr).toContain('may not be running there');
    expect(fromEnv.stderr).toMatch(/--url/);
    expect(fromEnv.stderr).toMatch(/PORT/);

    const fromFlag = runCli(['seed', '--events', '10', '--data-dir', t.dataDir, '--url', `http://127.0.0.1:${port}`]);
    expect(fromFlag.status).toBe(2);
    expect(fromFlag.stderr).toContain(`cannot reach the service at http://127.0.0.1:${port}`);
    expect(fromFlag.stderr).toContain('check --url');
  });
});

describe('auditctl on a data dir the service never ran on', () => {
  it('token refuses a data dir that does not exist, and does not create it (exit 2)', () => {
    const dir = path.join(os.tmpdir(), `auditctl-missing-${process.pid}-${Date.now()}`);
    const r = runCli(['token', '--role', 'soc_analyst', '--data-dir', dir]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`no data directory at ${dir}`);
    expect(r.stderr).toContain('start the service once on that data dir');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('token and seed refuse a data dir without a token signing key, and create none (exit 2)', () => {
    const dir = tempDataDir('auditctl-empty-');
    for (const args of [['token', '--role', 'auditor'], ['seed', '--events', '10']]) {
      const r = runCli([...args, '--data-dir', dir]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('no token signing key');
      expect(r.stderr).toContain('--data-dir / DATA_DIR');
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('verify --offline names a missing export directory (exit 2)', () => {
    const dir = path.join(os.tmpdir(), `auditctl-no-export-${process.pid}`);
    const r = runCli(['verify', '--offline', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`no export directory at ${dir}`);
  });
});
