/**
 * A raw HTTP(S) client for tests that must send what a well-behaved client would not: arbitrary
 * bytes as the body, any (or no) Content-Type, odd headers, client certificates. Keep-alive;
 * resolves with the status, headers and body text, or with `error` when the connection failed.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Set instead of a status when the connection failed (code or message). */
  error?: string;
}

export interface RawClientOptions {
  ca?: string | Buffer;
  cert?: string;
  key?: string;
  maxSockets?: number;
  /** A request without an answer after this long resolves with error `timeout` (default 15 s). */
  timeoutMs?: number;
}

export class RawClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(baseUrl: string, private readonly options: RawClientOptions = {}) {
    this.base = new URL(baseUrl);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 8 };
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ ...agentOptions, ca: options.ca, cert: options.cert, key: options.key, servername: 'localhost' })
        : new http.Agent(agentOptions);
  }

  send(req: RawRequest): Promise<RawResponse> {
    const mod = this.base.protocol === 'https:' ? https : http;
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
    const headers: Record<string, string | string[] | number> = { ...(req.headers ?? {}) };
    if (body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length' || h.toLowerCase() === 'transfer-encoding')) {
      headers['content-length'] = body.length;
    }
    return new Promise((resolve) => {
      const r = mod.request(
        { protocol: this.base.protocol, hostname: this.base.hostname, port: this.base.port, method: req.method, path: req.path, agent: this.agent, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (e) => resolve({ status: 0, headers: {}, body: '', error: (e as NodeJS.ErrnoException).code ?? e.message }));
        },
      );
      r.on('error', (e) => resolve({ status: 0, headers: {}, body: '', error: (e as NodeJS.ErrnoException).code ?? e.message }));
      r.setTimeout(this.options.timeoutMs ?? 15_000, () => {
        r.destroy();
        resolve({ status: 0, headers: {}, body: '', error: 'timeout' });
      });
      if (body) r.end(body);
      else r.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
