/**
 * The port of revoked credentials and issued client certificates: what `auditctl token revoke`,
 * `auditctl certs issue|revoke` and the console's admin pages write (CredentialRevocationService,
 * @app/security) and what every service's RevocationList reads. The data dir's database with the
 * embedded store (sqlite/sqlite-revocation-store.ts); the cluster with STORE=elasticsearch
 * (elasticsearch/es-revocation-store.ts), the store of record every instance reads. Token ids,
 * subjects and certificate serials only, never a token.
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
  /** Records a revocation at `at` (default: now) and returns it. */
  revoke(kind: RevocationKind, value: string, reason?: string | null, at?: Date): Promise<Revocation>;
  /** Every revocation, oldest first (a subject revoked twice: both; the latest counts). */
  revocations(): Promise<Revocation[]>;
  /** Records a certificate issued to an integration (so that revoking the integration finds it). */
  recordIssued(cert: IssuedCertificateRow): Promise<void>;
  /** The certificates recorded as issued to an integration, oldest first. */
  issuedTo(integration: string): Promise<IssuedCertificateRow[]>;
}

/** The deployment's RevocationStore (bound by the security module). */
export const REVOCATION_STORE = Symbol('REVOCATION_STORE');
