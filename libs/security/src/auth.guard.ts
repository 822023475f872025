/**
 * The global authentication and authorization guard (registered as APP_GUARD by SecurityModule).
 * Default deny: a route without @RequireScope or @Public is refused (403). Otherwise the caller is
 * authenticated by bearer token (TokenService) or by a client certificate the TLS layer has verified
 * (`req.socket.authorized`), mapped to an integration principal; the principal goes on `req.principal`
 * and must hold every scope the route requires. Failures are ProblemErrors (401/403/503) and are
 * reported, without secrets, to an optional AUTH_EVENT_SINK (the access log records them as denied
 * accesses) and awaited, so a refusal the sink records is durable before the answer leaves.
 * Nothing is logged here.
 */
import type { TLSSocket } from 'node:tls';
import { Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ProblemError, Problems } from '@app/core';
import { principalFromCertificate } from './integration-identity';
import type { Principal, RequestWithPrincipal } from './principal';
import { resolveRouteSecurity } from './require-scope.decorator';
import { AUTH_EVENT_SINK, type AuthEventSink, type AuthFailureEvent } from './auth-event-sink.port';
import { SESSION_ROUTE_KEY } from './session-route';
import { SESSION_AUTHENTICATOR, type SessionAuthenticator } from './session-authenticator.port';
import { hasAllScopes, type Scope } from './scopes';
import { TokenError, TokenService } from './token.service';

/** What the guard reads from a request (express's Request satisfies it). */
interface GuardRequest extends RequestWithPrincipal {
  method?: string;
  headers?: Record<string, string | string[] | undefined>;
  socket?: Partial<TLSSocket> & { remoteAddress?: string };
  /** Express: the client address (X-Forwarded-For only from TRUSTED_PROXIES), else the peer's. */
  ip?: string;
  route?: { path?: string };
  baseUrl?: string;
}

const BEARER = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)[ ]*$/i;

