/**
 * The IHE ATNA receiver: a TLS listener (RFC 5425 syslog over TLS) started with the app when
 * ATNA_ENABLED=true. Mutual TLS is required (requestCert + rejectUnauthorized against the local CA,
 * TLS 1.2 or newer); the client certificate's integration id (URI SAN, else CN) becomes
 * `source.integration` of every event of that connection, and each batch passes the same admission
 * as POST /v1/events (per-integration rate limit, allowed source systems). Each connection is read by
 * `ingestAtnaStream` (back-pressure: one durable batch at a time). Refused handshakes, refused
 * identities and malformed input are counted and logged without PHI and never stop the listener.
 * Shutdown: stop accepting, let every connection store what it already decoded, then close.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/core';
import { IngestService, MetricsService } from '@app/pipeline';
import { AtnaLog, AtnaStreamResult, ingestAtnaStream } from '@app/pipeline/standards/atna-stream-ingestor';
import { IngestAdmission, ensureLocalPki, principalFromCertificate } from '@app/security';

interface Connection {
  socket: tls.TLSSocket;
  stop: AbortController;
  giveUp: AbortController;
  done: Promise<AtnaStreamResult | undefined>;
}

/** TLS handshake timeout: a peer that does not finish the handshake in time is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** At most this many log lines per reason and minute for refused connections. */
const REFUSAL_LOG_PER_MINUTE = 10;

@Injectable()
export class AtnaListener implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AtnaListener');
  private server?: tls.Server;
  private readonly connections = new Set<Connection>();
  private readonly refusalLog = new Map<string, { windowStart: number; count: number }>();
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly ingest: IngestService,
    private readonly metrics: MetricsService,
    private readonly admission: IngestAdmission,
  ) {}

  /** Where the listener is bound (undefined when disabled or not started). */
  address(): net.AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** Open connections right now. */
  get connectionCount(): number {
    return this.connections.size;
  }

  async onApplicationBootstrap(): Promise<void> {
    const atna = this.config.atna;
    if (!atna?.enabled) return;
    const host = atna.host ?? this.config.host;
    const names = [this.config.host, ...(isUnspecified(host) ? [] : [host])];
    const pki = await ensureLocalPki(this.config.dataDir, [...new Set(names)]);
    const server = tls.createServer(
      {
        key: pki.serverKeyPem,
        cert: pki.serverCertPem,
        ca: pki.caCertPem,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      (socket) => this.onSecureConnection(socket),
    );
    server.maxConnections = atna.maxConnections;
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.metrics.atnaConnections.inc({ result: 'tls_refused' });
      this.logRefusal('tls handshake refused', tlsErrorCode(err));
      socket.destroy();
    });
    server.on('drop', () => {
      this.metrics.atnaConnections.inc({ result: 'overloaded' });
      this.logRefusal('connection dropped: ATNA_MAX_CONNECTIONS reached', 'max-connections');
    });
    server.on('error', (err: NodeJS.ErrnoException) => this.logger.error(`ATNA listener error (${err.code ?? 'unknown'})`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(atna.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const bound = this.address();
    this.logger.log(`ATNA receiver listening (RFC 5425 syslog over mutual TLS) on ${host}:${bound?.port ?? atna.port}; CA ${pki.caCertPath}`);
  }

  /** Stops accepting, lets open connections store what they decoded (up to SHUTDOWN_GRACE_MS), closes them. */
  async onModuleDestroy(): Promise<void> {
    if (!this.server) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const c of this.connections) c.stop.abort();
    const all = Promise.all([...this.connections].map((c) => c.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.config.shutdownGraceMs)));
    const outcome = await Promise.race([all.then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const c of this.connections) {
        c.giveUp.abort();
        c.socket.destroy();
      }
      await Promise.race([all, new Promise((r) => setTimeout(r, 1000))]);
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 100))]);
    this.server = undefined;
  }

  private onSecureConnection(socket: tls.TLSSocket): void {
    socket.on('error', () => undefined); // resets and alerts end the connection; counted below when relevant
    if (this.stopping) {
      socket.destroy();
      return;
    }
    // rejectUnauthorized already refused unverified chains; the certificate must also name an integration.
    const identity = socket.authorized ? principalFromCertificate(socket.getPeerCertificate()) : { ok: false as const, reason: 'certificate not verified' };
    if (!identity.ok) {
      this.metrics.atnaConnections.inc({ result: 'identity_refused' });
      this.logRefusal('client certificate refused', identity.reason);
      socket.destroy();
      return;
    }
    this.metrics.atnaConnections.inc({ result: 'accepted' });
    const principal = identity.principal;
    const integration = principal.integration!;
    const atna = this.config.atna!;
    socket.setTimeout(atna.idleTimeoutMs, () => socket.destroy());
    const stop = new AbortController();
    const giveUp = new AbortController();
    const log: AtnaLog = (level, msg, fields) => this.write(level, msg, fields);
    const connection: Connection = { socket, stop, giveUp, done: Promise.resolve(undefined) };
    connection.done = ingestAtnaStream(socket, {
      integration,
      sink: this.ingest,
      // The same admission as POST /v1/events and /fhir: rate limit and source ownership.
      admit: (events) => this.admission.admitEvents(principal, events),
      maxFrameBytes: atna.maxFrameBytes,
      metrics: this.metrics,
      log,
      stop: stop.signal,
      giveUp: giveUp.signal,
    })
      .then((result) => {
        if (result.endedBy === 'framing-error') this.metrics.atnaConnections.inc({ result: 'framing_closed' });
        this.write(result.rejected > 0 || result.failed > 0 ? 'info' : 'debug', 'atna connection closed', {
          integration,
          endedBy: result.endedBy,
          frames: result.frames,
          stored: result.stored,
          rejected: result.rejected,
          refused: result.refused,
          failed: result.failed,
          batches: result.batches,
        });
        return result;
      })
      .catch((err: unknown) => {
        this.logger.error(`ATNA connection failed (${err instanceof Error ? err.constructor.name : typeof err})`);
        return undefined;
      })
      .finally(() => {
        this.connections.delete(connection);
        if (!socket.destroyed) socket.destroy();
      });
    this.connections.add(connection);
  }

  /** Fields carry codes, element names, counts and the integration id only: never message content. */
  private write(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, string | number | boolean | undefined>): void {
    const parts = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`);
    const line = parts.length > 0 ? `${msg} (${parts.join(', ')})` : msg;
    if (level === 'error') this.logger.error(line);
    else if (level === 'warn') this.logger.warn(line);
    else if (level === 'info') this.logger.log(line);
    else this.logger.debug(line);
  }

  private logRefusal(msg: string, reason: string): void {
    const now = Date.now();
    const entry = this.refusalLog.get(reason);
    if (!entry || now - entry.windowStart > 60_000) this.refusalLog.set(reason, { windowStart: now, count: 1 });
    else if (++entry.count > REFUSAL_LOG_PER_MINUTE) return;
    if (this.refusalLog.size > 1000) this.refusalLog.clear();
    this.logger.warn(`ATNA ${msg} (reason=${reason})`);
  }
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** A stable, content-free code for a failed handshake (e.g. ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE). */
function tlsErrorCode(err: NodeJS.ErrnoException): string {
  if (typeof err.code === 'string' && /^[A-Z0-9_]{1,80}$/.test(err.code)) return err.code;
  return 'tls-error';
}
