/**
 * What the console needs from Express, outside Nest's controllers: Handlebars as the view engine,
 * its static CSS and JavaScript under /console/static, form bodies (urlencoded) on console routes,
 * and its own Content-Security-Policy (scripts and styles only from this origin, no inline script,
 * no framing, forms only to this origin), replacing the API's `default-src 'none'` on /console, and a
 * same-origin Referrer-Policy (with `no-referrer` browsers send `Origin: null` on form posts).
 */
import * as path from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { consoleAssetsDir, consoleViewEngine } from './console-views';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function mountConsole(app: NestExpressApplication): void {
  const dir = consoleAssetsDir();
  app.engine('hbs', consoleViewEngine(path.join(dir, 'views')));
  app.setBaseViewsDir(path.join(dir, 'views'));
  app.setViewEngine('hbs');
  app.use('/console', (req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    // Same-origin referrers let the browser send a real Origin on form posts (CSRF check); other sites get none.
    res.setHeader('Referrer-Policy', 'same-origin');
    next();
  });
  app.use('/console', express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 }));
  app.useStaticAssets(path.join(dir, 'static'), { prefix: '/console/static/', index: false, maxAge: 0 });
}
