/**
 * Test double of the RevocationStore port, in memory. It passes the same contract as the SQLite and
 * Elasticsearch adapters (test/contracts/revocation-store.contract.spec.ts).
 */
import { IssuedCertificateRow, Revocation, RevocationKind, RevocationStore } from '@app/storage';

/** What several handles share (`new InMemoryRevocationStore(same.state)`: another instance, the CLI). */
export class InMemoryRevocationState {
  readonly revocations: Revocation[] = [];
  readonly issued = new Map<string, IssuedCertificateRow>();
}

export class InMemoryRevocationStore implements RevocationStore {
  constructor(readonly state = new InMemoryRevocationState()) {}

  async revoke(kind: RevocationKind, value: string, reason: string | null = null, at = new Date()): Promise<Revocation> {
    const r: Revocation = { kind, value, revokedAt: at.toISOString(), reason };
    this.state.revocations.push(r);
    return { ...r };
  }

  async revocations(): Promise<Revocation[]> {
    // Oldest first by time (a stable sort keeps the write order of equal times).
    return [...this.state.revocations].sort((a, b) => Date.parse(a.revokedAt) - Date.parse(b.revokedAt)).map((r) => ({ ...r }));
  }

  async recordIssued(cert: IssuedCertificateRow): Promise<void> {
    if (!this.state.issued.has(cert.serial)) this.state.issued.set(cert.serial, { ...cert });
  }

  async issuedTo(integration: string): Promise<IssuedCertificateRow[]> {
    return [...this.state.issued.values()]
      .filter((c) => c.integration === integration)
      .sort((a, b) => a.issuedAt.localeCompare(b.issuedAt) || a.serial.localeCompare(b.serial))
      .map((c) => ({ ...c }));
  }
}
