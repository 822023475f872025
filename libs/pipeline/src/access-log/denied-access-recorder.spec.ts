/** DeniedAccessRecorder: what a refused request becomes in the access log, and how a flood is bounded. */
import { EventValidator } from '@app/core';
import type { AuthFailureEvent } from '@app/security';
import { AccessRecordInput, buildAccessRecord } from './access-record';
import { DeniedAccessRecorder, denialReasonCode } from './denied-access-recorder';

const validator = new EventValidator();

function recorderWithClock(start: number) {
  const written: AccessRecordInput[] = [];
  let now = start;
  const recorder = new DeniedAccessRecorder({ recordAccess: async (input) => (written.push(input), { id: 'x', chain: 'access_log', seq: written.length - 1, hash: '' }) }, { windowMs: 60_000 }, () => now);
  return { recorder, written, advance: (ms: number) => (now += ms) };
}

const base = { method: 'GET', route: '/v1/access-log', remoteAddress: '::ffff:192.0.2.7' } as const;

describe('DeniedAccessRecorder', () => {
  it('records who (when known), route, scope wanted, reason code, IP; never anything from an unverified token', async () => {
    const { recorder, written } = recorderWithClock(0);
    await recorder.authFailure({ ...base, kind: 'forbidden', status: 403, reason: 'missing scope', principal: { sub: 'an-1', role: 'soc_analyst', via: 'token' }, requiredScopes: ['access-log:read'] });
    await recorder.authFailure({ ...base, kind: 'token-rejected', status: 401, reason: 'expired', tokenSubject: 'dr-late' });
    await recorder.authFailure({ ...base, kind: 'token-rejected', status: 401, reason: 'invalid' });
    await recorder.authFailure({ ...base, kind: 'certificate-rejected', status: 401, reason: 'CERT_HAS_EXPIRED', clientSubject: 'CN=old-ehr, O=Hospital' });
    await recorder.authFailure({ ...base, kind: 'token-rejected', status: 503, reason: 'verification unavailable' });
    await recorder.flush();
    expect(written.map((w) => [w.principal?.sub, w.reason, w.denial?.kind])).toEqual([
      ['an-1', 'scope_missing', 'forbidden'],
      ['dr-late', 'token_expired', 'token-rejected'],
      [undefined, 'token_invalid', 'token-rejected'],
      ['CN=old-ehr, O=Hospital', 'certificate_cert_has_expired', 'certificate-rejected'],
    ]);
    const first = buildAccessRecord(written[0]!);
    expect(validator.errorsFor(first)).toEqual([]);
    expect(first).toMatchObject({
      action: 'access.denied',
      outcome: 'denied',
      recordCount: 0,
      actor: { id: 'an-1', role: 'soc_analyst', ip: '192.0.2.7' },
      details: { route: 'GET /v1/access-log', reason: 'scope_missing', 'denied.scope': 'access-log:read', 'denied.status': 403, 'denied.count': 1 },
    });
    for (const w of written) expect(validator.errorsFor(buildAccessRecord(w))).toEqual([]);
  });

  it('writes the first refusal per source and reason at once and the rest of the minute as one counted follow-up', async () => {
    const { recorder, written, advance } = recorderWithClock(120_000);
    for (let i = 0; i < 500; i++) await recorder.authFailure({ ...base, kind: 'unauthenticated', status: 401, reason: 'no credentials' });
    await recorder.authFailure({ ...base, remoteAddress: '198.51.100.9', kind: 'unauthenticated', status: 401, reason: 'no credentials' });
    expect(written.map((w) => w.denial?.count)).toEqual([1, 1]);
    advance(60_000);
    await recorder.authFailure({ ...base, kind: 'unauthenticated', status: 401, reason: 'no credentials' });
    await new Promise((r) => setImmediate(r));
    expect(written).toHaveLength(4);
    expect(written[2]!.denial).toMatchObject({ count: 499, since: new Date(120_000).toISOString(), until: new Date(120_000).toISOString() });
    expect(written[3]!.denial!.count).toBe(1);
    await recorder.flush();
  });

  it('gives every refusal kind a stable reason code', () => {
    expect(denialReasonCode({ kind: 'unauthenticated', reason: 'no credentials' })).toBe('no_credentials');
    expect(denialReasonCode({ kind: 'undeclared-route', reason: 'route declares no scope' })).toBe('route_undeclared');
    expect(denialReasonCode({ kind: 'source-refused', reason: 'source not owned' })).toBe('source_not_owned');
    expect(denialReasonCode({ kind: 'token-rejected', reason: 'malformed authorization header' })).toBe('authorization_malformed');
    expect(denialReasonCode({ kind: 'token-rejected', reason: 'token and certificate name different integrations' })).toBe('token_certificate_mismatch');
    expect(denialReasonCode({ kind: 'certificate-rejected', reason: 'certificate does not name an integration' })).toBe('certificate_certificate_does_not_name_an_integration');
  });
});
