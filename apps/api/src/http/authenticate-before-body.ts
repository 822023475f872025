/**
 * Authenticate before reading a body (issue 22, "unauthenticated slow bodies"): a request to the API
 * (`/v1/…`, `/fhir…`) that announces a body is authenticated from its headers first. Without valid
 * credentials it is answered 401 at once with `Connection: close`, and its body is never read, so an
 * anonymous client can neither make the service buffer megabytes nor hold a reader open one byte at
 * a time. The guard still checks the route's scopes later (and reuses the principal found here).
 */
import type { NextFunction, Request, Response } from 'express';
import type { AuthGuard } from '@app/security';
import { outcomeFromProblem, sendOutcome } from '../fhir/fhir-http';
import { sendProblem, toProblem } from './problem.filter';

/** Paths whose every route needs credentials (public routes with bodies, such as a console sign-in, live elsewhere). */
const AUTHENTICATED_PREFIXES = ['/v1/', '/fhir'];

function announcesBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function authenticateBeforeBody(guard: Pick<AuthGuard, 'authenticateBeforeBody'>) {
  type GuardInput = Parameters<AuthGuard['authenticateBeforeBody']>[0];
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!announcesBody(req) || !AUTHENTICATED_PREFIXES.some((p) => req.path.startsWith(p))) return next();
    guard.authenticateBeforeBody(req as unknown as GuardInput).then(
      () => next(),
      (err: unknown) => {
        // The unread body stays unread: the connection closes once the refusal is sent.
        res.setHeader('Connection', 'close');
        const problem = toProblem(err);
        // FHIR clients get their error shape (OperationOutcome), as from every other /fhir refusal.
        if (req.path === '/fhir' || req.path.startsWith('/fhir/')) sendOutcome(res, problem.status, outcomeFromProblem(problem), problem.headers);
        else sendProblem(res, problem);
      },
    );
  };
}
