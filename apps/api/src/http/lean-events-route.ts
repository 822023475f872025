/**
 * The lean route for POST /v1/events (issue 19, item 1): the ingest call served straight from the
 * Express stack instead of through Nest's router, guard, interceptor and rxjs pipeline, which cost
 * the event loop about 0.6 ms a request (profiled: router-execution-context, the interceptors'
 * AsyncResource binding, rxjs operators, Express's walk over every middleware and route) when a
 * single-event integration posts one event per request.
 *
 * It runs the same steps in the same order with the same code, so nothing an integration, an
 * operator or an auditor sees changes:
 * - security headers, the request log and authentication before the body are the middleware ahead
 *   of it (adapter.beforeEverything in app.ts), as for every route;
 * - the body is read by the same hostile-JSON reader and its refusals are rendered as problems;
 * - AuthGuard.authorize: the principal found before the body (or bearer token / client certificate
 *   now), its scopes against the route's @RequireScope, refusals reported to the access log;
 * - EventsController.post itself (media type, rate limit and source ownership, validation, storage);
 * - a 403 for a source the caller does not own recorded as the access-log interceptor does;
 * - 202 with the receipts as JSON, written as Express's res.json writes it (`sendJson`: the same
 *   Content-Type, Content-Length and ETag), and every error through the global ProblemFilter.
 * The Nest route stays registered: OpenAPI, route-security checks, and requests the lean route
 * leaves alone (another method, a path spelled differently such as `/v1/events/`) still reach it.
 * `req.route` is set to the route's path so that logs and access-log records name `/v1/events` as
 * they do for the Nest route.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Reflector } from '@nestjs/core';
import { recordSourceRefusal, type DeniedAccessRecorder } from '@app/pipeline';
import { resolveRouteSecurity, type AuthGuard, type Principal, type Scope } from '@app/security';
import { EventsController } from '../controllers/events.controller';
import { sendProblem, toProblem, type ProblemFilter } from './problem.filter';

type Handler = (req: Request, res: Response, next: NextFunction) => void;

export interface LeanEventsRouteDeps {
  controller: EventsController;
  guard: Pick<AuthGuard, 'authorize'>;
  reflector: Reflector;
  /** The global body reader (the same instance app.use mounts). */
  bodyReader: Handler;
  filter: Pick<ProblemFilter, 'answer'>;
  denials?: DeniedAccessRecorder;
}

/** What Express sets as req.route for the Nest route (only its path is read: logs, access log). */
const ROUTE = Object.freeze({ path: '/v1/events' });

/**
 * The 202 as Express's res.json + res.send write it for a POST (Express 5: JSON.stringify with the
 * app's json settings, `Content-Type: application/json; charset=utf-8`, Content-Length, the app's
 * ETag of the body bytes; a POST is never fresh, so never a 304), without their per-call header
 * lookups, content-type parsing and re-formatting (about 1 % of the event loop under `npm run
 * bench`). Whatever this does not cover (json replacer / spaces / escape set on the app, a
 * Content-Type or ETag already set, another method) goes through res.json itself.
 * test/ingest-lean-route.e2e-spec.ts compares the headers with the Nest route's res.json.
 */
export function sendJson(req: Request, res: Response, value: unknown): void {
  const app = req.app;
  if (
    req.method !== 'POST' ||
    app.get('json replacer') !== undefined ||
    app.get('json spaces') !== undefined ||
    app.get('json escape') ||
    res.getHeader('Content-Type') !== undefined ||
    res.getHeader('ETag') !== undefined
  ) {
    res.json(value);
    return;
  }
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  const etagFn: unknown = app.get('etag fn');
  if (typeof etagFn === 'function') {
    const tag: unknown = (etagFn as (body: Buffer, encoding?: string) => unknown)(body, undefined);
    if (tag) res.setHeader('ETag', tag as string);
  }
  res.end(body);
}

export function leanEventsRoute(deps: LeanEventsRouteDeps): Handler {
  // The scopes the controller declares for the handler (one reading of the metadata, at start).
  const security = resolveRouteSecurity(deps.reflector, EventsController.prototype.post, EventsController);
  if (security.kind !== 'scopes') throw new Error('POST /v1/events must declare its scopes');
  const scopes: readonly Scope[] = security.scopes;
  const { controller, guard, bodyReader, filter, denials } = deps;

  const fail = (req: Request, res: Response, err: unknown): void => filter.answer(err, req, res);

  const handle = async (req: Request, res: Response): Promise<void> => {
    let principal: Principal;
    try {
      principal = await guard.authorize(req as unknown as Parameters<AuthGuard['authorize']>[0], scopes);
    } catch (err) {
      return fail(req, res, err);
    }
    // As Nest does once the guard passed: the route's status first (an error replaces it).
    res.status(202);
    let answer: Awaited<ReturnType<EventsController['post']>>;
    try {
      answer = await controller.post(req, req.body, principal);
    } catch (err) {
      try {
        await recordSourceRefusal(denials, req as unknown as Parameters<typeof recordSourceRefusal>[1], err);
      } catch (recordErr) {
        return fail(req, res, recordErr);
      }
      return fail(req, res, err);
    }
    // Nothing is sent to a client that is gone (as Nest's router does).
    if (req.socket.destroyed) return;
    sendJson(req, res, answer);
  };

  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== ROUTE.path) return next();
    (req as Request & { route: unknown }).route = ROUTE;
    bodyReader(req, res, (err?: unknown) => {
      // As the error middleware after the body reader renders its refusals (app.ts).
      if (err) return sendProblem(res, toProblem(err));
      handle(req, res).catch((e: unknown) => fail(req, res, e));
    });
  };
}
