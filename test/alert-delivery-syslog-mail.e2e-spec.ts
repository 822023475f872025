/**
 * Alert delivery to real receivers nobody here wrote, on loopback: the Debian rsyslogd (imtcp with
 * the GnuTLS driver, x509/certvalid: a client certificate is required) receiving RFC 5425
 * octet-counted RFC 5424 messages with a CEF payload, and the npm `smtp-server` receiving mail after
 * STARTTLS (it refuses MAIL before TLS). Tokens only, stable delivery ids. A syslog destination with
 * `format: json` reaches the same rsyslogd, which parses the payload as JSON (mmjsonparse). A syslog destination
 * configured without the client certificate is refused by rsyslogd: its deliveries fail and are
 * retried, the status shows the failure, and nothing counts them delivered. The rsyslog part skips
 * with a message when rsyslogd or its GnuTLS driver is absent (CI installs rsyslog rsyslog-gnutls).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { ensureLocalPki, issueIntegrationCertificateFiles } from '@app/security';
import { ApiClient } from '../apps/auditctl/src/api-client';
import { allAlerts, waitForDetection } from './support/detection';
import { accessEvent } from './support/events';
import { startTestApp, TestApp, tempDataDir } from './support/test-app';
import { waitUntil } from './support/webhook-receiver';

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => fs.existsSync(p)) ?? (spawnSync('sh', ['-c', 'command -v rsyslogd'], { encoding: 'utf8' }).stdout.trim() || undefined);
const GTLS = ['/usr/lib', '/usr/lib64'].some((root) => fs.existsSync(root) && [path.join(root, 'rsyslog'), ...fs.readdirSync(root).map((d) => path.join(root, d, 'rsyslog'))].some((d) => fs.existsSync(path.join(d, 'lmnsd_gtls.so'))));
const RSYSLOG_OK = RSYSLOGD !== undefined && GTLS;
if (!RSYSLOG_OK) console.warn('SKIPPED rsyslog alert delivery test: rsyslogd with the GnuTLS driver not found (Debian: apt-get install rsyslog rsyslog-gnutls).');

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Mail {
  from: string;
  to: string[];
  secure: boolean;
  raw: string;
}

describe('alert delivery to rsyslogd (RFC 5425, client certificate) and to an SMTP server (STARTTLS)', () => {
  let t: TestApp;
  let rsyslog: ChildProcess | undefined;
  const rsyslogOutput: string[] = [];
  let smtp: SMTPServer;
  const mails: Mail[] = [];
  let outFile: string;
  /** What rsyslogd wrote for the `format: json` destination (APP-NAME hipaa-audit-json), after parsing the payload as JSON. */
  let jsonFile: string;
  let integration: ApiClient;
  let analyst: ApiClient;
  let admin: ApiClient;

  beforeAll(async () => {
    const work = tempDataDir('alert-siem-');
    const pki = await ensureLocalPki(work, ['127.0.0.1', 'localhost']);
    const client = await issueIntegrationCertificateFiles(work, 'audit-service');

    // SMTP: the real server implementation from npm, STARTTLS offered, MAIL refused before TLS.
    smtp = new SMTPServer({
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      authOptional: true,
      logger: false,
      onMailFrom(_address, session, cb) {
        cb(session.secure ? undefined : Object.assign(new Error('Must issue a STARTTLS command first'), { responseCode: 530 }));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), secure: session.secure, raw: Buffer.concat(chunks).toString('utf8') });
          cb();
        });
      },
    });
    const smtpPort = await freePort();
    await new Promise<void>((r) => smtp.listen(smtpPort, '127.0.0.1', () => r()));

    const syslogPort = await freePort();
    outFile = path.join(work, 'received.log');
    jsonFile = path.join(work, 'received-json.log');
    if (RSYSLOG_OK) {
      fs.mkdirSync(path.join(work, 'rs'));
      const conf = path.join(work, 'rsyslog.conf');
      fs.writeFileSync(
        conf,
        `global(workDirectory="${path.join(work, 'rs')}" maxMessageSize="64k"
  DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="${pki.caCertPath}"
  DefaultNetstreamDriverCertFile="${pki.serverCertPath}" DefaultNetstreamDriverKeyFile="${pki.serverKeyPath}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")
input(type="imtcp" port="${syslogPort}" address="127.0.0.1")
template(name="parsed" type="string" string="%pri%|%app-name%|%msgid%|%structured-data%|%msg%\\n")
module(load="mmjsonparse")
template(name="json" type="string" string="%pri%|%app-name%|%msgid%|%$!kind%|%$!deliveryId%|%$!destination%|%$!count%|%$!alerts%\\n")
if $app-name == "hipaa-audit-json" then {
  action(type="mmjsonparse" cookie="")
  if $parsesuccess == "OK" then action(type="omfile" file="${jsonFile}" template="json")
  else action(type="omfile" file="${jsonFile}.unparsed")
  stop
}
action(type="omfile" file="${outFile}" template="parsed")
`,
      );
      rsyslog = spawn(RSYSLOGD!, ['-n', '-f', conf, '-i', path.join(work, 'rs', 'pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
      rsyslog.stdout!.on('data', (d: Buffer) => rsyslogOutput.push(d.toString()));
      rsyslog.stderr!.on('data', (d: Buffer) => rsyslogOutput.push(d.toString()));
      await waitUntil('rsyslogd listening', () => new Promise<boolean>((resolve) => {
        const s = net.connect(syslogPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
      }), 15_000);
    }

    const file = path.join(work, 'destinations.yaml');
    const destinations = [
      '  - name: soc-mail',
      '    type: email',
      '    host: 127.0.0.1',
      `    port: ${smtpPort}`,
      '    from: audit@hospital.example',
      '    to: [privacy-officer@hospital.example, soc@hospital.example]',
      `    caFile: ${pki.caCertPath}`,
      '    retry: { initialMs: 100, maxMs: 500 }',
    ];
    if (RSYSLOG_OK) {
      destinations.push(
        '  - name: siem',
        '    type: syslog',
        '    host: 127.0.0.1',
        `    port: ${syslogPort}`,
        '    format: cef',
        `    caFile: ${pki.caCertPath}`,
        `    certFile: ${client.certPath}`,
        `    keyFile: ${client.keyPath}`,
        '    retry: { initialMs: 100, maxMs: 500 }',
        '  - name: siem-json',
        '    type: syslog',
        '    host: 127.0.0.1',
        `    port: ${syslogPort}`,
        '    format: json',
        '    appName: hipaa-audit-json',
        `    caFile: ${pki.caCertPath}`,
        `    certFile: ${client.certPath}`,
        `    keyFile: ${client.keyPath}`,
        '    retry: { initialMs: 100, maxMs: 500 }',
        // The same collector without a client certificate: rsyslogd must refuse it.
        '  - name: siem-nocert',
        '    type: syslog',
        '    host: 127.0.0.1',
        `    port: ${syslogPort}`,
        '    format: cef',
        `    caFile: ${pki.caCertPath}`,
        '    retry: { initialMs: 100, maxMs: 400 }',
      );
    }
    fs.writeFileSync(file, ['destinations:', ...destinations].join('\n'));
    t = await startTestApp({ alertDestinationsFile: file });
    integration = await t.client('integration');
    analyst = await t.client('soc_analyst');
    admin = await t.client('admin');
    const at = new Date(Date.now() - 30_000).toISOString();
    const events = ['MRN-SIEM-1', 'MRN-SIEM-2'].map((p) => accessEvent({ occurredAt: at, action: 'break_glass', actor: { id: 'dr-siem', type: 'user', role: 'physician', ip: '10.7.7.7' }, patient: { id: p } }));
    expect((await integration.request('POST', '/v1/events', { events })).status).toBe(202);
    await waitForDetection(analyst);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    rsyslog?.kill('SIGTERM');
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  (RSYSLOG_OK ? it : it.skip)('rsyslogd receives one RFC 5424 message per alert with a CEF payload, over TLS with a client certificate', async () => {
    const ids = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id);
    expect(ids).toHaveLength(2);
    const lines = () => (fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8').split('\n').filter(Boolean) : []);
    try {
      await waitUntil('two syslog messages', () => lines().length >= 2, 20_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nrsyslogd: ${rsyslogOutput.join('')}\nstatus: ${(await admin.request('GET', '/v1/alert-destinations')).body}`);
    }
    const got = lines();
    for (const id of ids) {
      const line = got.find((l) => l.includes(`externalId=${id}`));
      expect(line).toBeDefined();
      // rsyslog parsed it as RFC 5424: PRI authpriv.err (10*8+3), APP-NAME, MSGID and structured data.
      const [pri, app, msgid, sd, msg] = line!.split('|');
      expect([pri, app, msgid]).toEqual(['83', 'hipaa-audit', 'alert']);
      expect(sd).toMatch(new RegExp(`^\\[audit@32473 deliveryId="[0-9a-f-]{36}" alertId="${id}" rule="break-glass-access" severity="high" kind="alert"\\]$`));
      expect(msg.trim()).toMatch(/^CEF:0$/);
      expect(line).toMatch(/\|break-glass-access\|Break-glass \(emergency override\) access\|8\|rt=\d+ externalId=/);
      expect(line).toMatch(/ cs3Label=reasons cs3=break-glass /);
    }
    expect(got.join('\n')).not.toMatch(/MRN-SIEM|dr-siem|10\.7\.7\.7/);
    const siem = JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations.find((d: { name: string }) => d.name === 'siem');
    expect(siem).toMatchObject({ queueDepth: 0, delivered: 2, failures: 0 });
  });

  (RSYSLOG_OK ? it : it.skip)('rsyslogd receives format: json as one RFC 5424 message per alert whose payload it parses as JSON, tokens only', async () => {
    const ids = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id);
    const lines = () => (fs.existsSync(jsonFile) ? fs.readFileSync(jsonFile, 'utf8').split('\n').filter(Boolean) : []);
    try {
      await waitUntil('two JSON syslog messages', () => lines().length >= 2, 20_000);
    } catch (err) {
      const unparsed = fs.existsSync(`${jsonFile}.unparsed`) ? fs.readFileSync(`${jsonFile}.unparsed`, 'utf8') : '';
      throw new Error(`${(err as Error).message}\nnot parsed as JSON by rsyslogd: ${unparsed}\nrsyslogd: ${rsyslogOutput.join('')}\nstatus: ${(await admin.request('GET', '/v1/alert-destinations')).body}`);
    }
    const got = lines();
    expect(got).toHaveLength(2);
    expect(fs.existsSync(`${jsonFile}.unparsed`)).toBe(false);
    const seen: string[] = [];
    for (const line of got) {
      // Fields as rsyslogd's mmjsonparse extracted them from MSG (only parsed messages reach this file), one alert per message.
      const [pri, app, msgid, kind, deliveryId, destination, count, alertsJson] = line.split('|');
      expect([pri, app, msgid, kind, destination, count]).toEqual(['83', 'hipaa-audit-json', 'alert', 'alert', 'siem-json', '1']);
      expect(deliveryId).toMatch(/^[0-9a-f-]{36}$/);
      const alerts = JSON.parse(alertsJson) as { id: string; ruleId: string; severity: string; reasons: string[]; actor: string; patient: string; link: string }[];
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toMatchObject({ ruleId: 'break-glass-access', severity: 'high', reasons: ['break-glass'] });
      expect(alerts[0].link).toMatch(new RegExp(`/console/alerts/${alerts[0].id}$`));
      expect(alerts[0].patient).toMatch(/\S/);
      seen.push(alerts[0].id);
    }
    expect(seen.sort()).toEqual([...ids].sort());
    expect(got.join('\n')).not.toMatch(/MRN-SIEM|dr-siem|10\.7\.7\.7/);
    const json = JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations.find((d: { name: string }) => d.name === 'siem-json');
    expect(json).toMatchObject({ type: 'syslog', queueDepth: 0, delivered: 2, failures: 0 });
  });

  (RSYSLOG_OK ? it : it.skip)('a destination without the client certificate is refused by rsyslogd: retried, shown failing, never counted delivered', async () => {
    const status = async () => JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations.find((d: { name: string }) => d.name === 'siem-nocert');
    await waitUntil('three failed attempts of siem-nocert', async () => (await status()).failures >= 3, 20_000);
    const nocert = await status();
    expect(nocert).toMatchObject({ type: 'syslog', delivered: 0, queueDepth: 2, deadLetters: 0 });
    expect(nocert.consecutiveFailures).toBeGreaterThanOrEqual(1);
    expect(nocert.lastError).toBe('refused by collector');
    expect(nocert.lastFailureAt).not.toBeNull();
    expect(nocert.lastSuccessAt).toBeNull();
    // rsyslogd wrote only the two messages of the destination with the certificate.
    const lines = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8').split('\n').filter(Boolean) : [];
    const siemIds = new Set(lines.map((l) => /deliveryId="([0-9a-f-]{36})"/.exec(l)?.[1]));
    expect(lines).toHaveLength(2);
    expect(siemIds.size).toBe(2);
    // The log: retries for siem-nocert, never a delivery.
    const facts = t.logLines.filter((l) => l.includes('"destination":"siem-nocert"')).map((l) => JSON.parse(l) as { msg?: string; outcome?: string; error?: string });
    expect(facts.filter((f) => f.msg === 'alert delivery failed' && f.outcome === 'retry' && f.error === 'refused by collector').length).toBeGreaterThanOrEqual(3);
    expect(facts.filter((f) => f.msg === 'alert delivered')).toEqual([]);
  });

  it('the SMTP server receives one mail per alert after STARTTLS, tokens only, with the delivery id', async () => {
    const ids = (await allAlerts(analyst, 'rule=break-glass-access')).map((a) => a.id);
    await waitUntil('two mails', () => mails.length >= 2, 20_000);
    expect(mails).toHaveLength(2);
    for (const m of mails) {
      expect(m.secure).toBe(true);
      expect(m.from).toBe('audit@hospital.example');
      expect(m.to).toEqual(['privacy-officer@hospital.example', 'soc@hospital.example']);
      expect(m.raw).toMatch(/^Subject: \[HIGH\] Break-glass \(emergency override\) access\r?$/m);
      expect(m.raw).toMatch(/^X-Audit-Delivery-Id: [0-9a-f-]{36}\r?$/im);
      expect(m.raw).not.toMatch(/MRN-SIEM|dr-siem|10\.7\.7\.7/);
    }
    // Quoted-printable soft line breaks removed, the body names each alert's console link.
    expect(ids.every((id) => mails.some((m) => m.raw.replace(/=\r?\n/g, '').includes(`/console/alerts/${id}`)))).toBe(true);
    const mail = JSON.parse((await admin.request('GET', '/v1/alert-destinations')).body).destinations.find((d: { name: string }) => d.name === 'soc-mail');
    expect(mail).toMatchObject({ type: 'email', queueDepth: 0, delivered: 2 });
  });
});
