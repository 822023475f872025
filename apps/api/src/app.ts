/**
 * Builds the HTTP application (used by main.ts and by the end-to-end tests): TLS by default with
 * the local CA's server certificate, JSON body limits, problem+json errors, security headers,
 * OpenAPI at /docs and /docs-json, and graceful shutdown that lets in-flight commits finish.
 */
import { INestApplication } from '@nestjs/common';
import type { HttpsOptions } from '@nestjs/common/interfaces/external/https-options.interface';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '@app/core';
import { ensureLocalPki } from '@app/security';
import { AppModule } from './app.module';
import { JsonLogger } from './http/json-logger';
import { ProblemFilter, sendProblem, toProblem } from './http/problem.filter';
import { requestLog } from './http/request-log.middleware';

export interface BuiltApp {
  app: NestExpressApplication;
  logger: JsonLogger;
  /** Where the TLS material lives (absent with INSECURE_HTTP). */
  tls?: { caPath: string; serverCertPath: string };
}

export async function buildApp(config: AppConfig, logger = new JsonLogger(config.logLevel)): Promise<BuiltApp> {
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
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bodyParser: false,
    logger,
    httpsOptions,
  });
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(securityHeaders(!config.insecureHttp));
  app.use(requestLog(logger));
  app.use(
    express.json({
      limit: config.maxBodyBytes,
      strict: true,
      type: ['application/json', 'application/*+json'],
    }),
  );
  // Body-parser errors happen before Nest's filters; render them as problems too.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => (err ? sendProblem(res, toProblem(err)) : next()));
  app.useGlobalFilters(new ProblemFilter(logger));

  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('HIPAA audit-log ingestion and SIEM analytics')
      .setDescription('Contract v1: tamper-evident ingestion of access events, queries, integrity proofs, alerts and reports.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json' });
  return { app, logger, tls };
}

function securityHeaders(tlsOn: boolean) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (!req.path.startsWith('/docs')) {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    }
    if (tlsOn) res.setHeader('Strict-Transport-Security', 'max-age=31536000');
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
