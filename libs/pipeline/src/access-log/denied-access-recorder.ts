/**
 * Records refused requests in the access log (the guard's AUTH_EVENT_SINK, and handlers' 403s such
 * as an event whose source the caller does not own): who, if the credential named anyone (the
 * principal, the subject of an authentic but expired token, the subject of a refused client
 * certificate), the route pattern, the scope wanted, a reason code, the source IP and the time; never
 * the token, the request body, or a patient id. Outcome `denied`, action `access.denied`.
 *
 * Flood-proof: DenialAggregator lets through the first refusal per (source IP, reason, caller, route)
 * and minute, which is durable before the refusal is answered; the rest of that minute are counted and
 * written as one follow-up record (`denial.count`, `since`, `until`) when the minute is over (a timer,
 * or the next refusal, or shutdown). Past ACCESS_DENIAL_MAX_KEYS keys in a minute, anonymous refusals
 * share one overflow record; refusals of authenticated principals never do (their own budget-free
 * aggregator), so a flood cannot hide who probed what. A refusal that cannot be recorded is still refused.
 */
import type { AuthEventSink, AuthFailureEvent } from '@app/security';
import { AccessAuditService } from './access-audit.service';
import { AccessRecordInput } from './access-record';
import { DenialAggregator, DenialAggregatorOptions, DenialSummary } from './denial-aggregator';

export const ACCESS_DENIED_ACTION = 'access.denied';

const TOKEN_CODES = new Set(['malformed', 'expired', 'invalid', 'role']);

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 64) || 'unknown'
  );
}

/** A stable reason code for a refusal: `no_credentials`, `token_expired`, `scope_missing`, `certificate_cert_has_expired`, ... */
export function denialReasonCode(e: Pick<AuthFailureEvent, 'kind' | 'reason'>): string {
  switch (e.kind) {
    case 'unauthenticated':
      return 'no_credentials';
    case 'undeclared-route':
      return 'route_undeclared';
    case 'forbidden':
      return 'scope_missing';
    case 'source-refused':
      return 'source_not_owned';
    case 'certificate-rejected':
      return `certificate_${slug(e.reason)}`.slice(0, 64);
    case 'tls-handshake-failed':
      return `tls_${slug(e.reason)}`.slice(0, 64);
    case 'token-rejected':
      if (TOKEN_CODES.has(e.reason)) return `token_${e.reason}`;
      if (e.reason === 'malformed authorization header') return 'authorization_malformed';
      if (e.reason === 'token and certificate name different integrations') return 'token_certificate_mismatch';
      return `token_${slug(e.reason)}`.slice(0, 64);
    default:
      return slug(String(e.reason));
  }
}

/** Who the refused credential named, if anyone: never taken from an unverified token. */
function refusedPrincipal(e: AuthFailureEvent): AccessRecordInput['principal'] {
  if (e.principal) return { sub: e.principal.sub, role: e.principal.role, via: e.principal.via };
  if (e.tokenSubject) return { sub: e.tokenSubject, via: 'token' };
  if (e.clientSubject) return { sub: e.clientSubject, via: 'mtls' };
  return undefined;
}

export class DeniedAccessRecorder implements AuthEventSink {
  private readonly aggregator: DenialAggregator<AuthFailureEvent>;
  /**
   * Refusals of authenticated principals (a valid credential lacking a scope, an event for a source
   * not theirs): never under the overflow key, whatever anonymous noise spent the window's key budget
   * (issue 22). Repeats of the same principal, route and reason in a window are still counted.
   */
  private readonly attributed: DenialAggregator<AuthFailureEvent>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly audit: Pick<AccessAuditService, 'recordAccess'>,
    options: DenialAggregatorOptions = {},
    private readonly clock: () => number = () => Date.now(),
  ) {
    this.aggregator = new DenialAggregator(options);
    this.attributed = new DenialAggregator({ windowMs: options.windowMs, maxKeys: Number.MAX_SAFE_INTEGER });
    // Follow-ups of a quiet minute are written without waiting for the next refusal.
    const every = Math.max(1000, Math.floor((options.windowMs ?? 60_000) / 4));
    this.timer = setInterval(() => void this.writeFollowUps([...this.aggregator.flush(this.clock()), ...this.attributed.flush(this.clock())]), every);
    this.timer.unref();
  }

  /** AuthEventSink: called by the guard (awaited) and by the access-log interceptor for a handler's 403. */
  async authFailure(e: AuthFailureEvent): Promise<void> {
    if (e.status !== 401 && e.status !== 403) return; // 503 "cannot verify now" is not a refusal
    const reason = denialReasonCode(e);
    const who = refusedPrincipal(e);
    const key = [e.remoteAddress ?? '', reason, who?.sub ?? '', e.method, e.route].join('\u0000');
    const offer = (e.principal ? this.attributed : this.aggregator).offer(key, e, this.clock());
    void this.writeFollowUps(offer.due);
    if (!offer.recordNow) return;
    try {
      await this.audit.recordAccess(offer.overflow ? this.overflowRecord(e, 1) : this.record(e, 1));
    } catch {
      /* refused either way; the access log answers 503 to reads while it cannot write */
    }
  }

  /** Writes the follow-ups still pending (graceful shutdown, before the chain writer drains). */
  async flush(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.writeFollowUps([...this.aggregator.flush(this.clock(), true), ...this.attributed.flush(this.clock(), true)]);
  }

  private async writeFollowUps(due: DenialSummary<AuthFailureEvent>[]): Promise<void> {
    for (const s of due) {
      const window = { since: new Date(s.sinceMs).toISOString(), until: new Date(s.untilMs).toISOString() };
      const input = s.overflow ? this.overflowRecord(s.first, s.count, window) : this.record(s.first, s.count, window);
      try {
        await this.audit.recordAccess(input);
      } catch {
        /* best effort: nothing to refuse any more */
      }
    }
  }

  private record(e: AuthFailureEvent, count: number, window?: { since: string; until: string }): AccessRecordInput {
    return {
      action: ACCESS_DENIED_ACTION,
      principal: refusedPrincipal(e),
      route: `${e.method} ${e.route}`,
      outcome: 'denied',
      recordCount: 0,
      reason: denialReasonCode(e),
      ip: e.remoteAddress,
      resource: { type: 'Request' },
      denial: {
        kind: e.kind,
        status: e.status,
        ...(e.requiredScopes && e.requiredScopes.length > 0 ? { scope: e.requiredScopes.join(' ') } : {}),
        ...(e.clientSubject ? { clientSubject: e.clientSubject } : {}),
        count,
        ...window,
      },
    };
  }

  /** Too many distinct sources in one window: one record for all of them, naming none. */
  private overflowRecord(e: AuthFailureEvent, count: number, window?: { since: string; until: string }): AccessRecordInput {
    return {
      action: ACCESS_DENIED_ACTION,
      principal: undefined,
      outcome: 'denied',
      recordCount: 0,
      reason: 'overflow',
      resource: { type: 'Request' },
      denial: { kind: 'overflow', status: e.status, count, ...window },
    };
  }
}
