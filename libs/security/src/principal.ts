/**
 * Who is calling: the authenticated principal the guard puts on `req.principal`, and the
 * `@CurrentPrincipal()` parameter decorator that hands it to a controller method.
 */
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Role, Scope } from './scopes';

export interface Principal {
  /** Subject: the token's `sub`, or the integration id for a client certificate. */
  sub: string;
  role: Role;
  /** Derived from the role through ROLE_SCOPES (never taken from the credential itself). */
  scopes: Scope[];
  /** `session`: a person signed in to the web console. */
  via: 'token' | 'mtls' | 'session';
  /** The integration this caller speaks for (role `integration` only). */
  integration?: string;
  /** Token id (`jti`) or certificate serial number, for the access log; never a secret. */
  credentialId?: string;
  /** Certificate subject DN, when authenticated by mTLS. */
  clientSubject?: string;
}

/** The request shape the guard fills in (works with express and any request object). */
export interface RequestWithPrincipal {
  principal?: Principal;
}

/** `@CurrentPrincipal() p: Principal` in a controller method. Undefined on `@Public()` routes. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal | undefined => {
  const req = ctx.switchToHttp().getRequest<RequestWithPrincipal>();
  return req.principal;
});
