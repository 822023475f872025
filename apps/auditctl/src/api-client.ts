/**
 * Minimal HTTPS/HTTP JSON client for the CLI (seed, benchmarks): keep-alive, trusts the data
 * dir's local CA, bearer token. No dependency beyond node:http(s). A service that cannot be
 * reached (refused, timed out, unknown host, TLS mismatch) rejects with ServiceUnreachableError,
 * which names the URL tried.
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

/** Socket error codes that mean "nothing (usable) answers at this URL", not "the request failed". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'EPROTO']);
/** TLS errors of a certificate the client does not trust (usually: another data dir's CA). */
const UNTRUSTED_CERT_CODES = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/** The service at `url` could not be reached; `code` is the socket/TLS error code (e.g. ECONNREFUSED). */
export class ServiceUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
    readonly reason: 'unreachable' | 'timeout' | 'closed' | 'untrusted-certificate',
    cause: Error,
  ) {
    super(`cannot reach the service at ${url} (${code}: ${cause.message})`);
    this.name = 'ServiceUnreachableError';
  }
}

export class ApiClient {
  private readonly agent: http.Agent;
  private readonly base: URL;
  private readonly connectTimeoutMs?: number;

  constructor(
    baseUrl: string,
    private readonly token: string,
    options: { caPem?: string | Buffer; maxSockets?: number; connectTimeoutMs?: number } = {},
  ) {
    this.base = new URL(baseUrl);
    this.connectTimeoutMs = options.connectTimeoutMs;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16 };
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ ...agentOptions, ca: options.caPem }) : new http.Agent(agentOptions);
  }

  /** `body`: a string or Buffer is sent as is (with `contentType`, default application/json), anything else as JSON. */
  request(method: string, pathAndQuery: string, body?: unknown, contentType = 'application/json'): Promise<ApiResponse> {
    const url = new URL(pathAndQuery, this.base);
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(payload ? { 'content-type': contentType, 'content-length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.describe(err)));
      // Without a limit an unanswered connect waits for the OS (minutes); an established socket has none.
      if (this.connectTimeoutMs) {
        const limit = this.connectTimeoutMs;
        req.on('socket', (socket) => {
          if (!socket.connecting) return;
          const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no connection within ${limit} ms`), { code: 'ETIMEDOUT' })), limit);
          socket.once('connect', () => clearTimeout(timer));
          socket.once('close', () => clearTimeout(timer));
        });
      }
      if (payload) req.end(payload);
      else req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /** The service's base URL as given (for messages). */
  get url(): string {
    return this.base.origin;
  }

  private describe(err: NodeJS.ErrnoException): Error {
    const code = err.code ?? '';
    if (code === 'ETIMEDOUT') return new ServiceUnreachableError(this.base.origin, code, 'timeout', err);
    if (code === 'ECONNRESET') return new ServiceUnreachableError(this.base.origin, code, 'closed', err);
    if (UNTRUSTED_CERT_CODES.has(code)) return new ServiceUnreachableError(this.base.origin, code, 'untrusted-certificate', err);
    if (UNREACHABLE_CODES.has(code) || /^ERR_SSL_/.test(code)) return new ServiceUnreachableError(this.base.origin, code, 'unreachable', err);
    return err;
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

/**
 * What a CLI command prints when the service cannot be reached: the URL it tried, why, and how to
 * point it at the service (the command's `--url`, or HOST / PORT / INSECURE_HTTP as the service
 * reads them; `--data-dir` for the CA when the certificate is not trusted).
 */
export function unreachableServiceMessage(err: ServiceUnreachableError, urlFromOption: boolean): string {
  const how = urlFromOption
    ? 'check --url'
    : 'pass --url (e.g. --url https://127.0.0.1:18443), or export the HOST / PORT / INSECURE_HTTP the service runs with (default https://127.0.0.1:8443)';
  if (err.reason === 'untrusted-certificate') {
    return `the service at ${err.url} presented a certificate this data dir's CA does not trust (${err.code}); use --data-dir of the service (its tls/ca.pem), or ${how}`;
  }
  if (err.reason === 'closed') {
    return `the service at ${err.url} closed the connection without an answer (${err.code}): it stopped, or it speaks ${err.url.startsWith('https:') ? 'plain HTTP (INSECURE_HTTP=true: use http://)' : 'HTTPS (use https://)'}; ${how}`;
  }
  const what = err.reason === 'timeout' ? 'no answer (timed out)' : err.code === 'ECONNREFUSED' ? 'connection refused' : err.code;
  return `cannot reach the service at ${err.url}: ${what}. The service may not be running there; start it (npm start), or ${how}`;
}
