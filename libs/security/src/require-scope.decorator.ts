/**
 * Route decorators declaring what a route needs: `@RequireScope(...scopes)` (every listed scope is
 * required) or `@Public()` (health, metrics, docs). A route with neither is refused by the guard
 * (default deny). `resolveRouteSecurity` is the single reading of that metadata, shared by the guard
 * and by tests that enumerate every route.
 */
import { applyDecorators, SetMetadata } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import { isScope, type Scope } from './scopes';

export const REQUIRED_SCOPES_KEY = 'security:required-scopes';
export const PUBLIC_ROUTE_KEY = 'security:public';

/**
 * The route (or every route of the controller) needs ALL the given scopes. A method-level declaration
 * overrides a controller-level one. Also marks the route in OpenAPI as bearer-protected
 * (`DocumentBuilder().addBearerAuth()` defines the scheme) with `x-required-scopes`.
 */
export function RequireScope(...scopes: [Scope, ...Scope[]]): ClassDecorator & MethodDecorator {
  if (scopes.length === 0) throw new Error('RequireScope needs at least one scope');
  for (const s of scopes) if (!isScope(s)) throw new Error(`RequireScope: unknown scope ${String(s)}`);
  const list = Object.freeze([...new Set(scopes)]);
  return applyDecorators(SetMetadata(REQUIRED_SCOPES_KEY, list), ApiBearerAuth(), ApiExtension('x-required-scopes', [...list]));
}

/** No authentication at all (health, metrics, docs). A method-level RequireScope still wins. */
export function Public(): ClassDecorator & MethodDecorator {
  return SetMetadata(PUBLIC_ROUTE_KEY, true);
}

export type RouteSecurity =
  | { kind: 'public' }
  | { kind: 'scopes'; scopes: readonly Scope[] }
  | { kind: 'undeclared' };

/**
 * What a handler requires: method metadata first (RequireScope, then Public), then the controller's.
 * `undeclared` means default deny.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function resolveRouteSecurity(reflector: Reflector, handler: Function, controller: Function): RouteSecurity {
  for (const target of [handler, controller]) {
    const scopes = reflector.get<readonly Scope[] | undefined>(REQUIRED_SCOPES_KEY, target);
    if (scopes && scopes.length > 0) return { kind: 'scopes', scopes };
    if (reflector.get<boolean | undefined>(PUBLIC_ROUTE_KEY, target) === true) return { kind: 'public' };
  }
  return { kind: 'undeclared' };
}
