/**
 * Routes for people signed in to the web console: `@SessionRoute()` on a controller makes the global
 * guard authenticate its routes by the console session cookie (through the SESSION_AUTHENTICATOR the
 * console provides) instead of a bearer token or client certificate. Scopes are then checked exactly
 * as for the API (`@RequireScope`), and refusals reach the same AUTH_EVENT_SINK. Cookie-authenticated
 * routes exist only there, so the API itself never accepts a cookie (no CSRF exposure).
 */
import { SetMetadata } from '@nestjs/common';

export const SESSION_ROUTE_KEY = 'security:session-route';
export function SessionRoute(): ClassDecorator {
  return SetMetadata(SESSION_ROUTE_KEY, true);
}
