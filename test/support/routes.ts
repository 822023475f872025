/**
 * Enumerates every route of a running Nest app, twice over: from the controllers Nest knows
 * (ModulesContainer + route metadata, with the security declaration resolveRouteSecurity reads) and
 * from the routes actually mounted on the Express router. Tests compare both, so a route added
 * later by any module is covered automatically, and one mounted outside Nest cannot hide.
 */
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { resolveRouteSecurity, RouteSecurity, SESSION_ROUTE_KEY } from '@app/security';

export interface AppRoute {
  method: string;
  /** Express-style pattern, e.g. /v1/events/:id */
  path: string;
  controller: string;
  handler: string;
  security: RouteSecurity;
  /** A web console route (@SessionRoute): authenticated by the console session cookie, never by a bearer token. */
  session: boolean;
}

function joinPath(...parts: string[]): string {
  const joined = '/' + parts.map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p.length > 0).join('/');
  return joined;
}

function asList(value: unknown): string[] {
  if (value === undefined) return ['/'];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/** Routes of every controller of every module, with their security declaration. */
export function nestRoutes(app: NestExpressApplication): AppRoute[] {
  const reflector = app.get(Reflector);
  const scanner = new MetadataScanner();
  const routes: AppRoute[] = [];
  const seen = new Set<unknown>();
  for (const moduleRef of app.get(ModulesContainer).values()) {
    for (const wrapper of moduleRef.controllers.values()) {
      // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
      const cls = wrapper.metatype as Function | undefined;
      if (!cls || seen.has(cls)) continue;
      seen.add(cls);
      const prefixes = asList(Reflect.getMetadata(PATH_METADATA, cls));
      for (const name of scanner.getAllMethodNames(cls.prototype)) {
        // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
        const handler = cls.prototype[name] as Function;
        const own = Reflect.getMetadata(PATH_METADATA, handler) as unknown;
        if (own === undefined) continue; // not a route handler
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod] ?? 'GET';
        for (const prefix of prefixes) {
          for (const p of asList(own)) {
            routes.push({
              method,
              path: joinPath(prefix, p),
              controller: cls.name,
              handler: name,
              security: resolveRouteSecurity(reflector, handler, cls),
              session: reflector.get<boolean | undefined>(SESSION_ROUTE_KEY, cls) === true,
            });
          }
        }
      }
    }
  }
  return routes;
}

/** `METHOD path` of every route mounted on the Express router (Nest's and any other). */
export function expressRoutes(app: NestExpressApplication): string[] {
  const instance = app.getHttpAdapter().getInstance() as { router?: { stack: unknown[] }; _router?: { stack: unknown[] } };
  const stack = (instance.router ?? instance._router)?.stack ?? [];
  const out: string[] = [];
  for (const layer of stack as Array<{ route?: { path: string | string[]; methods: Record<string, boolean> } }>) {
    if (!layer.route) continue;
    for (const p of Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path]) {
      for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push(`${m.toUpperCase()} ${p}`);
    }
  }
  return out;
}
