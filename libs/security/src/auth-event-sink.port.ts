/** Port: where the auth guard (and the TLS layer) report every refused request, without secrets (AUTH_EVENT_SINK). */
import type { Principal } from './principal';
import type { Scope } from './scopes';

/**
 * Optional provider (make it global) receiving every refused request. Must not throw; a returned
 * promise is awaited before the refusal is answered (so keep it short: the access log writes at most
 * the first refusal per source and reason a minute, and only counts the rest).
 */
export const AUTH_EVENT_SINK = Symbol('AUTH_EVENT_SINK');

export interface AuthFailureEvent {
  /** `source-refused`: reported by the access log itself for a handler's 403 (an event whose source the caller does not own). */
  /** `tls-handshake-failed`: reported by the HTTPS server for a connection refused before any request (method `TLS`, route `handshake`). */
  kind: 'undeclared-route' | 'unauthenticated' | 'token-rejected' | 'certificate-rejected' | 'forbidden' | 'source-refused' | 'tls-handshake-failed';
  status: 401 | 403 | 503;
  /** Short machine-friendly reason (e.g. a TLS verification code like CERT_HAS_EXPIRED). */
  reason: string;
  method: string;
  /** The route pattern (e.g. /v1/events/:id), never the request URL with its query. */
  route: string;
  remoteAddress?: string;
  /** Subject DN of a presented client certificate. */
  clientSubject?: string;
  principal?: Pick<Principal, 'sub' | 'role' | 'via' | 'integration'>;
  /** Subject of a token whose signature verified but which was refused (expired, ...); never from an unverified token. */
  tokenSubject?: string;
  requiredScopes?: readonly Scope[];
}

export interface AuthEventSink {
  authFailure(event: AuthFailureEvent): void | Promise<void>;
}
