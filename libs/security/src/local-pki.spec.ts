/**
 * Local PKI tests: files created once and reused, renewal, permissions, and real loopback TLS
 * handshakes (node:tls) proving the server certificate verifies against the CA and which client
 * certificates the server accepts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { integrationFromCertificate, principalFromCertificate } from './integration-identity';
import {
  createCertificateAuthority,
  ensureLocalPki,
  issueClientCertificate,
  issueIntegrationCertificateFiles,
  localPkiPaths,
  type LocalPki,
} from './local-pki';

const DAY = 86_400_000;
const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-spec-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe('ensureLocalPki: files', () => {
  let dataDir: string;
  let first: LocalPki;

  beforeAll(async () => {
    dataDir = tmpDir();
    first = await ensureLocalPki(dataDir, ['api.example.test', '10.1.2.3', '0.0.0.0']);
  });

  it('creates CA, server and sample client files with private keys 0600', () => {
    const p = localPkiPaths(dataDir);
    expect(first.created).toEqual({ ca: true, server: true, sampleClient: true });
    expect(first.caCertPath).toBe(path.join(dataDir, 'tls', 'ca.pem'));
    expect(first.caKeyPath).toBe(path.join(dataDir, 'tls', 'ca-key.pem'));
    expect(first.serverCertPath).toBe(path.join(dataDir, 'tls', 'server.pem'));
    expect(first.serverKeyPath).toBe(path.join(dataDir, 'tls', 'server-key.pem'));
    expect(first.sampleClient.certPath).toBe(path.join(dataDir, 'tls', 'clients', 'sample-ehr.pem'));
    expect(first.sampleClient.keyPath).toBe(path.join(dataDir, 'tls', 'clients', 'sample-ehr-key.pem'));
    for (const key of [p.caKeyPath, p.serverKeyPath, first.sampleClient.keyPath]) expect(mode(key)).toBe(0o600);
    expect(fs.readFileSync(p.caCertPath, 'utf8')).toBe(first.caCertPem);
    expect(fs.readFileSync(p.serverKeyPath, 'utf8')).toBe(first.serverKeyPem);
    expect(fs.readdirSync(p.tlsDir).filter((f) => f.includes('.tmp-') || f.endsWith('.lock'))).toEqual([]);
  });

  it('reuses everything on the next call (same CA, same certificates)', async () => {
    const second = await ensureLocalPki(dataDir, ['api.example.test', '10.1.2.3']);
    expect(second.created).toEqual({ ca: false, server: false, sampleClient: false });
    expect(second.caCertPem).toBe(first.caCertPem);
    expect(second.serverCertPem).toBe(first.serverCertPem);
    expect(second.sampleClient.certPem).toBe(first.sampleClient.certPem);
  });

  it('issues a server certificate for the names asked for plus loopback, signed by the CA, valid ~1 year', () => {
    const ca = new crypto.X509Certificate(first.caCertPem);
    const server = new crypto.X509Certificate(first.serverCertPem);
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkPrivateKey(crypto.createPrivateKey(first.serverKeyPem))).toBe(true);
    for (const host of ['localhost', 'api.example.test']) expect(server.checkHost(host)).toBe(host);
    for (const ip of ['127.0.0.1', '::1', '10.1.2.3']) expect(server.checkIP(ip)).toBe(ip);
    expect(server.checkIP('0.0.0.0')).toBeUndefined();
    expect(server.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const lifetime = new Date(server.validTo).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(360 * DAY);
    expect(lifetime).toBeLessThan(367 * DAY);
    const caLifetime = new Date(ca.validTo).getTime() - Date.now();
    expect(caLifetime).toBeGreaterThan(3640 * DAY);
  });

  it('gives the sample client certificate the integration identity sample-ehr', () => {
    const cert = new crypto.X509Certificate(first.sampleClient.certPem);
    expect(cert.subject).toContain('CN=sample-ehr');
    expect(cert.subjectAltName).toBe('URI:urn:audit-siem:integration:sample-ehr');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.verify(new crypto.X509Certificate(first.caCertPem).publicKey)).toBe(true);
  });

  it('re-issues the server certificate for a new host name, keeping the CA', async () => {
    const dir = tmpDir();
    const a = await ensureLocalPki(dir, []);
    const b = await ensureLocalPki(dir, ['siem.hospital.test']);
    expect(b.created).toEqual({ ca: false, server: true, sampleClient: false });
    expect(b.caCertPem).toBe(a.caCertPem);
    expect(new crypto.X509Certificate(b.serverCertPem).checkHost('siem.hospital.test')).toBe('siem.hospital.test');
  });

  it('renews leaf certificates that expire within 30 days, keeping the CA', async () => {
    const dir = tmpDir();
    const a = await ensureLocalPki(dir, []);
    const later = new Date(Date.now() + 340 * DAY);
    const b = await ensureLocalPki(dir, [], { now: later });
    expect(b.created).toEqual({ ca: false, server: true, sampleClient: true });
    expect(b.caCertPem).toBe(a.caCertPem);
    expect(b.serverNotAfter.getTime()).toBeGreaterThan(later.getTime() + 360 * DAY);
  });

  it('re-issues leaf certificates when the files are damaged or the key no longer matches', async () => {
    const dir = tmpDir();
    const a = await ensureLocalPki(dir, []);
    fs.writeFileSync(a.serverKeyPath, a.sampleClient.keyPem); // wrong key for server.pem
    fs.rmSync(a.sampleClient.certPath);
    const b = await ensureLocalPki(dir, []);
    expect(b.created).toEqual({ ca: false, server: true, sampleClient: true });
    expect(new crypto.X509Certificate(b.serverCertPem).checkPrivateKey(crypto.createPrivateKey(b.serverKeyPem))).toBe(true);
  });

  it('creates one CA when called concurrently on an empty data dir', async () => {
    const dir = tmpDir();
    const results = await Promise.all([ensureLocalPki(dir, []), ensureLocalPki(dir, []), ensureLocalPki(dir, ['x.test'])]);
    expect(new Set(results.map((r) => r.caCertPem)).size).toBe(1);
    expect(results.filter((r) => r.created.ca)).toHaveLength(1);
  });

  it('refuses invalid host names', async () => {
    await expect(ensureLocalPki(tmpDir(), ['bad host/name'])).rejects.toThrow(/not a valid host name/);
  });

  it('writes CLI-issued integration certificates under tls/clients with a 0600 key', async () => {
    const files = await issueIntegrationCertificateFiles(dataDir, 'billing-system', { validityDays: 90 });
    expect(files.certPath).toBe(path.join(dataDir, 'tls', 'clients', 'billing-system.pem'));
    expect(mode(files.keyPath)).toBe(0o600);
    const cert = new crypto.X509Certificate(fs.readFileSync(files.certPath));
    expect(cert.verify(new crypto.X509Certificate(first.caCertPem).publicKey)).toBe(true);
    expect(files.notAfter.getTime() - Date.now()).toBeLessThan(91 * DAY);
    expect(JSON.stringify(files)).not.toContain('PRIVATE KEY');
    await expect(issueClientCertificate(dataDir, 'Not Valid!')).rejects.toThrow(/integration id/);
  });
});

// ---------------------------------------------------------------------------------------------------

interface ServerSide {
  authorized: boolean;
  authorizationError?: string;
  peer: tls.PeerCertificate;
}

describe('TLS handshakes on loopback', () => {
  let pki: LocalPki;
  let server: tls.Server;
  let port: number;
  const waiting: Array<(s: ServerSide) => void> = [];

  beforeAll(async () => {
    pki = await ensureLocalPki(tmpDir(), []);
    server = tls.createServer(
      { key: pki.serverKeyPem, cert: pki.serverCertPem, ca: pki.caCertPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      (socket) => {
        const record: ServerSide = {
          authorized: socket.authorized,
          authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
          peer: socket.getPeerCertificate(),
        };
        waiting.shift()?.(record);
        socket.end();
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function handshake(opts: { cert?: string; key?: string; servername?: string; host?: string }) {
    const serverSide = new Promise<ServerSide>((resolve) => waiting.push(resolve));
    const clientAuthorized = await new Promise<boolean>((resolve, reject) => {
      const socket = tls.connect(
        { host: opts.host ?? '127.0.0.1', port, servername: opts.servername, ca: pki.caCertPem, cert: opts.cert, key: opts.key, rejectUnauthorized: true },
        () => {
          resolve(socket.authorized);
          socket.on('data', () => undefined);
          socket.on('end', () => socket.destroy());
        },
      );
      socket.on('error', reject);
    });
    return { clientAuthorized, server: await serverSide };
  }

  it('client verifies the server certificate against the CA (by name and by IP) and the server accepts the sample client', async () => {
    const byName = await handshake({ servername: 'localhost', cert: pki.sampleClient.certPem, key: pki.sampleClient.keyPem });
    expect(byName.clientAuthorized).toBe(true);
    expect(byName.server.authorized).toBe(true);
    expect(byName.server.peer.subject.CN).toBe('sample-ehr');
    expect(integrationFromCertificate(byName.server.peer)).toEqual({ ok: true, integration: 'sample-ehr' });
    const mapped = principalFromCertificate(byName.server.peer);
    expect(mapped.ok && mapped.principal).toMatchObject({ role: 'integration', integration: 'sample-ehr', via: 'mtls', scopes: ['events:write', 'context:write'] });

    const byIp = await handshake({ cert: pki.sampleClient.certPem, key: pki.sampleClient.keyPem });
    expect(byIp.clientAuthorized).toBe(true);
    expect(byIp.server.authorized).toBe(true);
  });

  it('a client without a certificate is not authorized', async () => {
    const r = await handshake({ servername: 'localhost' });
    expect(r.clientAuthorized).toBe(true);
    expect(r.server.authorized).toBe(false);
    expect(Object.keys(r.server.peer)).toHaveLength(0);
  });

  it('an expired client certificate from the right CA is not authorized', async () => {
    const expired = await issueClientCertificate(path.dirname(pki.tlsDir), 'sample-ehr', { expired: true });
    expect(expired.notAfter.getTime()).toBeLessThan(Date.now());
    const r = await handshake({ servername: 'localhost', cert: expired.certPem, key: expired.keyPem });
    expect(r.server.authorized).toBe(false);
    expect(r.server.authorizationError).toBe('CERT_HAS_EXPIRED');
  });

  it('a client certificate from an unknown CA is not authorized', async () => {
    const foreign = await createCertificateAuthority();
    const cert = await issueClientCertificate(path.dirname(pki.tlsDir), 'sample-ehr', { ca: foreign });
    const r = await handshake({ servername: 'localhost', cert: cert.certPem, key: cert.keyPem });
    expect(r.server.authorized).toBe(false);
    expect(r.server.authorizationError).toMatch(/ISSUER|SIGNATURE|UNABLE/);
  });

  it('the server certificate is not accepted as a client certificate', async () => {
    const r = await handshake({ servername: 'localhost', cert: pki.serverCertPem, key: pki.serverKeyPem });
    // Either OpenSSL refuses the purpose, or the identity mapping refuses the EKU.
    const mapped = integrationFromCertificate(r.server.peer);
    expect(r.server.authorized && mapped.ok).toBe(false);
  });

  it('a TLS 1.1 client is refused', async () => {
    await expect(
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.caCertPem, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve(s));
        s.on('error', reject);
      }),
    ).rejects.toThrow();
  });
});

describe('certificate identity mapping', () => {
  it('prefers the URI SAN, falls back to the CN, refuses ambiguity and non-client certificates', () => {
    const subject = { CN: 'other' } as unknown as tls.Certificate;
    expect(integrationFromCertificate({ subject, subjectaltname: 'URI:urn:audit-siem:integration:billing' })).toEqual({ ok: true, integration: 'billing' });
    expect(integrationFromCertificate({ subject, subjectaltname: undefined as unknown as string })).toEqual({ ok: true, integration: 'other' });
    expect(
      integrationFromCertificate({ subject, subjectaltname: 'URI:urn:audit-siem:integration:a, URI:urn:audit-siem:integration:b' }).ok,
    ).toBe(false);
    expect(integrationFromCertificate({ subject: { CN: 'Not An Id' } as unknown as tls.Certificate, subjectaltname: '' }).ok).toBe(false);
    expect(integrationFromCertificate({ subject, subjectaltname: '', ext_key_usage: ['1.3.6.1.5.5.7.3.1'] }).ok).toBe(false);
  });
});
