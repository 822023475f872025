/**
 * IHE ATNA end to end with real syslog clients that no one here wrote: rsyslog (Debian packages
 * rsyslog + rsyslog-gnutls: imfile input, omfwd over TLS with RFC 5425 octet-counted framing and a
 * client certificate) and `openssl s_client` sending framed messages over mutual TLS. The events
 * arrive chained and queryable; a client without a valid certificate is refused; a billion-laughs
 * document and a truncated frame do not hurt the listener, which keeps serving the next connection.
 * Each part skips with a message when its binary is absent (CI installs: rsyslog rsyslog-gnutls).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCertificateAuthority, issueClientCertificate } from '@app/security';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { AtnaListener } from '../apps/api/src/atna/atna-listener.service';
import { BILLION_LAUGHS, atnaFixture, atnaOverrides, frame, metricValue, numberedAuditXml, syslogMessage, waitFor } from './support/atna';
import { TestApp, startTestApp, tempDataDir } from './support/test-app';

function findBinary(name: string, extraDirs: string[]): string | undefined {
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  return extraDirs.map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
}

/** rsyslog's GnuTLS network stream driver (package rsyslog-gnutls). */
function hasRsyslogGtls(): boolean {
  const roots = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];
  for (const root of roots) {
    if (!fs.existsSync(root)) continue;
    const candidates = [path.join(root, 'rsyslog'), ...fs.readdirSync(root).map((d) => path.join(root, d, 'rsyslog'))];
    if (candidates.some((dir) => fs.existsSync(path.join(dir, 'lmnsd_gtls.so')))) return true;
  }
  return false;
}

const RSYSLOGD = findBinary('rsyslogd', ['/usr/sbin', '/sbin', '/usr/local/sbin']);
const RSYSLOG_OK = RSYSLOGD !== undefined && hasRsyslogGtls();
const OPENSSL = findBinary('openssl', ['/usr/bin', '/usr/local/bin']);

if (!RSYSLOG_OK) {
  console.warn('SKIPPED rsyslog ATNA tests: rsyslogd with the GnuTLS driver not found (Debian: apt-get install rsyslog rsyslog-gnutls).');
}
if (!OPENSSL) console.warn('SKIPPED openssl s_client ATNA tests: openssl not found (Debian: apt-get install openssl).');

interface EventView {
  event: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  receivedAt: string;
  receipt: { id: string; chain: string; seq: number; hash: string };
}

