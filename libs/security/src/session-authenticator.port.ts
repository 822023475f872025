/** Port: how the guard authenticates `@SessionRoute()` routes by the console's session cookie (SESSION_AUTHENTICATOR, provided by the console). */
import type { Principal } from './principal';

export const SESSION_AUTHENTICATOR = Symbol('SESSION_AUTHENTICATOR');

export interface SessionAuthenticator {
  /**
   * The principal of the request's session. Throws a ProblemError: 401 without a valid session, 403
   * when a state-changing request lacks its CSRF token or comes from another origin. May throw other
   * errors the route's own exception filter understands (e.g. a redirect to a password change).
   */
  authenticate(req: unknown): Promise<Principal>;
}
