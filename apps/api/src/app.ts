/**
 * Builds the HTTP application (used by main.ts and by the end-to-end tests): TLS by default with
 * the local CA's server certificate, the hostile-JSON body reader (size, depth, string length, duplicate
 * and prototype keys, UTF-8), problem+json errors without stack traces, security headers,
 * authentication before any body is read, connection caps and header/body deadlines (issue 22),
 * OpenAPI at /docs and /docs-json, graceful shutdown that lets in-flight commits finish, and the lean
 * POST /v1/events route (the same steps as the Nest route without Nest's per-request pipeline).
 */
import { DynamicModule, INestApplication, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import type { HttpsOptions } from '@nestjs/common/interfaces/external/https-options.interface';
import { NestFactory, Reflector } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig, contextSettingsOf, securitySettings, DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS, DEFAULT_MAX_FHIR_JSON_DEPTH, DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_STRING_LENGTH } from '@app/core';
import { AUTH_EVENT_SINK, AuthEventSink, AuthGuard, ensureLocalPki } from '@app/security';
import { DeniedAccessRecorder, IntegrityMonitor, MetricsService } from '@app/pipeline';
import { DataDirLock } from '@app/storage';
import { AppModule } from './app.module';
import { JsonLogger } from './http/json-logger';
import { ProblemFilter, sendProblem, toProblem } from './http/problem.filter';
import { jsonBodyReader, JsonBodyLimits } from './http/json-body-reader';
import { keepTlsResponsesBuffered } from './http/tls-response-buffer';
import { recordTlsRefusals } from './http/tls-refusals';
import { requestLog } from './http/request-log.middleware';
import { authenticateBeforeBody } from './http/authenticate-before-body';
import { leanEventsRoute } from './http/lean-events-route';
import { EventsController } from './controllers/events.controller';
import { capConnections, HardenedExpressAdapter } from './http/connection-limits';
import { documentationAccess } from './http/ops-endpoints';
import { useForwardedHeaderForClientIp } from './http/forwarded-client-address';
import { mountConsole } from './console/console-http';

export interface BuiltApp {
  app: NestExpressApplication;
  logger: JsonLogger;
  /** Where the TLS material lives (absent with INSECURE_HTTP). */
  tls?: { caPath: string; serverCertPath: string };
}

