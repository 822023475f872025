/**
 * Who may read the operational endpoints (issue 22): /metrics and the OpenAPI documentation (/docs,
 * /docs-json, /docs-yaml) are public unless OPS_ENDPOINTS_AUTH=true, when they need any valid
 * credential (401 otherwise). Per-rule alert counters (the restricted metrics) are shown only to
 * callers whose role may read alerts or operations (alerts:read, ops:read), so a snooper cannot
 * watch whether their reads tripped a rule. Credentials that are presented are always checked.
 */
import type { NextFunction, Request, Response } from 'express';
import { Problems } from '@app/core';
import type { AuthGuard, Principal } from '@app/security';
import { sendProblem, toProblem } from './problem.filter';

type GuardInput = Parameters<AuthGuard['authenticate']>[0];

function presentsCredentials(req: Request): boolean {
  // An empty `Authorization: Bearer ` (clients without a token send it) carries no credential.
  const header = req.headers.authorization;
  if (header !== undefined && !/^\s*(Bearer\s*)?$/i.test(header)) return true;
  const socket = req.socket as Partial<import('node:tls').TLSSocket>;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  return peer !== undefined && peer !== null && Object.keys(peer).length > 0;
}

/** The caller of an operational endpoint: undefined when anonymous and allowed; throws 401 problems. */
export async function opsCaller(guard: Pick<AuthGuard, 'authenticate'>, req: Request, authRequired: boolean): Promise<Principal | undefined> {
  if (!presentsCredentials(req)) {
    if (authRequired) throw Problems.unauthorized('This service requires credentials for its operational endpoints (OPS_ENDPOINTS_AUTH).');
    return undefined;
  }
  return guard.authenticate(req as unknown as GuardInput, req.path);
}

/** Whether the caller sees the restricted metrics (per-rule alert counters). */
export function seesRestrictedMetrics(p: Principal | undefined): boolean {
  return p !== undefined && (p.scopes.includes('alerts:read') || p.scopes.includes('ops:read'));
}

/** Express middleware for the documentation routes (mounted before Swagger's). */
export function documentationAccess(guard: Pick<AuthGuard, 'authenticate'>, authRequired: boolean) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!authRequired) return next();
    opsCaller(guard, req, true).then(
      () => next(),
      (err: unknown) => sendProblem(res, toProblem(err)),
    );
  };
}
