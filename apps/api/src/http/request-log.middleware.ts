/** Access log without PHI: method, route pattern, status, duration; never the URL or body. */
import type { NextFunction, Request, Response } from 'express';
import { JsonLogger } from './json-logger';
import { routeOf } from './problem.filter';

export function requestLog(logger: JsonLogger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const principal = (req as Request & { principal?: { role?: string } }).principal;
      logger.event('info', 'request', {
        method: req.method,
        route: routeOf(req),
        status: res.statusCode,
        durationMs: Math.round(ms * 10) / 10,
        role: principal?.role ?? null,
      });
    });
    next();
  };
}
