/**
 * Errors on console pages become pages, not problem+json: no session sends the browser to sign-in
 * (returning to the page afterwards), a missing scope shows a 403 page, bad input a 400 page naming
 * the field (never its value), a known integrity break the "Audit log integrity is broken" page
 * naming chain, seq and column, anything else a generic page. Logged without request data.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { ProblemError } from '@app/core';
import { safeNext } from '@app/console';
import type { ConsoleRequest } from './console-session.authenticator';
import { ConsoleRedirect } from './console-errors';
import { IntegrityBrokenError } from '@app/storage';
import { integrityBroken } from '../http/problem.filter';
import { pageModel } from './console-page';

@Catch()
export class ConsoleExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Console');

  catch(thrown: unknown, host: ArgumentsHost): void {
    // A page that would be drawn from a tampered store says so (docs/operations.md "Queries re-check what they return").
    const err = thrown instanceof IntegrityBrokenError ? integrityBroken(thrown) : thrown;
    const req = host.switchToHttp().getRequest<ConsoleRequest>();
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ConsoleRedirect) return void res.redirect(303, err.location);
    let status = 500;
    let title = 'Something went wrong';
    let detail = 'The page could not be shown. Try again; if it persists, tell your administrator.';
    let fields: string[] = [];
    if (err instanceof ProblemError) {
      status = err.status;
      title = err.body.title;
      detail = typeof err.body.detail === 'string' ? err.body.detail : title;
      fields = (err.body.errors ?? []).map((e) => `${e.pointer}: ${e.message}`);
    } else if (err instanceof HttpException) {
      status = err.getStatus();
      title = status === 404 ? 'Not found' : 'Request refused';
      detail = status === 404 ? 'There is no such page.' : 'The request was refused.';
    }
    if (status === 401) {
      const next = req.method === 'GET' ? safeNext(req.originalUrl) : undefined;
      return void res.redirect(303, next ? `/console/sign-in?next=${encodeURIComponent(next)}` : '/console/sign-in');
    }
    if (status === 403 && !fields.length) title = 'Not allowed';
    if (status >= 500) this.logger.error(`console page failed: ${(err as Error)?.name ?? 'error'} on ${req.method} ${(req.baseUrl ?? '') + (req.route?.path ?? '')}`);
    if (err instanceof ProblemError) for (const [k, v] of Object.entries(err.headers)) if (k.toLowerCase() === 'retry-after') res.setHeader(k, v);
    res.status(status).render('error', pageModel(req, title, { status, detail, fields }));
  }
}
