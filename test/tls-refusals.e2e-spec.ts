/**
 * Connections refused during the TLS handshake (here: plain HTTP sent to the HTTPS port) are
 * recorded in the access log as `denied` with a `tls_…` reason, folded per source and minute like
 * other refusals; a client that connects and goes away without a handshake is not recorded.
 */
import * as net from 'node:net';
import { TestApp, startTestApp } from './support/test-app';

interface Entry {
  action: string;
  outcome: string;
  ip?: string;
  route?: string;
  reason?: string;
  denial?: { kind: string; count: number };
}

function portOf(t: TestApp): number {
  return Number(new URL(t.baseUrl).port);
}

/** Sends bytes on a raw TCP connection and resolves when the server closes it. */
function rawExchange(port: number, bytes: string | null): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      if (bytes === null) socket.end();
      else socket.write(bytes);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
}

describe('TLS handshake refusals in the access log', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ insecureHttp: false });
  });

  afterAll(async () => {
    await t.close();
  });

  async function tlsDenials(): Promise<Entry[]> {
    const res = await (await t.client('auditor')).request('GET', '/v1/access-log?outcome=denied&limit=1000');
    expect(res.status).toBe(200);
    return (JSON.parse(res.body) as { entries: Entry[] }).entries.filter((e) => e.reason?.startsWith('tls_'));
  }

  it('records plain HTTP on the TLS port once per source and minute, and not a bare connect', async () => {
    const port = portOf(t);
    await rawExchange(port, null); // connect and leave: not a refusal
    for (let i = 0; i < 3; i++) await rawExchange(port, 'GET /v1/events?patient=MRN-TLS-4411 HTTP/1.1\r\nHost: x\r\n\r\n');
    let found: Entry[] = [];
    const deadline = Date.now() + 10_000;
    while (found.length === 0 && Date.now() < deadline) {
      found = await tlsDenials();
      if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toHaveLength(1); // the first of the minute; the other two are counted in a follow-up
    const [entry] = found;
    expect(entry).toMatchObject({ action: 'access.denied', outcome: 'denied', route: 'TLS handshake', reason: 'tls_http_request', denial: { kind: 'tls-handshake-failed', count: 1 } });
    expect(entry.ip).toContain('127.0.0.1');
    expect(JSON.stringify(entry)).not.toContain('MRN-TLS-4411');
  });
});
