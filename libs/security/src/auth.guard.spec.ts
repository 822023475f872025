/**
 * AuthGuard tests through a tiny real Nest app (SecurityModule, @nestjs/testing, supertest): default
 * deny, 401 without or with bad credentials, 403 without the scope, 2xx with it, method/controller
 * precedence, a small role x route matrix derived from the scope map, and mutual TLS over a real
 * HTTPS listener with certificates from the local PKI.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { HttpsOptions } from '@nestjs/common/interfaces/external/https-options.interface';
import { ArgumentsHost, Catch, Controller, Get, Global, HttpCode, Module, Post, type ExceptionFilter, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SignJWT } from 'jose';
import type { Response } from 'express';
import request from 'supertest';
import { APP_CONFIG, ProblemError } from '@app/core';
import { AUTH_EVENT_SINK, type AuthFailureEvent } from './auth-event-sink.port';
import { createCertificateAuthority, ensureLocalPki, issueClientCertificate, type LocalPki } from './local-pki';
import { CurrentPrincipal, type Principal } from './principal';
import { Public, RequireScope } from './require-scope.decorator';
import { ROLES, ROLE_SCOPES, type Role, type Scope } from './scopes';
import { SecurityModule } from './security.module';
import { TokenService } from './token.service';

@Controller('t')
class TestController {
  @Get('open')
  @Public()
  open() {
    return { ok: true };
  }

  @Get('undeclared')
  undeclared() {
    return { leaked: true };
  }

  @Get('events')
  @RequireScope('events:read')
  read(@CurrentPrincipal() p: Principal) {
    return { sub: p.sub, role: p.role, via: p.via };
  }

  @Post('events')
  @HttpCode(202)
  @RequireScope('events:write')
  write(@CurrentPrincipal() p: Principal) {
    return { sub: p.sub, via: p.via, integration: p.integration };
  }

  @Get('both')
  @RequireScope('integrity:read', 'checkpoints:read')
  both() {
    return { ok: true };
  }
}

@Controller('alerts')
@RequireScope('alerts:read')
class ScopedController {
  @Get()
  list() {
    return { ok: true };
  }

  @Get('status')
  @Public()
  status() {
    return { ok: true };
  }
}

@Controller('ops')
@Public()
class PublicController {
  @Get('live')
  live() {
    return { ok: true };
  }

  @Get('internals')
  @RequireScope('ops:read')
  internals() {
    return { ok: true };
  }
}

@Catch(ProblemError)
class ProblemFilter implements ExceptionFilter {
  catch(err: ProblemError, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse<Response>();
    res.status(err.status).set(err.headers).type('application/problem+json').send(JSON.stringify(err.body));
  }
}

const sinkEvents: AuthFailureEvent[] = [];

function makeConfigModule(dataDir: string) {
  @Global()
  @Module({
    providers: [
      { provide: APP_CONFIG, useValue: { dataDir, tokenIssuer: 'audit-siem', tokenAudience: 'audit-siem-api', tokenMaxTtl: '30d' } },
      { provide: AUTH_EVENT_SINK, useValue: { authFailure: (e: AuthFailureEvent) => sinkEvents.push(e) } },
    ],
    exports: [APP_CONFIG, AUTH_EVENT_SINK],
  })
  class ConfigModule {}
  return ConfigModule;
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function makeApp(dataDir: string, httpsOptions?: HttpsOptions): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [makeConfigModule(dataDir), SecurityModule],
    controllers: [TestController, ScopedController, PublicController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false, httpsOptions });
  app.useGlobalFilters(new ProblemFilter());
  await app.init();
  return app;
}

describe('AuthGuard over HTTP (bearer tokens)', () => {
  let app: INestApplication;
  let tokens: TokenService;
  const token: Partial<Record<Role, string>> = {};

  beforeAll(async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-spec-'));
    tmpDirs.push(dataDir);
    app = await makeApp(dataDir);
    tokens = app.get(TokenService);
    for (const role of ROLES) token[role] = await tokens.issue({ role });
  });
  afterAll(async () => {
    await app.close();
  });

  const bearer = (role: Role) => ({ Authorization: `Bearer ${token[role]}` });

  it('refuses a route that declares no scope with 403, even for a valid token (default deny)', async () => {
    for (const headers of [{}, bearer('admin'), bearer('soc_analyst')]) {
      const res = await request(app.getHttpServer()).get('/t/undeclared').set(headers).expect(403);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'https://audit-siem.dev/problems/forbidden', status: 403, detail: 'route declares no scope' });
    }
  });

  it('lets anyone through a @Public route, ignoring credentials', async () => {
    await request(app.getHttpServer()).get('/t/open').expect(200, { ok: true });
    await request(app.getHttpServer()).get('/t/open').set('Authorization', 'Bearer nonsense').expect(200);
    await request(app.getHttpServer()).get('/ops/live').expect(200);
  });

  it('answers 401 problem+json without credentials or with bad ones', async () => {
    const none = await request(app.getHttpServer()).get('/t/events').expect(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.body).toMatchObject({ type: 'https://audit-siem.dev/problems/unauthorized', status: 401 });
    for (const auth of ['Bearer nonsense', 'Basic dXNlcjpwYXNz', 'Bearer ', `Bearer ${token.soc_analyst}x`, `Token ${token.soc_analyst}`]) {
      const res = await request(app.getHttpServer()).get('/t/events').set('Authorization', auth).expect(401);
      expect(JSON.stringify(res.body)).not.toContain(token.soc_analyst);
    }
  });

  it('says an expired token has expired', async () => {
    const key = crypto.createPrivateKey(fs.readFileSync(tokens.signingKeyPath));
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'soc_analyst' })
      .setProtectedHeader({ alg: 'EdDSA', kid: await tokens.keyId() })
      .setIssuer('audit-siem')
      .setAudience('audit-siem-api')
      .setSubject('analyst-1')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(key);
    const res = await request(app.getHttpServer()).get('/t/events').set('Authorization', `Bearer ${expired}`).expect(401);
    expect(res.body.detail).toBe('The bearer token has expired.');
  });

  it('answers 403 for a valid token whose role lacks the scope, 2xx when it has it', async () => {
    const denied = await request(app.getHttpServer()).get('/t/events').set(bearer('integration')).expect(403);
    expect(denied.body).toMatchObject({ type: 'https://audit-siem.dev/problems/forbidden', status: 403 });
    expect(denied.body.detail).toContain('events:read');
    const ok = await request(app.getHttpServer()).get('/t/events').set(bearer('soc_analyst')).expect(200);
    expect(ok.body).toEqual({ sub: 'local-soc_analyst', role: 'soc_analyst', via: 'token' });
    const posted = await request(app.getHttpServer()).post('/t/events').set(bearer('integration')).expect(202);
    expect(posted.body).toEqual({ sub: 'sample-ehr', via: 'token', integration: 'sample-ehr' });
  });

  it('requires every scope listed, and a method declaration overrides the controller one', async () => {
    await request(app.getHttpServer()).get('/t/both').set(bearer('auditor')).expect(200);
    await request(app.getHttpServer()).get('/t/both').set(bearer('compliance_officer')).expect(403);
    await request(app.getHttpServer()).get('/alerts').set(bearer('soc_analyst')).expect(200);
    await request(app.getHttpServer()).get('/alerts').expect(401);
    await request(app.getHttpServer()).get('/alerts/status').expect(200);
    await request(app.getHttpServer()).get('/ops/internals').expect(401);
    await request(app.getHttpServer()).get('/ops/internals').set(bearer('admin')).expect(200);
  });

  it('role x route matrix matches the scope map', async () => {
    const routes: Array<{ method: 'get' | 'post'; url: string; needs: Scope[] }> = [
      { method: 'get', url: '/t/events', needs: ['events:read'] },
      { method: 'post', url: '/t/events', needs: ['events:write'] },
      { method: 'get', url: '/t/both', needs: ['integrity:read', 'checkpoints:read'] },
      { method: 'get', url: '/alerts', needs: ['alerts:read'] },
      { method: 'get', url: '/ops/internals', needs: ['ops:read'] },
    ];
    for (const route of routes) {
      await request(app.getHttpServer())[route.method](route.url).expect(401);
      for (const role of ROLES) {
        const allowed = route.needs.every((s) => ROLE_SCOPES[role].includes(s));
        const res = await request(app.getHttpServer())[route.method](route.url).set(bearer(role));
        expect({ role, url: route.url, status: res.status }).toEqual({ role, url: route.url, status: allowed ? (route.method === 'post' ? 202 : 200) : 403 });
      }
    }
  });

  it('reports refusals to the sink without tokens', async () => {
    sinkEvents.length = 0;
    await request(app.getHttpServer()).get('/t/events?patient=P-123').set(bearer('integration')).expect(403);
    await request(app.getHttpServer()).get('/t/events').set('Authorization', 'Bearer nonsense').expect(401);
    expect(sinkEvents.map((e) => [e.kind, e.status, e.route])).toEqual([
      ['forbidden', 403, '/t/events'],
      ['token-rejected', 401, '/t/events'],
    ]);
    expect(sinkEvents[0]!.principal).toMatchObject({ role: 'integration', integration: 'sample-ehr' });
    const dump = JSON.stringify(sinkEvents);
    expect(dump).not.toContain(token.integration);
    expect(dump).not.toContain('P-123');
  });
});

describe('AuthGuard over HTTPS (mutual TLS)', () => {
  let app: INestApplication;
  let pki: LocalPki;
  let dataDir: string;
  let port: number;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-mtls-spec-'));
    tmpDirs.push(dataDir);
    pki = await ensureLocalPki(dataDir, []);
    // Nest's HttpsOptions type omits minVersion, but the object is handed to https.createServer as is.
    const tlsOptions: https.ServerOptions = {
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      ca: pki.caCertPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    };
    app = await makeApp(dataDir, tlsOptions as HttpsOptions);
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
  });

  function call(method: string, urlPath: string, opts: { cert?: string; key?: string; token?: string } = {}) {
    return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          method,
          path: urlPath,
          ca: pki.caCertPem,
          cert: opts.cert,
          key: opts.key,
          agent: false,
          headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('accepts the sample integration certificate as integration sample-ehr', async () => {
    const r = await call('POST', '/t/events', { cert: pki.sampleClient.certPem, key: pki.sampleClient.keyPem });
    expect(r).toEqual({ status: 202, body: { sub: 'sample-ehr', via: 'mtls', integration: 'sample-ehr' } });
    const denied = await call('GET', '/t/events', { cert: pki.sampleClient.certPem, key: pki.sampleClient.keyPem });
    expect(denied.status).toBe(403);
  });

  it('refuses no certificate, an expired one and one from an unknown CA with 401', async () => {
    expect((await call('POST', '/t/events')).status).toBe(401);
    const expired = await issueClientCertificate(dataDir, 'sample-ehr', { expired: true });
    expect((await call('POST', '/t/events', { cert: expired.certPem, key: expired.keyPem })).status).toBe(401);
    const foreign = await issueClientCertificate(dataDir, 'sample-ehr', { ca: await createCertificateAuthority() });
    const r = await call('POST', '/t/events', { cert: foreign.certPem, key: foreign.keyPem });
    expect(r.status).toBe(401);
    expect(r.body.detail).toBe('The client certificate was not accepted.');
  });

  it('a valid token works alongside a certificate; disagreeing integrations are refused', async () => {
    const tokens = app.get(TokenService);
    const cert = { cert: pki.sampleClient.certPem, key: pki.sampleClient.keyPem };
    const analyst = await call('GET', '/t/events', { ...cert, token: await tokens.issue({ role: 'soc_analyst' }) });
    expect(analyst.body).toMatchObject({ via: 'token', role: 'soc_analyst' });
    const other = await call('POST', '/t/events', { ...cert, token: await tokens.issue({ role: 'integration', sub: 'billing' }) });
    expect(other.status).toBe(401);
    const same = await call('POST', '/t/events', { ...cert, token: await tokens.issue({ role: 'integration' }) });
    expect(same.status).toBe(202);
  });

  it('bearer tokens work over TLS without a client certificate', async () => {
    const token = await app.get(TokenService).issue({ role: 'integration', sub: 'billing' });
    const r = await call('POST', '/t/events', { token });
    expect(r).toEqual({ status: 202, body: { sub: 'billing', via: 'token', integration: 'billing' } });
  });
});
