/**
 * The embedded store of revoked credentials (migration 0004): what `auditctl token revoke` and
 * `auditctl certs revoke` write and what every service on the data dir polls (RevocationList,
 * @app/security). Plain rows: token ids, subjects and certificate serials, never a token itself.
 */
import type { IssuedCertificateRow, Revocation, RevocationKind, RevocationStore } from '../revocation-store.port';
import type { SqliteDb } from './sqlite-database';

export class SqliteRevocationStore implements RevocationStore {
  constructor(private readonly db: SqliteDb) {}

  async revoke(kind: RevocationKind, value: string, reason: string | null = null, at = new Date()): Promise<Revocation> {
    const revokedAt = at.toISOString();
    this.db.prepare('INSERT INTO credential_revocations (kind, value, revoked_at, reason) VALUES (?, ?, ?, ?)').run(kind, value, revokedAt, reason);
    return { kind, value, revokedAt, reason };
  }

  async revocations(): Promise<Revocation[]> {
    return this.list();
  }

  /** Every revocation, oldest first by its time (ISO strings, one format: they sort as times); a subject revoked twice: both rows, the latest counts. */
  list(): Revocation[] {
    if (!this.hasTables()) return [];
    return (this.db.prepare('SELECT kind, value, revoked_at, reason FROM credential_revocations ORDER BY revoked_at, id').all() as { kind: RevocationKind; value: string; revoked_at: string; reason: string | null }[]).map(
      (r) => ({ kind: r.kind, value: r.value, revokedAt: r.revoked_at, reason: r.reason }),
    );
  }

  /** A cheap change marker: the number of rows (append-only). */
  version(): number {
    if (!this.hasTables()) return 0;
    return (this.db.prepare('SELECT COALESCE(MAX(id), 0) AS n FROM credential_revocations').get() as { n: number }).n;
  }

  async recordIssued(cert: IssuedCertificateRow): Promise<void> {
    this.db.prepare('INSERT OR IGNORE INTO issued_certificates (serial, integration, issued_at, not_after) VALUES (?, ?, ?, ?)').run(cert.serial, cert.integration, cert.issuedAt, cert.notAfter);
  }

  async issuedTo(integration: string): Promise<IssuedCertificateRow[]> {
    if (!this.hasTables()) return [];
    return (this.db.prepare('SELECT serial, integration, issued_at, not_after FROM issued_certificates WHERE integration = ? ORDER BY issued_at').all(integration) as { serial: string; integration: string; issued_at: string; not_after: string }[]).map(
      (r) => ({ serial: r.serial, integration: r.integration, issuedAt: r.issued_at, notAfter: r.not_after }),
    );
  }

  private hasTables(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'credential_revocations'").get() !== undefined;
  }
}
