/**
 * Test helpers for the IHE ATNA receiver: RFC 5424 messages carrying DICOM audit XML, RFC 5425
 * octet-counted frames, a mutual-TLS client (node:tls) with a chosen certificate, ATNA config
 * overrides, and reading Prometheus counters from /metrics.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { AppConfig } from '@app/core';

export const ATNA_FIXTURES_DIR = path.resolve(__dirname, '..', '..', 'libs', 'standards', 'src', 'atna', 'fixtures');
export const ATNA_FIXTURES = ['patient-record-read', 'user-login', 'user-login-failure', 'dicom-instances-accessed', 'emergency-override', 'rfc3881-pix-query', 'lenient-instances-transferred', 'dcm4chee-patient-record-update'];
/** Real emitters' shapes (issue 21): dcm4chee-arc Query by QIDO-RS, C-FIND and PDQ; IPF as PDQm Supplier; OpenHIM console login. */
export const ATNA_EMITTER_FIXTURES = ['dcm4chee-qido-query', 'dcm4chee-cfind-query', 'dcm4chee-pdq-query', 'ipf-pdqm-query', 'openhim-user-login'];

export function atnaFixture(name: string): string {
  return fs.readFileSync(path.join(ATNA_FIXTURES_DIR, `${name}.xml`), 'utf8');
}

/** Config overrides enabling the ATNA listener on a free port. */
export function atnaOverrides(extra: Partial<NonNullable<AppConfig['atna']>> = {}): Partial<AppConfig> {
  return { atna: { enabled: true, port: 0, host: '127.0.0.1', maxFrameBytes: 64 * 1024, maxConnections: 64, idleTimeoutMs: 60_000, ...extra } };
}

/** An RFC 5424 message as IHE ATNA senders write it: facility authpriv (10), notice; MSGID IHE+RFC-3881. */
export function syslogMessage(xml: string | Buffer, options: { hostname?: string; appName?: string; bom?: boolean } = {}): Buffer {
  const header = `<85>1 2024-03-14T09:26:53.120+01:00 ${options.hostname ?? 'ehr01.clinic.example.org'} ${options.appName ?? 'EHR_APP'} 4242 IHE+RFC-3881 - `;
  return Buffer.concat([Buffer.from(header), options.bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.isBuffer(xml) ? xml : Buffer.from(xml)]);
}

/** RFC 5425 octet-counting: `MSG-LEN SP SYSLOG-MSG`. */
export function frame(message: Buffer | string): Buffer {
  const body = Buffer.isBuffer(message) ? message : Buffer.from(message);
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

/** The patient-record-read fixture with its patient id replaced: a distinct message (and event id) per n. */
export function numberedAuditXml(n: number, tag = 'BULK'): string {
  return atnaFixture('patient-record-read').replace('PAT-7731', `PAT-${tag}-${n}`);
}

export const BILLION_LAUGHS = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<AuditMessage><EventIdentification EventActionCode="R" EventDateTime="2024-03-14T09:26:53Z" EventOutcomeIndicator="0"><EventID csd-code="110110" codeSystemName="DCM" originalText="&lol9;"/></EventIdentification></AuditMessage>`;

export interface TlsIdentity {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca: string | Buffer;
}

/** The sample integration's certificate and the local CA of a data dir. */
export function sampleIdentity(dataDir: string): Required<TlsIdentity> {
  const tlsDir = path.join(dataDir, 'tls');
  return {
    cert: fs.readFileSync(path.join(tlsDir, 'clients', 'sample-ehr.pem')),
    key: fs.readFileSync(path.join(tlsDir, 'clients', 'sample-ehr-key.pem')),
    ca: fs.readFileSync(path.join(tlsDir, 'ca.pem')),
  };
}

export interface SendOutcome {
  /** The handshake completed on the client side (TLS 1.3 reports this before the server checks the certificate). */
  secureConnected: boolean;
  /** An error the client saw (alert, reset), as its code. */
  error?: string;
  /** The server closed the connection before the client ended it. */
  closedByServer: boolean;
}

/**
 * Connects with mutual TLS, writes `data` (in one write, or in chunks), ends the connection (unless
 * keepOpen), and resolves once the socket is closed.
 */
export function tlsSend(port: number, identity: TlsIdentity, data: Buffer | Buffer[], options: { keepOpenMs?: number; endAfterWrite?: boolean } = {}): Promise<SendOutcome> {
  return new Promise((resolve) => {
    const outcome: SendOutcome = { secureConnected: false, closedByServer: false };
    let ended = false;
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: identity.ca, cert: identity.cert, key: identity.key, minVersion: 'TLSv1.2' }, () => {
      outcome.secureConnected = true;
      const chunks = Array.isArray(data) ? data : [data];
      for (const c of chunks) socket.write(c);
      const finish = () => {
        ended = true;
        socket.end();
      };
      if (options.endAfterWrite === false) return;
      if (options.keepOpenMs) setTimeout(finish, options.keepOpenMs);
      else finish();
    });
    socket.on('data', () => undefined);
    socket.on('end', () => {
      if (!ended) outcome.closedByServer = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      outcome.error = err.code ?? err.message;
    });
    socket.on('close', () => resolve(outcome));
    socket.setTimeout(20_000, () => socket.destroy(new Error('client timeout')));
  });
}

/** Sum of a Prometheus counter's samples whose labels include the given ones. */
export function metricValue(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = /^([^{\s]+)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (m[3] ?? '').match(/[a-zA-Z_]+="[^"]*"/g) ?? []) {
      const eq = pair.indexOf('=');
      found[pair.slice(0, eq)] = pair.slice(eq + 2, -1);
    }
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
