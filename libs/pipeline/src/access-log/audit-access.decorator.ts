/**
 * `@AuditAccess('events.query')`: the one line a route that reads audit data needs so that every
 * call is recorded in the access log (who, route, filters, records returned, when) before the
 * answer leaves. The global AccessAuditInterceptor reads this metadata.
 */
import { SetMetadata } from '@nestjs/common';

export const AUDIT_ACCESS_KEY = 'access-log:audit-access';

export interface AuditAccessOptions {
  /** What kind of thing the route reads (default `AuditEvent`), e.g. `Alert`, `Proof`, `Report`. */
  resource?: string;
  /** Path parameter naming the record read (default `id`), recorded as the resource id. */
  idParam?: string;
  /** Records in the answer; default: the length of its list (events, alerts, entries, ...) or 1. */
  count?: (result: unknown) => number;
}

export interface AuditAccessMetadata extends AuditAccessOptions {
  action: string;
}

/** Records every call of this route in the access log (action: dot-separated, stable, e.g. `alerts.view`). */
export function AuditAccess(action: string, options: AuditAccessOptions = {}): MethodDecorator {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$/.test(action)) throw new Error(`AuditAccess: invalid action ${action}`);
  return SetMetadata(AUDIT_ACCESS_KEY, { action, ...options } satisfies AuditAccessMetadata);
}