/** One line per message (imfile reads lines): the XML with the whitespace between tags removed. */
function oneLine(xml: string): string {
  return xml.replace(/\r?\n/g, ' ').replace(/>\s+</g, '><').trim();
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('IHE ATNA with real syslog clients (rsyslog, openssl s_client)', () => {
  let t: TestApp;
  let port: number;
  let reader: ApiClient;
  let work: string;
  const ca = () => path.join(t.dataDir, 'tls', 'ca.pem');
  const sampleCert = () => path.join(t.dataDir, 'tls', 'clients', 'sample-ehr.pem');
  const sampleKey = () => path.join(t.dataDir, 'tls', 'clients', 'sample-ehr-key.pem');
  const metrics = async () => (await reader.request('GET', '/metrics')).body;
  const byPatient = async (patient: string): Promise<EventView[]> =>
    JSON.parse((await reader.request('GET', `/v1/events?patient=${encodeURIComponent(patient)}`)).body).events as EventView[];

  beforeAll(async () => {
    if (!RSYSLOG_OK && !OPENSSL) return;
    t = await startTestApp(atnaOverrides());
    port = t.app.get(AtnaListener).address()!.port;
    reader = await t.client('compliance_officer'); // identified view: real patient ids
    work = tempDataDir('atna-clients-');
  });
  afterAll(async () => {
    if (t) await t.close();
  });

  /** Runs rsyslogd in the foreground with imfile -> omfwd (gtls, octet-counted) to our listener. */
  async function withRsyslog(lines: string[], cert: { certFile: string; keyFile: string }, body: () => Promise<void>): Promise<void> {
    const dir = fs.mkdtempSync(path.join(work, 'rsyslog-'));
    fs.mkdirSync(path.join(dir, 'work'));
    const input = path.join(dir, 'input.log');
    fs.writeFileSync(input, lines.map((l) => l + '\n').join(''));
    const conf = path.join(dir, 'rsyslog.conf');
    fs.writeFileSync(
      conf,
      `global(
  workDirectory="${path.join(dir, 'work')}"
  maxMessageSize="64k"
  DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="${ca()}"
  DefaultNetstreamDriverCertFile="${cert.certFile}"
  DefaultNetstreamDriverKeyFile="${cert.keyFile}"
)
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="${input}" Tag="EHR_APP" Facility="authpriv" Severity="notice" freshStartTail="off")
action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" TCP_Framing="octet-counted"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
       template="RSYSLOG_SyslogProtocol23Format")
`,
    );
    const child = spawn(RSYSLOGD!, ['-n', '-f', conf, '-i', path.join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    try {
      await body();
    } catch (err) {
      throw new Error(`${(err as Error).message}\nrsyslogd output:\n${output.join('')}`);
    } finally {
      child.kill('SIGTERM');
      await waitExit(child, 10_000);
    }
  }

  /** `openssl s_client` with the given certificate (or none), stdin = data; resolves on exit. */
  function sClient(data: Buffer, cert?: { certFile: string; keyFile: string }, extraArgs: string[] = []): Promise<{ code: number | null; output: string }> {
    const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', ca(), '-verify_return_error', ...extraArgs];
    if (cert) args.push('-cert', cert.certFile, '-key', cert.keyFile);
    args.push('-quiet', '-no_ign_eof'); // -quiet implies -ign_eof: -no_ign_eof after it ends the session at EOF
    const child = spawn(OPENSSL!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stdin!.on('error', () => undefined); // refused early: stdin may be closed under us
    child.stdin!.end(data);
    return waitExit(child, 20_000).then((code) => ({ code, output: output.join('') }));
  }

  (RSYSLOG_OK ? it : it.skip)('rsyslog (imfile -> omfwd gtls, octet-counted, client certificate): events arrive chained and queryable', async () => {
    const lines = [1, 2, 3, 4, 5].map((n) => oneLine(numberedAuditXml(n, 'RSYSLOG')));
    await withRsyslog(lines, { certFile: sampleCert(), keyFile: sampleKey() }, async () => {
      const views = await waitFor(
        async () => {
          const found: EventView[] = [];
          for (let n = 1; n <= 5; n++) found.push(...(await byPatient(`PAT-RSYSLOG-${n}^^^&2.16.840.1.113883.3.72.5.9.1&ISO`)));
          return found.length === 5 ? found : undefined;
        },
        30_000,
        250,
      );
      for (const v of views) {
        expect(v.event).toMatchObject({
          category: 'data_access',
          action: 'read',
          outcome: 'success',
          occurredAt: '2024-03-14T09:26:53.120+01:00',
          actor: { id: 'dr.house@clinic.example.org', type: 'user', ip: '10.1.2.3' },
          purpose: 'TREAT',
          source: { system: 'ehr01.clinic.example.org', integration: 'sample-ehr' },
          details: { dicomEventId: '110110', syslogAppName: 'EHR_APP' },
        });
        expect(v.receipt.chain).toBe('data_access');
      }
      // In file order and contiguous in the chain.
      const seqs = views.map((v) => v.receipt.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1] + 1);
      const verify = JSON.parse((await reader.request('GET', '/v1/integrity/verify')).body);
      expect(verify).toMatchObject({ ok: true, break: null });
    });
  });

  (RSYSLOG_OK ? it : it.skip)('rsyslog with a certificate from another CA is refused; nothing is stored', async () => {
    const foreignCa = await createCertificateAuthority();
    const foreign = await issueClientCertificate(t.dataDir, 'sample-ehr', { ca: foreignCa });
    const certFile = path.join(work, 'foreign.pem');
    const keyFile = path.join(work, 'foreign-key.pem');
    fs.writeFileSync(certFile, foreign.certPem);
    fs.writeFileSync(keyFile, foreign.keyPem, { mode: 0o600 });
    const before = metricValue(await metrics(), 'audit_atna_connections_total', { result: 'tls_refused' });
    await withRsyslog([oneLine(numberedAuditXml(1, 'RSYSLOG-FOREIGN'))], { certFile, keyFile }, async () => {
      await waitFor(async () => (metricValue(await metrics(), 'audit_atna_connections_total', { result: 'tls_refused' }) > before ? true : undefined), 30_000, 250);
    });
    expect(await byPatient('PAT-RSYSLOG-FOREIGN-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO')).toHaveLength(0);
  });

  (OPENSSL ? it : it.skip)('openssl s_client: framed messages over mutual TLS arrive; without a certificate the client is refused', async () => {
    const cert = { certFile: sampleCert(), keyFile: sampleKey() };
    const messages = [1, 2, 3].map((n) => syslogMessage(numberedAuditXml(n, 'SCLIENT')));
    const sent = await sClient(Buffer.concat(messages.map(frame)), cert);
    expect(sent.code).toBe(0);
    const views = await waitFor(async () => {
      const found: EventView[] = [];
      for (let n = 1; n <= 3; n++) found.push(...(await byPatient(`PAT-SCLIENT-${n}^^^&2.16.840.1.113883.3.72.5.9.1&ISO`)));
      return found.length === 3 ? found : undefined;
    });
    for (const v of views) expect(v.event.source).toEqual({ system: 'ehr01.clinic.example.org', integration: 'sample-ehr' });
    expect(new Set(views.map((v) => v.receivedAt)).size).toBe(1); // arrived together: one durable batch

    const refusedCount = async () => metricValue(await metrics(), 'audit_atna_connections_total', { result: 'tls_refused' });
    const before = await refusedCount();
    // TLS 1.3: the client finishes its side (and may write and leave) before the server's
    // "certificate required" alert; the server refuses and stores nothing.
    await sClient(frame(syslogMessage(numberedAuditXml(1, 'SCLIENT-NOCERT'))));
    await waitFor(async () => ((await refusedCount()) === before + 1 ? true : undefined));
    // TLS 1.2: the handshake itself fails, and the client says so.
    const refused12 = await sClient(frame(syslogMessage(numberedAuditXml(2, 'SCLIENT-NOCERT'))), undefined, ['-tls1_2']);
    expect(refused12.code).not.toBe(0);
    expect(refused12.output).toMatch(/alert|handshake failure/i);
    await waitFor(async () => ((await refusedCount()) === before + 2 ? true : undefined));
    for (const n of [1, 2]) expect(await byPatient(`PAT-SCLIENT-NOCERT-${n}^^^&2.16.840.1.113883.3.72.5.9.1&ISO`)).toHaveLength(0);
  });

  (OPENSSL ? it : it.skip)('openssl s_client: a billion-laughs document and a truncated frame do not hurt the listener', async () => {
    const cert = { certFile: sampleCert(), keyFile: sampleKey() };
    const before = await metrics();
    const hostile = Buffer.concat([
      frame(syslogMessage(BILLION_LAUGHS)),
      frame(syslogMessage(numberedAuditXml(1, 'AFTER-LAUGHS'))),
      Buffer.from('2048 <85>1 2024-03-14T09:26:53Z ehr01 EHR_APP - IHE+RFC-3881 - <AuditMessage>'), // truncated frame
    ]);
    const started = Date.now();
    await sClient(hostile, cert);
    expect(Date.now() - started).toBeLessThan(10_000);
    await waitFor(async () => ((await byPatient('PAT-AFTER-LAUGHS-1^^^&2.16.840.1.113883.3.72.5.9.1&ISO')).length === 1 ? true : undefined));
    const after = await waitFor(async () => {
      const text = await metrics();
      return metricValue(text, 'audit_atna_errors_total', { code: 'truncated' }) > metricValue(before, 'audit_atna_errors_total', { code: 'truncated' }) ? text : undefined;
    });
    expect(metricValue(after, 'audit_atna_errors_total', { stage: 'xml', code: 'xml-dtd-forbidden' }) - metricValue(before, 'audit_atna_errors_total', { stage: 'xml', code: 'xml-dtd-forbidden' })).toBe(1);

    // The listener keeps serving: the next connection is stored as usual.
    const next = await sClient(frame(syslogMessage(atnaFixture('user-login-failure'))), cert);
    expect(next.code).toBe(0);
    const fresh = await sClient(frame(syslogMessage(numberedAuditXml(2, 'AFTER-LAUGHS'))), cert);
    expect(fresh.code).toBe(0);
    await waitFor(async () => ((await byPatient('PAT-AFTER-LAUGHS-2^^^&2.16.840.1.113883.3.72.5.9.1&ISO')).length === 1 ? true : undefined));
  });
});
