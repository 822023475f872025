/**
 * Authenticates console requests by their session cookie (the SESSION_AUTHENTICATOR the global guard
 * uses on @SessionRoute controllers): no live session is a 401 (the console's filter sends the browser
 * to sign-in); a session that must still set its password is sent to that page; every state-changing
 * request must come from this origin (Origin, else Referer) and carry the session's CSRF token (form
 * field `_csrf` or header `x-csrf-token`), else 403. The principal carries the role's scopes, exactly
 * as a bearer token of that role would.
 */
import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { Problems } from '@app/core';
import { ActiveSession, ConsoleSessions, sameToken } from '@app/console';
import { Principal, scopesForRole, SessionAuthenticator } from '@app/security';
import { ConsoleRedirect } from './console-errors';

export interface ConsoleRequest extends Request {
  consoleSession?: ActiveSession;
  principal?: Principal;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Pages a session that must change its password may still use. */
const PASSWORD_PATHS = new Set(['/console/password', '/console/sign-out']);

@Injectable()
export class ConsoleSessionAuthenticator implements SessionAuthenticator {
  constructor(private readonly sessions: ConsoleSessions) {}

  async authenticate(raw: unknown): Promise<Principal> {
    const req = raw as ConsoleRequest;
    const session = await this.sessions.resolve(req.headers.cookie);
    if (!session) throw Problems.unauthorized('Sign in to the console.');
    if (!SAFE_METHODS.has(req.method)) {
      if (!sameOrigin(req)) throw Problems.forbidden('This form was sent from another site.');
      const body = req.body as Record<string, unknown> | undefined;
      const sent = typeof body?._csrf === 'string' ? body._csrf : req.headers['x-csrf-token'];
      if (!sameToken(typeof sent === 'string' ? sent : null, session.csrf)) throw Problems.forbidden('The form is missing its CSRF token or it is stale; reload the page.');
    }
    if (session.mustChange && !PASSWORD_PATHS.has(req.path)) throw new ConsoleRedirect('/console/password');
    req.consoleSession = session;
    return { sub: session.userName, role: session.role, scopes: scopesForRole(session.role), via: 'session', credentialId: `session:${session.idHash.slice(0, 16)}` };
  }
}

/** Whether the request's Origin (or, without one, its Referer) is this service. */
export function sameOrigin(req: Request): boolean {
  const own = `${req.protocol}://${req.headers.host ?? ''}`;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') return origin === own;
  const referer = req.headers.referer;
  if (typeof referer !== 'string') return false;
  try {
    return new URL(referer).origin === own;
  } catch {
    return false;
  }
}