export async function buildApp(config: AppConfig, logger = new JsonLogger(config.logLevel), extraImports: DynamicModule[] = []): Promise<BuiltApp> {
  // One service per data dir (a second one is refused naming the holder); held until the app closes.
  const lock = DataDirLock.acquire(config.dataDir);
  try {
    return await buildAppHoldingLock(config, logger, [...extraImports, dataDirLockModule(lock)]);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Keeps the data dir's lock referenced for the app's lifetime and lets it go when the app closes. */
@Injectable()
class DataDirLockHolder implements OnApplicationShutdown {
  constructor(@Inject(DataDirLock) private readonly lock: DataDirLock) {}

  onApplicationShutdown(): void {
    this.lock.release();
  }
}

function dataDirLockModule(lock: DataDirLock): DynamicModule {
  @Module({})
  class DataDirLockModule {}
  return { module: DataDirLockModule, providers: [{ provide: DataDirLock, useValue: lock }, DataDirLockHolder] };
}

async function buildAppHoldingLock(config: AppConfig, logger: JsonLogger, extraImports: DynamicModule[]): Promise<BuiltApp> {
  let httpsOptions: (HttpsOptions & { minVersion?: 'TLSv1.2' | 'TLSv1.3' }) | undefined;
  let tls: BuiltApp['tls'];
  if (!config.insecureHttp) {
    const pki = await ensureLocalPki(config.dataDir, [config.host]);
    httpsOptions = {
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      ca: pki.caCertPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    };
    tls = { caPath: pki.caCertPath, serverCertPath: pki.serverCertPath };
  }
  const limits = securitySettings(config);
  const adapter = new HardenedExpressAdapter(limits);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, extraImports), adapter, {
    bodyParser: false,
    logger,
    httpsOptions,
  });
  if (httpsOptions) {
    keepTlsResponsesBuffered(app.getHttpServer() as import('node:https').Server, config.maxBatchEvents);
    recordTlsRefusals(app.getHttpServer() as import('node:https').Server, app.get<AuthEventSink>(AUTH_EVENT_SINK, { strict: false }));
  }
  // Node closes an idle keep-alive connection after 5 s; a client pool that reuses it at that moment
  // gets ECONNRESET on a request it cannot know was not received. Keep idle connections longer than
  // common client and load-balancer idle timeouts (60 s), and the header timeout above it as Node requires.
  const server = app.getHttpServer() as import('node:http').Server;
  server.keepAliveTimeout = config.httpKeepAliveTimeoutMs ?? DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS;
  // Headers and whole-request deadlines, and connection caps (issue 22; HardenedExpressAdapter set the timeouts).
  const metrics = app.get(MetricsService);
  capConnections(server, limits, (cap) => metrics.httpConnectionsRefused.inc({ cap }));
  // First in the stack (ahead of the FHIR reader mounted during create): security headers, the request
  // log, then credentials before any body byte is read.
  // Then POST /v1/events itself, served outside Nest's pipeline with the same steps (lean-events-route.ts).
  const bodyReader = jsonBodyReader({ limitsFor: (req) => jsonLimitsFor(config, req.path) });
  // A record that failed its re-check in a query makes the break known (readiness, integrity-break alert).
  const monitor = app.get(IntegrityMonitor);
  const problems = new ProblemFilter(logger, (b) => void monitor.noteBreak(b));
  const postEvents = leanEventsRoute({
    controller: app.get(EventsController),
    guard: app.get(AuthGuard),
    reflector: app.get(Reflector),
    bodyReader,
    filter: problems,
    denials: app.get(DeniedAccessRecorder, { strict: false }),
  });
  adapter.beforeEverything = inSequence(securityHeaders(!config.insecureHttp), requestLog(logger), authenticateBeforeBody(app.get(AuthGuard)), postEvents);
  app.disable('x-powered-by');
  // X-Forwarded-For only from TRUSTED_PROXIES: req.ip is then the client's address behind them, and
  // a forged header from anyone else is ignored (req.ip stays the peer's address).
  const proxies = config.integrity?.trustedProxies ?? [];
  app.set('trust proxy', proxies.length > 0 ? proxies : false);
  // TRUSTED_PROXY_HEADER=forwarded: the same trust, read from RFC 7239 `Forwarded: for=` instead.
  if (config.integrity?.trustedProxyHeader === 'forwarded') useForwardedHeaderForClientIp(app.getHttpAdapter().getInstance());
  app.set('query parser', 'simple');
  app.use(bodyReader);
  // The web console: its views, static files, form bodies and its own CSP (after securityHeaders).
  mountConsole(app);
  // Body-reader errors happen before Nest's filters; render them as problems too.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => (err ? sendProblem(res, toProblem(err)) : next()));
  app.useGlobalFilters(problems);

  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('HIPAA audit-log ingestion and SIEM analytics')
      .setDescription('Contract v1: tamper-evident ingestion of access events, queries, integrity proofs, alerts and reports.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  app.use(['/docs', '/docs-json', '/docs-yaml'], documentationAccess(app.get(AuthGuard), limits.opsEndpointsAuth));
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json' });
  return { app, logger, tls };
}

/** Express handlers run one after the other as one. */
function inSequence(...handlers: Array<(req: Request, res: Response, next: NextFunction) => void>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const step = (i: number): void => (i === handlers.length ? next() : handlers[i]!(req, res, () => step(i + 1)));
    step(0);
  };
}

/** Body limits per route: FHIR resources nest deeper (a Bundle of AuditEvents needs 11 levels). */
function jsonLimitsFor(config: AppConfig, path: string): JsonBodyLimits {
  const fhir = path === '/fhir' || path.startsWith('/fhir/');
  // Context feeds carry whole directory exports (CONTEXT_MAX_BODY_BYTES).
  const context = path.startsWith('/v1/context/');
  return {
    maxBytes: fhir ? (config.fhirMaxBodyBytes ?? config.maxBodyBytes) : context ? contextSettingsOf(config).maxBodyBytes : config.maxBodyBytes,
    maxDepth: fhir ? (config.maxFhirJsonDepth ?? DEFAULT_MAX_FHIR_JSON_DEPTH) : (config.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH),
    maxStringLength: config.maxJsonStringLength ?? DEFAULT_MAX_JSON_STRING_LENGTH,
  };
}

function securityHeaders(tlsOn: boolean) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('X-Permitted-Cross-Domain-Policies', 'none');
    res.setHeader('X-DNS-Prefetch-Control', 'off');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
    if (!req.path.startsWith('/docs')) {
      // Audit data must not linger in caches; API answers are never documents to render.
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
      res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    }
    if (tlsOn) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    next();
  };
}

/** Stops taking connections, lets queued commits finish (acknowledging them), then closes. */
export async function shutdownGracefully(app: INestApplication, graceMs: number): Promise<void> {
  const server = app.getHttpServer() as import('node:http').Server;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const timer = setTimeout(() => server.closeAllConnections?.(), graceMs);
  server.closeIdleConnections?.();
  await app.close();
  clearTimeout(timer);
  await Promise.race([closed, new Promise((r) => setTimeout(r, 50))]);
}
