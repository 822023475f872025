/**
 * What every console page gets besides its own data: the title, the person signed in, their
 * navigation (by scopes), the CSRF token for forms, and the idle timeout (console.js warns before it).
 */
import type { ConsoleRequest } from './console-session.authenticator';
import { navFor } from './console-nav';

export interface PageModel {
  title: string;
  user?: { name: string; role: string };
  nav: { path: string; label: string; current: boolean }[];
  csrf?: string;
  [key: string]: unknown;
}

export function pageModel(req: ConsoleRequest, title: string, data: Record<string, unknown> = {}): PageModel {
  const p = req.principal;
  const session = req.consoleSession;
  return {
    title,
    ...(p && session ? { user: { name: p.sub, role: p.role.replace('_', ' ') }, csrf: session.csrf, nav: navFor(p.scopes, req.path) } : { nav: [] }),
    ...data,
  };
}
