/**
 * Renders every error as application/problem+json (RFC 9457): ProblemErrors as they are, Nest
 * HTTP exceptions and body-parser failures mapped to stable types, anything else as a generic
 * 500 without a stack trace or any submitted value.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { PROBLEM_BASE, ProblemBody, ProblemError, Problems } from '@app/core';
import { DerivedColumnMismatchError, IntegrityBrokenError } from '@app/storage';
import { JsonLogger } from './json-logger';

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

export function toProblem(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err;
  const bp = err as BodyParserError;
  switch (bp?.type) {
    case 'entity.too.large':
      return Problems.tooLarge('The request body is larger than this service accepts; split the batch.');
    case 'entity.parse.failed':
      return Problems.badRequest('The request body is not valid JSON.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return Problems.unsupportedMediaType('Send the body as UTF-8 JSON.');
    case 'request.aborted':
      return Problems.badRequest('The request was aborted.');
    case 'entity.verify.failed':
      return Problems.badRequest('The request body was refused.');
  }
  if (err instanceof IntegrityBrokenError) return integrityBroken(err);
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 404) return Problems.notFound('No such route.');
    if (status === 401) return Problems.unauthorized();
    if (status === 403) return Problems.forbidden();
    if (status === 413) return Problems.tooLarge('The request body is too large.');
    if (status === 429) return Problems.tooManyRequests(1);
    if (status < 500) return new ProblemError(status, 'http-' + status, err.name.replace(/Exception$/, '') || 'Error');
    return new ProblemError(status, 'http-' + status, 'Server error');
  }
  return new ProblemError(500, 'internal', 'Internal error', { detail: 'The service failed to handle this request; it has been logged.' });
}

/**
 * The store's integrity is broken where this answer reads (a known break, or a record the answer
 * would include failed its re-check): the whole answer is refused, naming chain, seq, kind and
 * column, never record content, so no one takes a tampered answer for a complete one
 * (docs/operations.md "Queries re-check what they return").
 */
export function integrityBroken(err: IntegrityBrokenError): ProblemError {
  const what = err instanceof DerivedColumnMismatchError ? `a returned record (chain ${err.chain} seq ${err.seq}) has its ${err.column} column changed from what its hashed record says` : `integrity break known at chain ${err.chain} seq ${err.seq} kind ${err.kind}${err.column ? ` column ${err.column}` : ''}`;
  return new ProblemError(500, 'integrity-broken', 'Audit log integrity is broken', {
    detail: `This answer cannot be trusted: ${what}. Run auditctl verify and follow runbooks/integrity-break.hbs.`,
  });
}

export function sendProblem(res: Response, problem: ProblemError): void {
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(problem.headers)) res.setHeader(k, v);
  res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem.body satisfies ProblemBody));
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(
    private readonly logger: JsonLogger,
    /** Told about a record that failed its re-check in a query (chain, seq, kind, column). */
    private readonly onIntegrityBreak?: (b: { chain: string; seq: number; kind: 'modified'; column: string }) => void,
  ) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    this.answer(err, ctx.getRequest<Request>(), ctx.getResponse<Response>());
  }

  /** The answer to `err` (also for routes served outside Nest's pipeline: lean-events-route.ts). */
  answer(err: unknown, req: Request, res: Response): void {
    const problem = toProblem(err);
    if (err instanceof DerivedColumnMismatchError) this.onIntegrityBreak?.({ chain: err.chain, seq: err.seq, kind: 'modified', column: err.column! });
    if (problem.status >= 500 && problem.body.type === PROBLEM_BASE + 'internal') {
      // The error's own message may quote data; log only its class and where it happened.
      this.logger.event('error', 'unhandled error', { errorClass: (err as Error)?.constructor?.name ?? typeof err, route: routeOf(req) });
    }
    sendProblem(res, problem);
  }
}

/** The matched route pattern (e.g. /v1/events/:id), never the concrete URL with identifiers. */
export function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: string } }).route?.path;
  return route ?? 'unmatched';
}
