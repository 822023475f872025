/**
 * A real HTTPS webhook receiver on loopback for the alert delivery tests: TLS with a certificate
 * from its own CA, checks `x-audit-signature` the way the docs tell receivers to (HMAC-SHA256 of
 * "t.body", constant-time compare, 5-minute tolerance), records every request, and can be told to
 * answer 500, hang (timeout) or close the connection. Without a secret it stands in for a service
 * that does not check our signature (Slack, Teams, PagerDuty): `check` then says what is wrong with
 * a body, and a body it objects to is answered 400 as those services answer an invalid payload.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { ensureLocalPki } from '@app/security';

export type ReceiverMode = 'ok' | '500' | 'hang' | 'close';

export interface ReceivedDelivery {
  at: number;
  /** The request path (one receiver can stand for several services, one path each). */
  path: string;
  /** What `check` found wrong with the body (empty: nothing). */
  problems: string[];
  /** The x-audit-signature header as received. */
  signature?: string;
  deliveryId: string;
  event: string;
  signatureValid: boolean;
  /** Answered 2xx (accepted). */
  accepted: boolean;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  raw: string;
}

/** The receiver-side check of docs/alert-delivery.md. */
export function verifySignature(secret: string, header: string | undefined, raw: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  if (Math.abs(nowSeconds - Number(m[1])) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2], 'hex'));
}

export interface WebhookReceiver {
  url: string;
  port: number;
  caFile: string;
  received: ReceivedDelivery[];
  mode: ReceiverMode;
  close(): Promise<void>;
}

/** Names what is wrong with a body received on `path` (empty: a valid body). */
export type BodyCheck = (path: string, body: any) => string[]; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `secret` null: signatures are not required (the receiver stands in for Slack, Teams, PagerDuty). */
export async function startWebhookReceiver(dir: string, secret: string | null, port = 0, check?: BodyCheck): Promise<WebhookReceiver> {
  const pki = await ensureLocalPki(dir, ['127.0.0.1', 'localhost']);
  const received: ReceivedDelivery[] = [];
  const hanging = new Set<import('node:net').Socket>();
  const receiver = { mode: 'ok' as ReceiverMode };
  const server = https.createServer({ key: pki.serverKeyPem, cert: pki.serverCertPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const mode = receiver.mode;
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        /* recorded as null */
      }
      const signatureValid = secret === null || verifySignature(secret, req.headers['x-audit-signature'] as string | undefined, raw);
      const reqPath = new URL(req.url ?? '/', 'https://receiver').pathname;
      const problems = body === null ? ['not JSON'] : (check?.(reqPath, body) ?? []);
      const accepted = mode === 'ok' && signatureValid && problems.length === 0;
      received.push({ at: Date.now(), path: reqPath, problems, signature: req.headers['x-audit-signature'] as string | undefined, deliveryId: String(req.headers['x-audit-delivery-id'] ?? ''), event: String(req.headers['x-audit-event'] ?? ''), signatureValid, accepted, body, raw });
      if (mode === 'hang') {
        hanging.add(req.socket);
        return;
      }
      if (mode === 'close') {
        req.socket.destroy();
        return;
      }
      res.writeHead(mode === '500' ? 500 : !signatureValid ? 401 : problems.length > 0 ? 400 : 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  const caFile = path.join(dir, 'receiver-ca.pem');
  fs.writeFileSync(caFile, pki.caCertPem);
  return Object.assign(receiver, {
    url: `https://127.0.0.1:${actual}/hooks/audit`,
    port: actual,
    caFile,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of hanging) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
