import type { Revocation } from '@app/storage';
import { REVOCATION_STALE_MAX_MS, RevocationList, RevocationListUnavailableError, normalizeSerial } from './credential-revocations';

describe('RevocationList', () => {
  const rows: Revocation[] = [];
  let failing = false;
  let now = 1_000_000;
  const source = {
    list: () => {
      if (failing) throw new Error('The database connection is not open');
      return [...rows];
    },
    version: () => {
      if (failing) throw new Error('The database connection is not open');
      return rows.length;
    },
  };
  const list = new RevocationList(source, 2000, () => now);

  it('sees a revocation within the poll delay: token ids, subjects up to their second, serials in any spelling', () => {
    expect(list.tokenRevoked({ jti: 'a', sub: 'u-1', iat: 100 })).toBe(false);
    rows.push({ kind: 'token', value: 'a', revokedAt: new Date(0).toISOString(), reason: null });
    rows.push({ kind: 'subject', value: 'u-2', revokedAt: new Date(200_000).toISOString(), reason: null });
    rows.push({ kind: 'certificate', value: '0a1B', revokedAt: new Date(0).toISOString(), reason: null });
    now += 1000;
    expect(list.tokenRevoked({ jti: 'a', sub: 'u-1', iat: 100 })).toBe(false); // not polled yet
    now += 1000;
    expect(list.tokenRevoked({ jti: 'a', sub: 'u-1', iat: 100 })).toBe(true);
    expect(list.tokenRevoked({ jti: 'b', sub: 'u-2', iat: 200 })).toBe(true);
    expect(list.tokenRevoked({ jti: 'c', sub: 'u-2', iat: 201 })).toBe(false);
    expect(list.certificateRevoked('0A:1B')).toBe(true);
    expect(normalizeSerial('00a1b')).toBe('A1B');
  });

  it('keeps the last list while the database cannot be read, then refuses to guess', () => {
    failing = true;
    now += 3000;
    expect(list.tokenRevoked({ jti: 'a', sub: 'u-1', iat: 100 })).toBe(true);
    now += REVOCATION_STALE_MAX_MS;
    expect(() => list.tokenRevoked({ jti: 'z', sub: 'u-9', iat: 100 })).toThrow(RevocationListUnavailableError);
    failing = false;
    expect(list.tokenRevoked({ jti: 'z', sub: 'u-9', iat: 100 })).toBe(false);
  });
});
