/**
 * Connections the HTTPS server refuses during the TLS handshake (a plain-HTTP request on the TLS
 * port, no protocol or cipher in common, a malformed hello) never reach the guard, so they would
 * leave no trace. They go to the same sink as refused requests (the access log's
 * DeniedAccessRecorder, flood-folded per source IP and reason per minute), as kind
 * `tls-handshake-failed` with the OpenSSL error code as reason, method `TLS` and route `handshake`.
 * A client that merely disconnects (reset, timeout: load-balancer TCP probes, port scans) is not a
 * refusal and is not recorded.
 */
import type * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AuthEventSink } from '@app/security';

/** Socket errors that are a peer going away, not the server refusing the handshake. */
const DISCONNECTS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN']);

export function recordTlsRefusals(server: https.Server, sink: AuthEventSink): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const code = err.code ?? 'unknown';
    if (DISCONNECTS.has(code) || !/^ERR_SSL_/.test(code)) return;
    void Promise.resolve(
      sink.authFailure({
        kind: 'tls-handshake-failed',
        status: 403,
        reason: code.replace(/^ERR_SSL_/, ''),
        method: 'TLS',
        route: 'handshake',
        remoteAddress: socket.remoteAddress,
      }),
    ).catch(() => undefined);
  });
}
