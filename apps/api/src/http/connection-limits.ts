/**
 * Connection limits of the HTTP(S) server (issue 22): at most HTTP_MAX_CONNECTIONS open connections
 * in total and HTTP_MAX_CONNECTIONS_PER_IP from one client address (further ones are closed as soon
 * as they are accepted, before any TLS handshake or parsing), headers within HTTP_HEADERS_TIMEOUT_MS
 * and a whole request within HTTP_REQUEST_TIMEOUT_MS (Node answers 408 and closes). Node checks
 * those deadlines every `connectionsCheckingInterval`, 30 s by default; the adapter below creates
 * the server with a 1 s interval so the bounds hold to the second. Refused connections are counted
 * for /metrics (audit_http_connections_refused_total{cap}); no address is logged.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { SecuritySettings } from '@app/core';

export type ConnectionLimits = Pick<SecuritySettings, 'httpMaxConnections' | 'httpMaxConnectionsPerIp' | 'httpHeadersTimeoutMs' | 'httpRequestTimeoutMs'>;

/** Connections refused by the caps since start (total and per-IP), for metrics and tests. */
export interface ConnectionLimitStats {
  refusedTotal: number;
  refusedPerIp: number;
  open(): number;
}

/**
 * Nest's Express adapter, creating the HTTP or HTTPS server with the timeouts and checking interval
 * set, and holding the first middleware of the stack: whatever `beforeEverything` is set to (the
 * authentication before bodies) runs ahead of every body reader, including those that modules
 * mount while Nest builds the app (the FHIR reader).
 */
export class HardenedExpressAdapter extends ExpressAdapter {
  beforeEverything: RequestHandler | null = null;

  constructor(private readonly limits: ConnectionLimits) {
    super();
    this.getInstance().use((req: Request, res: Response, next: NextFunction) => (this.beforeEverything ? this.beforeEverything(req, res, next) : next()));
  }

  override initHttpServer(options: { httpsOptions?: https.ServerOptions; forceCloseConnections?: boolean }): void {
    const serverOptions = {
      headersTimeout: this.limits.httpHeadersTimeoutMs,
      requestTimeout: Math.max(this.limits.httpRequestTimeoutMs, this.limits.httpHeadersTimeoutMs),
      connectionsCheckingInterval: 1000,
    };
    const server = options?.httpsOptions
      ? https.createServer({ ...options.httpsOptions, ...serverOptions }, this.getInstance())
      : http.createServer(serverOptions, this.getInstance());
    this.setHttpServer(server);
    if (options?.forceCloseConnections) (this as unknown as { trackOpenConnections(): void }).trackOpenConnections();
  }
}

/** Caps open connections in total and per client address on `server`; `onRefused` is told which cap closed one; returns live counters. */
export function capConnections(server: http.Server | https.Server, limits: ConnectionLimits, onRefused?: (cap: 'total' | 'per_ip') => void): ConnectionLimitStats {
  const perIp = new Map<string, number>();
  let open = 0;
  const stats: ConnectionLimitStats = { refusedTotal: 0, refusedPerIp: 0, open: () => open };
  // The total cap is Node's own: connections beyond it are closed before they reach any listener.
  server.maxConnections = limits.httpMaxConnections;
  server.on('drop', () => {
    stats.refusedTotal++;
    onRefused?.('total');
  });
  // A TLS server emits 'connection' with the TCP socket before the handshake: refuse there, cheaply.
  server.prependListener('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? 'unknown';
    const fromIp = perIp.get(ip) ?? 0;
    if (fromIp >= limits.httpMaxConnectionsPerIp) {
      stats.refusedPerIp++;
      onRefused?.('per_ip');
      socket.destroy();
      return;
    }
    open++;
    perIp.set(ip, fromIp + 1);
    socket.once('close', () => {
      open--;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n <= 0) perIp.delete(ip);
      else perIp.set(ip, n);
    });
  });
  return stats;
}
