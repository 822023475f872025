/**
 * Keeps keep-alive HTTPS connections alive after large answers (a batch's receipts: ~140 bytes per
 * event, so more than 16 KiB from about 120 events on).
 *
 * Node's HTTP server stops parsing a connection's next request while the previous answer is still
 * in the socket's write buffer above its high-water mark (pipelining backpressure: it pauses the
 * socket and then the parser). A TLS socket goes on emitting the cleartext it already decrypted, so
 * the paused parser gets data and fails with HPE_PAUSED, and the server destroys the connection:
 * the client sees ECONNRESET for a request the service never read. It happens when the event loop
 * was busy (a group commit) between writing an answer and noticing that it was flushed, while the
 * client already sent its next request: under load, with batches over ~120 events, on roughly
 * every second request. Raising the TLS sockets' write high-water mark above the largest answer
 * to POST /v1/events keeps that backpressure check quiet for those answers; larger answers (report
 * downloads) still get backpressure, from this mark on.
 *
 * `_writableState` is Node's stream state (stable since Node 0.10); TLSSocket takes no option for
 * its write high-water mark (tls.Server does not pass net.Server's `highWaterMark` on).
 */
import type { Server } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** Receipt bytes per event in a POST /v1/events answer, rounded up. */
const RECEIPT_BYTES = 160;
const MIN_MARK = 1024 * 1024;

export function keepTlsResponsesBuffered(server: Server, maxBatchEvents: number): void {
  const mark = Math.max(MIN_MARK, maxBatchEvents * RECEIPT_BYTES);
  server.on('secureConnection', (socket: TLSSocket) => {
    const state = (socket as unknown as { _writableState?: { highWaterMark: number } })._writableState;
    if (state && state.highWaterMark < mark) state.highWaterMark = mark;
  });
}
