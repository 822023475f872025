/**
 * Syslog delivery to a SIEM: one RFC 5424 message per alert over TLS with RFC 5425 octet-counted
 * framing (`<len> <message>`), a client certificate when the collector asks for one, and a CEF or
 * JSON payload so Splunk, QRadar, Sentinel or Elastic ingest it as they ingest any appliance. The
 * connection is kept open between messages and opened again after an error; a new one is used only
 * once the collector kept it open for `acceptWaitMs` after the handshake (rsyslog checks the client
 * certificate then and closes on a refusal). A message counts as delivered once the TLS connection
 * accepted it (syslog has no application acknowledgement).
 */
import * as os from 'node:os';
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { DeliveredAlert, DeliveryMessage, messageFor } from './alert-message';
import type { SyslogDestination } from './destinations-config';
import { AlertSender, DeliveryError, trustedContext } from './webhook-sender';

const SYSLOG_SEVERITY: Record<string, number> = { critical: 2, high: 3, medium: 4, low: 5 };
const CEF_SEVERITY: Record<string, number> = { critical: 10, high: 8, medium: 5, low: 3 };
/** RFC 5612 documentation enterprise number, for the structured-data id. */
const SD_ID = 'audit@32473';

const cefHeader = (v: string) => v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
const cefValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r?\n/g, '\\n');
const sdValue = (v: string) => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
const printable = (v: string, max: number) => v.replace(/[^\x21-\x7e]/g, '').slice(0, max) || '-';

export function cefLine(a: DeliveredAlert, deliveryId: string, product = { vendor: 'hipaa-audit', product: 'hipaa-audit-siem', version: '1' }): string {
  const ext: [string, string | number | undefined][] = [
    ['rt', Date.parse(a.raisedAt)],
    ['externalId', a.id],
    ['cs1Label', 'deliveryId'],
    ['cs1', deliveryId],
    ['duser', a.actor],
    ['cs2Label', 'patient'],
    ['cs2', a.patient],
    ['cs3Label', 'reasons'],
    ['cs3', a.reasons.join(',')],
    ['cnt', a.count],
    ['start', Date.parse(a.windowStart)],
    ['end', Date.parse(a.windowEnd)],
    ['request', a.link],
  ];
  const extension = ext.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${cefValue(String(v))}`).join(' ');
  return `CEF:0|${cefHeader(product.vendor)}|${cefHeader(product.product)}|${cefHeader(product.version)}|${cefHeader(a.ruleId)}|${cefHeader(a.title)}|${CEF_SEVERITY[a.severity] ?? 5}|${extension}`;
}

/** One RFC 5424 message (without framing). */
export function syslogMessage(d: SyslogDestination, a: DeliveredAlert, deliveryId: string, kind: DeliveryMessage['kind'], at = new Date()): string {
  const pri = d.facility * 8 + (SYSLOG_SEVERITY[a.severity] ?? 4);
  const sd = `[${SD_ID} deliveryId="${sdValue(deliveryId)}" alertId="${sdValue(a.id)}" rule="${sdValue(a.ruleId)}" severity="${sdValue(a.severity)}" kind="${kind}"]`;
  const msg = d.format === 'cef' ? cefLine(a, deliveryId) : JSON.stringify({ deliveryId, kind, destination: d.name, count: 1, alerts: [a] });
  return `<${pri}>1 ${at.toISOString()} ${printable(os.hostname(), 255)} ${d.appName} ${process.pid} alert ${sd} ${msg}`;
}

export class SyslogSender implements AlertSender {
  private socket: tls.TLSSocket | null = null;
  /** One connection attempt shared by the messages sent in parallel. */
  private connecting: Promise<tls.TLSSocket> | null = null;
  /** Trust store (and client certificate) parsed once, reused by every reconnection. */
  private context: tls.SecureContext | undefined;

  constructor(private readonly d: SyslogDestination) {}

  async send(m: DeliveryMessage): Promise<void> {
    // One syslog message per alert (a SIEM counts events); each keeps its own stable delivery id.
    const frames = m.alerts.map((a) => {
      const id = m.kind === 'alert' ? m.deliveryId : messageFor(this.d.name, [a], 'alert').deliveryId;
      const text = Buffer.from(syslogMessage(this.d, a, id, m.kind), 'utf8');
      return Buffer.concat([Buffer.from(`${text.length} `), text]);
    });
    const socket = await this.connect();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new DeliveryError('timeout')), this.d.timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.drop();
        reject(err instanceof DeliveryError ? err : new DeliveryError((err as NodeJS.ErrnoException).code ?? 'write error'));
      };
      socket.once('error', fail);
      socket.write(Buffer.concat(frames), (err) => {
        socket.off('error', fail);
        clearTimeout(timer);
        if (err) fail(err);
        else resolve();
      });
    });
  }

  close(): void {
    this.socket?.end();
    this.drop();
  }

  private drop(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): Promise<tls.TLSSocket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return Promise.resolve(this.socket);
    this.connecting ??= this.open().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private open(): Promise<tls.TLSSocket> {
    const name = this.d.serverName ?? this.d.host;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: this.d.host,
        port: this.d.port,
        ...(isIP(name) ? {} : { servername: name }),
        ...(this.d.ca ? { secureContext: (this.context ??= trustedContext(this.d.ca, this.d.cert && this.d.key ? { cert: this.d.cert, key: this.d.key } : undefined)) } : {}),
        ...(!this.d.ca && this.d.cert && this.d.key ? { cert: this.d.cert, key: this.d.key } : {}),
        checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
        minVersion: 'TLSv1.2',
      });
      const timer = setTimeout(() => socket.destroy(new DeliveryError('timeout')), this.d.timeoutMs);
      let handshaken = false;
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        handshaken = true;
        // The collector checks the client (certificate, allowed peers) after the TLS handshake and
        // then just closes: a message written before that would be claimed delivered and lost.
        // So a new connection is used only once it stayed open for acceptWaitMs.
        const refused = () => {
          clearTimeout(accepted);
          socket.destroy();
          reject(new DeliveryError('refused by collector'));
        };
        socket.once('close', refused);
        socket.on('data', () => undefined);
        const accepted = setTimeout(() => {
          socket.off('close', refused);
          use();
        }, this.d.acceptWaitMs);
      });
      const use = () => {
        socket.removeAllListeners('error');
        socket.on('error', () => this.drop());
        socket.on('close', () => {
          if (this.socket === socket) this.socket = null;
        });
        // The collector never talks back; anything it sends is ignored.
        this.socket = socket;
        resolve(socket);
      };
      socket.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err instanceof DeliveryError ? err : new DeliveryError(handshaken ? 'refused by collector' : (err.code ?? 'TLS error')));
      });
    });
  }
}