type CertOutcome =
  | { kind: 'none' }
  | { kind: 'rejected'; reason: string; clientSubject?: string }
  | { kind: 'ok'; principal: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  /** Client-certificate outcome per TLS connection (the certificate cannot change on a connection). */
  private readonly certCache = new WeakMap<object, CertOutcome>();
  /** Requests authenticated before their body was read (authenticateBeforeBody); the guard reuses the principal. */
  private readonly early = new WeakMap<object, Principal>();

  private revocations: { certificateRevoked(serial: string): boolean } | null = null;

  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    @Optional() @Inject(AUTH_EVENT_SINK) private readonly sink?: AuthEventSink,
    @Optional() @Inject(SESSION_AUTHENTICATOR) private readonly sessions?: SessionAuthenticator,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') throw Problems.forbidden('route declares no scope');
    const req = ctx.switchToHttp().getRequest<GuardRequest>();
    const security = resolveRouteSecurity(this.reflector, ctx.getHandler(), ctx.getClass());
    if (security.kind === 'undeclared') {
      await this.report(req, { kind: 'undeclared-route', status: 403, reason: 'route declares no scope' });
      throw Problems.forbidden('route declares no scope');
    }
    if (security.kind === 'public') return true;

    const sessionRoute = this.reflector.get<boolean | undefined>(SESSION_ROUTE_KEY, ctx.getClass()) === true;
    await this.authorize(req, security.scopes, sessionRoute);
    return true;
  }

  /**
   * What the guard does for a route that declares scopes: the principal found before the body was
   * read (or authenticated now; the console session on session routes) goes on `req.principal` and
   * must hold every scope, else 403 (reported). Also used by the lean POST /v1/events route
   * (apps/api/src/http/lean-events-route.ts), which runs outside Nest's pipeline.
   */
  async authorize(req: GuardRequest, scopes: readonly Scope[], sessionRoute = false): Promise<Principal> {
    const principal = sessionRoute ? await this.authenticateSession(req) : (this.early.get(req) ?? (await this.authenticate(req)));
    req.principal = principal;
    if (!hasAllScopes(principal.scopes, scopes)) {
      await this.report(req, { kind: 'forbidden', status: 403, reason: 'missing scope', principal: brief(principal), requiredScopes: scopes });
      throw Problems.forbidden(`This call requires the scope ${scopes.join(' and ')}, which the role ${principal.role} does not have.`);
    }
    return principal;
  }

  /**
   * Authenticates a request before its body is read (issue 22: an unauthenticated client must not
   * make the server buffer megabytes, or hold a connection open one byte at a time). Refusals are
   * reported like the guard's own, with the request path as route. The guard later reuses the
   * principal and still checks the route's scopes.
   */
  async authenticateBeforeBody(req: GuardRequest & { path?: string }): Promise<Principal> {
    const principal = await this.authenticate(req, req.path);
    this.early.set(req, principal);
    return principal;
  }

  /** Bearer token if an Authorization header is present, else a verified client certificate; else 401. */
  async authenticate(req: GuardRequest, routeHint?: string): Promise<Principal> {
    const report = (event: Omit<AuthFailureEvent, 'method' | 'route' | 'remoteAddress'>) => this.report(req, event, routeHint);
    const cert = this.certificateOutcome(req);
    if (cert.kind === 'rejected') {
      await report({ kind: 'certificate-rejected', status: 401, reason: cert.reason, clientSubject: cert.clientSubject });
      throw Problems.unauthorized('The client certificate was not accepted.');
    }
    const header = req.headers?.authorization;
    if (header !== undefined) {
      const match = typeof header === 'string' ? BEARER.exec(header) : null;
      if (!match) {
        await report({ kind: 'token-rejected', status: 401, reason: 'malformed authorization header' });
        throw Problems.unauthorized('The Authorization header must carry a Bearer token.');
      }
      let principal: Principal;
      try {
        principal = await this.tokens.verify(match[1]!);
      } catch (err) {
        const code = err instanceof TokenError ? err.code : 'invalid';
        if (code === 'unavailable') {
          await report({ kind: 'token-rejected', status: 503, reason: 'verification unavailable' });
          throw Problems.unavailable('Token verification is temporarily unavailable.', 5);
        }
        const tokenSubject = err instanceof TokenError ? err.subject : undefined;
        await report({ kind: 'token-rejected', status: 401, reason: code, ...(tokenSubject ? { tokenSubject } : {}) });
        throw Problems.unauthorized(code === 'expired' ? 'The bearer token has expired.' : 'The bearer token is not valid.');
      }
      if (cert.kind === 'ok' && principal.role === 'integration' && principal.integration !== cert.principal.integration) {
        await report({ kind: 'token-rejected', status: 401, reason: 'token and certificate name different integrations', principal: brief(principal) });
        throw Problems.unauthorized('The bearer token and the client certificate name different integrations.');
      }
      return principal;
    }
    if (cert.kind === 'ok') return cert.principal;
    await report({ kind: 'unauthenticated', status: 401, reason: 'no credentials' });
    throw Problems.unauthorized();
  }

  /** Web console routes: the session cookie only (see session-route.ts). */
  private async authenticateSession(req: GuardRequest): Promise<Principal> {
    if (!this.sessions) throw Problems.unauthorized('Sign in to the console.');
    try {
      return await this.sessions.authenticate(req);
    } catch (err) {
      if (err instanceof ProblemError && (err.status === 401 || err.status === 403)) {
        await this.report(req, { kind: err.status === 401 ? 'unauthenticated' : 'forbidden', status: err.status, reason: err.status === 401 ? 'no console session' : String(err.body.detail ?? 'refused') });
      }
      throw err;
    }
  }

  /** Consult a revocation list for client certificates (by serial), on every request. */
  useRevocations(list: { certificateRevoked(serial: string): boolean }): void {
    this.revocations = list;
  }

  private certificateOutcome(req: GuardRequest): CertOutcome {
    const outcome = this.certificateOutcomeOnce(req);
    if (outcome.kind === 'ok' && this.revocations && req.socket) {
      const serial = req.socket.getPeerCertificate?.().serialNumber;
      let revoked: boolean;
      try {
        revoked = typeof serial === 'string' && this.revocations.certificateRevoked(serial);
      } catch {
        return { kind: 'rejected', reason: 'revocation list unavailable', clientSubject: outcome.principal.sub };
      }
      if (revoked) return { kind: 'rejected', reason: 'certificate revoked', clientSubject: outcome.principal.sub };
    }
    return outcome;
  }

  private certificateOutcomeOnce(req: GuardRequest): CertOutcome {
    const socket = req.socket;
    if (!socket || typeof socket.getPeerCertificate !== 'function') return { kind: 'none' };
    const cached = this.certCache.get(socket);
    if (cached) return cached;
    let outcome: CertOutcome;
    const peer = socket.getPeerCertificate();
    if (!peer || Object.keys(peer).length === 0) outcome = { kind: 'none' };
    else {
      const subject = subjectOf(peer.subject as unknown as Record<string, unknown> | undefined);
      if (socket.authorized !== true) {
        const code = socket.authorizationError;
        outcome = { kind: 'rejected', reason: typeof code === 'string' ? code : code ? String(code.message ?? code) : 'unauthorized', clientSubject: subject };
      } else {
        const mapped = principalFromCertificate(peer);
        outcome = mapped.ok ? { kind: 'ok', principal: mapped.principal } : { kind: 'rejected', reason: mapped.reason, clientSubject: subject };
      }
    }
    this.certCache.set(socket, outcome);
    return outcome;
  }

  private async report(req: GuardRequest, event: Omit<AuthFailureEvent, 'method' | 'route' | 'remoteAddress'>, routeHint?: string): Promise<void> {
    if (!this.sink) return;
    try {
      await this.sink.authFailure({
        ...event,
        method: req.method ?? 'UNKNOWN',
        route: (req.baseUrl ?? '') + (req.route?.path ?? '') || routeHint || '(unmatched)',
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      });
    } catch {
      /* a failing sink must not change the answer */
    }
  }
}

function brief(p: Principal): Pick<Principal, 'sub' | 'role' | 'via' | 'integration'> {
  return { sub: p.sub, role: p.role, via: p.via, integration: p.integration };
}

function subjectOf(subject: Record<string, unknown> | undefined): string | undefined {
  if (!subject) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(subject)) for (const value of Array.isArray(v) ? v : [v]) parts.push(`${k}=${String(value)}`);
  return parts.join(', ') || undefined;
}
