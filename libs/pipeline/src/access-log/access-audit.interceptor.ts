/**
 * Global interceptor behind `@AuditAccess`: after the handler produced its answer and before Nest
 * sends it, the access is appended to the access log and made durable; if that fails the caller gets
 * a 503 instead of the data. A handler that fails (404, 400, ...) is recorded too, as a failure with
 * no records. On other routes only a handler's 403 for an event whose source the caller does not own
 * is passed to DeniedAccessRecorder (refusals the guard makes never reach an interceptor: the guard
 * reports those to the same recorder itself).
 */
import { CallHandler, ExecutionContext, Injectable, NestInterceptor, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ProblemError } from '@app/core';
import type { RequestWithPrincipal } from '@app/security';
import { Observable, catchError, from, mergeMap, throwError } from 'rxjs';
import { AccessAuditService, accessPrincipal } from './access-audit.service';
import { countRecords } from './access-record';
import { AUDIT_ACCESS_KEY, AuditAccessMetadata } from './audit-access.decorator';
import { DeniedAccessRecorder } from './denied-access-recorder';

const SOURCE_NOT_ALLOWED = /\/source-not-allowed$/;

interface AuditedRequest extends RequestWithPrincipal {
  method?: string;
  baseUrl?: string;
  route?: { path?: string };
  query?: Record<string, unknown>;
  params?: Record<string, string>;
  socket?: { remoteAddress?: string };
  /** Express: the client address (X-Forwarded-For only from TRUSTED_PROXIES), else the peer's. */
  ip?: string;
}

@Injectable()
export class AccessAuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AccessAuditService,
    @Optional() private readonly denials?: DeniedAccessRecorder,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const meta = this.reflector.get<AuditAccessMetadata | undefined>(AUDIT_ACCESS_KEY, ctx.getHandler());
    const req = ctx.switchToHttp().getRequest<AuditedRequest>();
    if (!meta) return this.denials ? next.handle().pipe(catchError((err: unknown) => this.sourceRefused(req, err))) : next.handle();
    const record = (outcome: 'success' | 'failure' | 'denied', recordCount: number) => {
      const query = { ...(req.query ?? {}) };
      const patient = typeof query.patient === 'string' ? query.patient : undefined;
      delete query.patient;
      const idParam = meta.idParam ?? 'id';
      const params = req.params ?? {};
      const filters: Record<string, unknown> = { ...query };
      for (const [k, v] of Object.entries(params)) if (k !== idParam) filters[k] = v;
      return this.audit.recordAccess({
        action: meta.action,
        principal: accessPrincipal(req.principal),
        route: `${req.method ?? 'GET'} ${(req.baseUrl ?? '') + (req.route?.path ?? '')}`,
        filters,
        patientId: patient,
        resource: { type: meta.resource ?? 'AuditEvent', ...(params[idParam] ? { id: params[idParam] } : {}) },
        recordCount,
        outcome,
        ip: req.ip ?? req.socket?.remoteAddress,
      });
    };
    return next.handle().pipe(
      mergeMap(async (result: unknown) => {
        await record('success', (meta.count ?? countRecords)(result));
        return result;
      }),
      catchError((err: unknown) => {
        // Recording our own 503 (the access log could not be written) again would fail the same way.
        if (err instanceof ProblemError && err.status === 503) return throwError(() => err);
        const status = err instanceof ProblemError ? err.status : 500;
        return from(record(status === 403 ? 'denied' : 'failure', 0)).pipe(mergeMap(() => throwError(() => err)));
      }),
    );
  }

  /** Records an event refused because its source is not the caller's (no body, no patient), then rethrows. */
  private sourceRefused(req: AuditedRequest, err: unknown): Observable<never> {
    if (!isSourceRefusal(err)) return throwError(() => err);
    return from(recordSourceRefusal(this.denials, req, err)).pipe(mergeMap(() => throwError(() => err)));
  }
}

/**
 * What the interceptor does with a handler's error on a route without @AuditAccess, for callers
 * outside Nest's pipeline (the lean POST /v1/events route): a 403 for a source the caller does not
 * own is recorded as a denied access (awaited); any other error is left alone. The caller then
 * answers with the error.
 */
export async function recordSourceRefusal(denials: DeniedAccessRecorder | undefined, req: AuditedRequest, err: unknown): Promise<void> {
  if (!denials || !isSourceRefusal(err)) return;
  const p = req.principal;
  await denials.authFailure({
    kind: 'source-refused',
    status: 403,
    reason: 'source not owned',
    method: req.method ?? 'POST',
    route: (req.baseUrl ?? '') + (req.route?.path ?? '') || '(unmatched)',
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    ...(p ? { principal: { sub: p.sub, role: p.role, via: p.via, integration: p.integration } } : {}),
  });
}

function isSourceRefusal(err: unknown): err is ProblemError {
  return err instanceof ProblemError && err.status === 403 && SOURCE_NOT_ALLOWED.test(String(err.body.type));
}
