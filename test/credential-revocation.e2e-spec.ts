/**
 * Revoking credentials through the CLI while the service runs: `auditctl token revoke --id` (token
 * id, or the token itself) and `--sub` refuse those tokens with 401 within the poll delay
 * (REVOCATION_POLL_MS, 2 s), tokens minted for the subject afterwards work; `auditctl certs issue
 * <integration> --out` makes a working client certificate and `certs revoke` refuses it (401).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { localPkiPaths } from '@app/security';
import { runCli } from './support/cli';
import { accessEvent } from './support/events';
import { RawClient } from './support/raw-http';
import { startTestApp, tempDataDir } from './support/test-app';

const DELAY_MS = 2000 + 1500; // the poll delay, and some slack for a loaded machine

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await probe();
  while (!done(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    v = await probe();
  }
  return v;
}

describe('credential revocation', () => {
  it('a revoked token (by id or by subject) gets 401 within seconds; a token minted afterwards works', async () => {
    const t = await startTestApp();
    try {
      const read = async (token: string) => (await fetch(`${t.baseUrl}/v1/events?limit=1`, { headers: { authorization: `Bearer ${token}` } })).status;
      const one = await t.token('soc_analyst', 'u-rev-one');
      const other = await t.token('soc_analyst', 'u-rev-two');
      expect(await read(one)).toBe(200);
      expect(await read(other)).toBe(200);

      const r = runCli(['token', 'revoke', '--id', one, '--data-dir', t.dataDir]);
      expect(r.stdout).toMatch(/^revoked token [0-9a-f-]{36}; services on this data dir refuse it within seconds/);
      expect(r.status).toBe(0);
      const started = Date.now();
      expect(await until(() => read(one), (s) => s === 401, DELAY_MS)).toBe(401);
      expect(Date.now() - started).toBeLessThan(DELAY_MS);
      expect(await read(other)).toBe(200);

      expect(runCli(['token', 'revoke', '--sub', 'u-rev-two', '--data-dir', t.dataDir]).status).toBe(0);
      expect(await until(() => read(other), (s) => s === 401, DELAY_MS)).toBe(401);
      await new Promise((res) => setTimeout(res, 1100)); // a later second than the revocation
      expect(await read(await t.token('soc_analyst', 'u-rev-two'))).toBe(200);

      const bad = runCli(['token', 'revoke', '--data-dir', t.dataDir]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('give exactly one of --id <token id> or --sub <id>');
    } finally {
      await t.close();
    }
  }, 60_000);

  it('certs issue makes a client certificate that posts; certs revoke refuses it within seconds', async () => {
    const dataDir = tempDataDir('audit-certs-');
    fs.writeFileSync(path.join(dataDir, 'integrations.json'), JSON.stringify({ 'lab-feed': { systems: ['lab-gateway'] } }));
    const t = await startTestApp({ dataDir, insecureHttp: false });
    const out = path.join(dataDir, 'issued');
    const clients: RawClient[] = [];
    try {
      const issued = runCli(['certs', 'issue', 'lab-feed', '--out', out, '--data-dir', dataDir]);
      expect(issued.stdout).toMatch(/^issued .*lab-feed\.pem .*serial [0-9A-F]+, valid until/);
      expect(issued.status).toBe(0);
      expect(fs.statSync(path.join(out, 'lab-feed-key.pem')).mode & 0o777).toBe(0o600);
      const ca = fs.readFileSync(localPkiPaths(dataDir).caCertPath, 'utf8');
      const post = () => {
        // A new connection each time: a revocation also applies to connections already open.
        const c = new RawClient(t.baseUrl, { ca, cert: fs.readFileSync(path.join(out, 'lab-feed.pem'), 'utf8'), key: fs.readFileSync(path.join(out, 'lab-feed-key.pem'), 'utf8') });
        clients.push(c);
        const body = JSON.stringify(accessEvent({ source: { system: 'lab-gateway', integration: 'lab-feed' } }));
        return c.send({ method: 'POST', path: '/v1/events', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status);
      };
      expect(await post()).toBe(202);
      const revoked = runCli(['certs', 'revoke', 'lab-feed', '--data-dir', dataDir]);
      expect(revoked.stdout).toMatch(/^revoked certificate serial [0-9A-F]+$/m);
      expect(await until(post, (s) => s === 401, DELAY_MS)).toBe(401);
      expect(runCli(['certs', 'issue', 'Not An Id', '--out', out, '--data-dir', dataDir]).status).toBe(2);
    } finally {
      for (const c of clients) c.close();
      await t.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
