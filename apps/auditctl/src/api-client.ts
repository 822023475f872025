/**
 * Minimal HTTPS/HTTP JSON client for the CLI (seed, benchmarks): keep-alive, trusts the data
 * dir's local CA, bearer token. No dependency beyond node:http(s).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class ApiClient {
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly token: string,
    options: { caPem?: string | Buffer; maxSockets?: number } = {},
  ) {
    this.base = new URL(baseUrl);
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ ...agentOptions, ca: options.caPem }) : new http.Agent(agentOptions);
  }

  request(method: string, pathAndQuery: string, body?: unknown): Promise<ApiResponse> {
    const url = new URL(pathAndQuery, this.base);
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (payload) req.end(payload);
      else req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The local CA of a data dir, if the service created one. */
export function localCa(dataDir: string): Buffer | undefined {
  const file = path.join(dataDir, 'tls', 'ca.pem');
  return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
}

/** Default URL of the service as configured by the environment (HOST, PORT, INSECURE_HTTP). */
export function defaultServiceUrl(): string {
  const insecure = ['true', '1', 'yes', 'on'].includes(String(process.env.INSECURE_HTTP ?? '').toLowerCase());
  const host = process.env.HOST ?? '127.0.0.1';
  const port = process.env.PORT ?? '8443';
  return `${insecure ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
