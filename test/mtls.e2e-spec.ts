/**
 * Mutual TLS over the real HTTPS app with real certificates from the local PKI: the sample
 * integration's certificate posts (and its events are stored naming it, also when the event left
 * source.integration out); a certificate from an unknown CA and an expired one are refused (401); a
 * valid certificate of another integration cannot post events naming sample-ehr (403), nor may an
 * integration post for a system outside its allowed list (integrations file); TLS 1.1 is refused
 * during the handshake while TLS 1.2 with the same client settings connects.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueClientCertificate, localPkiPaths } from '@app/security';
import { accessEvent } from './support/events';
import { RawClient, RawResponse } from './support/raw-http';
import { startTestApp, tempDataDir, TestApp } from './support/test-app';

describe('mutual TLS and source ownership over HTTPS', () => {
  let t: TestApp;
  let dataDir: string;
  let ca: string;
  let port: number;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    dataDir = tempDataDir('audit-mtls-');
    fs.writeFileSync(path.join(dataDir, 'integrations.json'), JSON.stringify({ 'sample-ehr': { systems: ['ehr-gateway', 'ehr-batch'] } }));
    t = await startTestApp({ dataDir, insecureHttp: false });
    expect(t.baseUrl).toMatch(/^https:/);
    ca = fs.readFileSync(localPkiPaths(dataDir).caCertPath, 'utf8');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await t.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function withCert(cert?: { certPem: string; keyPem: string }): RawClient {
    const c = new RawClient(t.baseUrl, { ca, cert: cert?.certPem, key: cert?.keyPem });
    clients.push(c);
    return c;
  }
  function post(client: RawClient, body: unknown): Promise<RawResponse> {
    return client.send({ method: 'POST', path: '/v1/events', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
  async function stored(id: string): Promise<{ status: number; event?: { source: Record<string, string> } }> {
    const reader = withCert();
    const res = await reader.send({ method: 'GET', path: `/v1/events/${id}`, headers: { authorization: `Bearer ${await t.token('compliance_officer')}` } });
    return { status: res.status, event: res.status === 200 ? JSON.parse(res.body).event : undefined };
  }
  const sampleCert = () => {
    const files = localPkiPaths(dataDir).clientFiles('sample-ehr');
    return { certPem: fs.readFileSync(files.certPath, 'utf8'), keyPem: fs.readFileSync(files.keyPath, 'utf8') };
  };

  it('the sample integration certificate posts; an absent source.integration is filled in and hashed', async () => {
    const client = withCert(sampleCert());
    const explicit = accessEvent();
    expect((await post(client, explicit)).status).toBe(202);
    const implicit = accessEvent({ source: { system: 'ehr-batch' } });
    const res = await post(client, { events: [implicit] });
    expect(res.status).toBe(202);
    expect((await stored(implicit.id)).event?.source).toEqual({ system: 'ehr-batch', integration: 'sample-ehr' });
    // The chain verifies: the hash covers the stored (filled-in) event.
    const verify = await withCert().send({ method: 'GET', path: '/v1/integrity/verify', headers: { authorization: `Bearer ${await t.token('auditor')}` } });
    expect(JSON.parse(verify.body)).toMatchObject({ ok: true, break: null });
  });

  it('refuses a certificate from an unknown CA and an expired certificate with 401', async () => {
    const foreign = await issueClientCertificate(dataDir, 'sample-ehr', { ca: await createCertificateAuthority() });
    const expired = await issueClientCertificate(dataDir, 'sample-ehr', { expired: true });
    for (const cert of [foreign, expired]) {
      const e = accessEvent();
      const res = await post(withCert(cert), e);
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect((await stored(e.id)).status).toBe(404);
    }
    // And no certificate, no token at all.
    expect((await post(withCert(), accessEvent())).status).toBe(401);
  });

  it('refuses events naming another integration (403, field path only) to a valid certificate of another integration', async () => {
    const billing = withCert(await issueClientCertificate(dataDir, 'billing'));
    const theirs = accessEvent({ patient: { id: 'MRN-MTLS-SECRET' } }); // source.integration: sample-ehr
    const single = await post(billing, theirs);
    expect(single.status).toBe(403);
    expect(JSON.parse(single.body)).toMatchObject({ type: expect.stringMatching(/source-not-allowed$/), errors: [{ pointer: '/source/integration' }] });
    expect(single.body).not.toMatch(/sample-ehr|MRN-MTLS-SECRET/);
    const batch = await post(billing, { events: [accessEvent({ source: { system: 'billing-system' } }), accessEvent()] });
    expect(batch.status).toBe(403);
    expect(JSON.parse(batch.body).errors).toEqual([{ index: 1, pointer: '/events/1/source/integration', message: expect.any(String) }]);
    expect((await stored(theirs.id)).status).toBe(404);
    // Its own events (integration left out) are accepted and stored as billing's; billing is not in the integrations file, so any system is allowed.
    const own = accessEvent({ source: { system: 'billing-system' } });
    expect((await post(billing, own)).status).toBe(202);
    expect((await stored(own.id)).event?.source).toEqual({ system: 'billing-system', integration: 'billing' });
  });

  it('refuses a system outside the integration\'s allowed list (403 /source/system)', async () => {
    const res = await post(withCert(sampleCert()), accessEvent({ source: { system: 'lab-system', integration: 'sample-ehr' } }));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).errors).toEqual([{ pointer: '/source/system', message: expect.any(String) }]);
    expect(res.body).not.toContain('lab-system');
  });

  it('refuses TLS 1.1 in the handshake; TLS 1.2 with the same client settings connects', async () => {
    const attempt = (maxVersion: tls.SecureVersion) =>
      new Promise<{ protocol?: string | null; error?: string }>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, minVersion: 'TLSv1', maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' });
        socket.once('secureConnect', () => {
          const protocol = socket.getProtocol();
          socket.end();
          resolve({ protocol });
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      });
    const old = await attempt('TLSv1.1');
    expect(old.protocol).toBeUndefined();
    // The server answers with a protocol_version alert (the client was willing to speak TLS 1.1).
    expect(old.error).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    expect(await attempt('TLSv1.2')).toEqual({ protocol: 'TLSv1.2' });
  });
});
