/**
 * The RevocationStore port: revoked credentials (token ids, subjects, certificate serials, never a
 * token) and the client certificates issued per integration, as the security lib's
 * CredentialRevocationService writes them and its RevocationList polls them. Embedded adapter:
 * sqlite/sqlite-revocation-store.ts.
 */
export type RevocationKind = 'token' | 'subject' | 'certificate';

export interface Revocation {
  kind: RevocationKind;
  value: string;
  revokedAt: string;
  reason: string | null;
}

export interface IssuedCertificateRow {
  serial: string;
  integration: string;
  issuedAt: string;
  notAfter: string;
}

export interface RevocationStore {
  revoke(kind: RevocationKind, value: string, reason?: string | null, at?: Date): Revocation;
  /** Every revocation, oldest first (a subject revoked twice: both rows; the latest counts). */
  list(): Revocation[];
  /** A cheap change marker: grows with every revocation. */
  version(): number;
  recordIssued(cert: IssuedCertificateRow): void;
  issuedTo(integration: string): IssuedCertificateRow[];
}
