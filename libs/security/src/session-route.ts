/**
 * Routes for people signed in to the web console: `@SessionRoute()` on a controller makes the global
 * guard authenticate its routes by the console session cookie (through the SESSION_AUTHENTICATOR the
 * console provides) instead of a bearer token or client certificate. Scopes are then checked exactly
 * as for the API (`@RequireScope`), and refusals reach the same AUTH_EVENT_SINK. Cookie-authenticated
 * routes exist only there, so the API itself never accepts a cookie (no CSRF exposure).
 */
import { SetMetadata } from '@nestjs/common';
import type { Principal } from './principal';

export const SESSION_ROUTE_KEY = 'security:session-route';
export const SESSION_AUTHENTICATOR = Symbol('SESSION_AUTHENTICATOR');

export interface SessionAuthenticator {
  /**
   * The principal of the request's session. Throws a ProblemError: 401 without a valid session, 403
   * when a state-changing request lacks its CSRF token or comes from another origin. May throw other
   * errors the route's own exception filter understands (e.g. a redirect to a password change).
   */
  authenticate(req: unknown): Promise<Principal>;
}

export function SessionRoute(): ClassDecorator {
  return SetMetadata(SESSION_ROUTE_KEY, true);
}
