/**
 * The console's navigation: one entry per main page, shown to a person only when their role holds the
 * entry's scopes (the page itself checks the same scopes with @RequireScope). To add a page, add its
 * controller to ConsoleModule and its entry here (docs/console.md).
 */
import type { Scope } from '@app/security';

export interface ConsoleNavEntry {
  path: string;
  label: string;
  scopes: Scope[];
}

export const CONSOLE_NAV: ConsoleNavEntry[] = [
  { path: '/console/alerts', label: 'Alerts', scopes: ['alerts:read'] },
  { path: '/console/patients', label: 'Patient access', scopes: ['events:read', 'reports:read'] },
  { path: '/console/users', label: 'User activity', scopes: ['events:read', 'reports:read'] },
  { path: '/console/reports', label: 'Reports', scopes: ['reports:read'] },
  { path: '/console/holds', label: 'Legal holds', scopes: ['retention:read'] },
  { path: '/console/integrity', label: 'Integrity', scopes: ['integrity:read'] },
  { path: '/console/retention', label: 'Retention runs', scopes: ['retention:read'] },
  { path: '/console/trends', label: 'Alert volume', scopes: ['alerts:read'] },
  { path: '/console/checkpoints', label: 'Checkpoints', scopes: ['checkpoints:read'] },
  { path: '/console/proof', label: 'Proofs', scopes: ['proofs:read', 'checkpoints:read'] },
  { path: '/console/verify', label: 'Verify', scopes: ['proofs:read'] },
  { path: '/console/admin/people', label: 'People', scopes: ['users:manage'] },
  { path: '/console/admin/integrations', label: 'Integrations', scopes: ['integrations:manage'] },
  { path: '/console/admin/rules', label: 'Rules', scopes: ['rules:manage'] },
  { path: '/console/admin/feeds', label: 'Feeds', scopes: ['context:read'] },
];

export function navFor(scopes: readonly Scope[], currentPath: string): { path: string; label: string; current: boolean }[] {
  return CONSOLE_NAV.filter((e) => e.scopes.every((s) => scopes.includes(s))).map((e) => ({
    path: e.path,
    label: e.label,
    current: currentPath === e.path || currentPath.startsWith(e.path + '/'),
  }));
}
