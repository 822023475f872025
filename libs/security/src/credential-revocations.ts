/**
 * Revoking credentials: bearer tokens (by token id `jti`, or every token of a subject issued up to
 * the revocation) and client certificates (by serial; `revokeCertificates(integration)` revokes
 * every certificate `auditctl certs issue` made for it and the one in DATA_DIR/tls/clients). The
 * revocations live in the RevocationStore (the data dir's database; the cluster with
 * STORE=elasticsearch, read into PolledRevocations every REVOCATION_SYNC_MS); the service's
 * RevocationList re-reads them at most REVOCATION_POLL_MS after a change, so a revocation made by
 * `auditctl` is effective within seconds without a restart. CredentialRevocationService is what the CLI
 * (and the console's admin pages) call; TokenService and AuthGuard consult the RevocationList.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Revocation, RevocationStore } from '@app/storage';
import { isIntegrationId } from './integration-identity';
import { issueClientCertificate, localPkiPaths } from './local-pki';
import type { RevocationSource } from './revocation-source.port';

/** How stale the service's view of the revocations may be (ms). */
export const REVOCATION_POLL_MS = 2000;

/** Certificate serials compared in one spelling: upper-case hex, no leading zeros. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[^0-9a-fA-F]/g, '').toUpperCase().replace(/^0+(?=.)/, '');
  return hex;
}

/** How long the last list read stays usable while the database cannot be read (ms). */
export const REVOCATION_STALE_MAX_MS = 60_000;

/** The revocations could not be read for longer than REVOCATION_STALE_MAX_MS: credentials cannot be checked. */
export class RevocationListUnavailableError extends Error {
  constructor() {
    super('the revocation list cannot be read');
    this.name = 'RevocationListUnavailableError';
  }
}

/** The revocations as the service checks them, re-read when the store changed (polled on use). */
export class RevocationList {
  private tokens = new Set<string>();
  private subjects = new Map<string, number>();
  private serials = new Set<string>();
  private seenVersion = -1;
  private checkedAt = -Infinity;
  private readAt = -Infinity;
  /** Another source the list depends on (revocations shared through Elasticsearch): when it was last read in full (epoch ms). */
  private sharedReadAt: (() => number) | null = null;
  private sharedStaleMaxMs = REVOCATION_STALE_MAX_MS;

  constructor(
    private readonly source: RevocationSource,
    private readonly pollMs = REVOCATION_POLL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Makes the list depend on a shared source too (STORE=elasticsearch: revocations of the other
   * instances): once it was last read longer than `staleMaxMs` ago, checks throw
   * RevocationListUnavailableError rather than accept credentials another instance may have revoked.
   */
  dependOn(lastReadAt: () => number, staleMaxMs = REVOCATION_STALE_MAX_MS): void {
    this.sharedReadAt = lastReadAt;
    this.sharedStaleMaxMs = staleMaxMs;
  }

  /** Whether a token (its id, subject and issue time in seconds) is revoked. */
  tokenRevoked(t: { jti?: string; sub: string; iat?: number }): boolean {
    this.refresh();
    if (t.jti !== undefined && this.tokens.has(t.jti)) return true;
    const subjectAt = this.subjects.get(t.sub);
    return subjectAt !== undefined && (t.iat === undefined || t.iat <= subjectAt);
  }

  certificateRevoked(serial: string): boolean {
    this.refresh();
    return this.serials.has(normalizeSerial(serial));
  }

  /**
   * Re-reads the list when it changed. A database that cannot be read (closing, busy) leaves the last
   * list in use for up to REVOCATION_STALE_MAX_MS; after that, checks throw RevocationListUnavailableError
   * (the caller answers 503) rather than accept credentials that may have been revoked.
   */
  private refresh(): void {
    const now = this.now();
    if (this.sharedReadAt && now - this.sharedReadAt() > this.sharedStaleMaxMs) throw new RevocationListUnavailableError();
    if (now - this.checkedAt < this.pollMs) return;
    this.checkedAt = now;
    try {
      this.reload();
      this.readAt = now;
    } catch {
      if (now - this.readAt > REVOCATION_STALE_MAX_MS) {
        this.checkedAt = -Infinity; // try again on the next check
        throw new RevocationListUnavailableError();
      }
    }
  }

  private reload(): void {
    const version = this.source.version();
    if (version === this.seenVersion) return;
    const tokens = new Set<string>();
    const subjects = new Map<string, number>();
    const serials = new Set<string>();
    for (const r of this.source.list()) {
      if (r.kind === 'token') tokens.add(r.value);
      else if (r.kind === 'certificate') serials.add(normalizeSerial(r.value));
      else subjects.set(r.value, Math.max(subjects.get(r.value) ?? 0, Math.floor(Date.parse(r.revokedAt) / 1000)));
    }
    this.tokens = tokens;
    this.subjects = subjects;
    this.serials = serials;
    this.seenVersion = version;
  }
}

export interface IssuedCertificateFiles {
  certPath: string;
  keyPath: string;
  caCertPath: string;
  serialNumber: string;
  notAfter: Date;
}

/** How often the shared revocations are read with STORE=elasticsearch (ms). */
export const REVOCATION_SYNC_MS = 1000;

/**
 * STORE=elasticsearch: the cluster's revocations as the RevocationList reads them (synchronously):
 * `refresh()` reads the whole list from the RevocationStore (every REVOCATION_SYNC_MS, see
 * RevocationSharing in apps/api); the version changes when the list did. `lastReadAt` is when a
 * read last succeeded, for the RevocationList's stale bound.
 */
export class PolledRevocations implements RevocationSource {
  private rows: Revocation[] = [];
  private key = '';
  private changes = 0;
  lastReadAt = Date.now(); // start counts as read: the first refresh runs at once

  constructor(private readonly store: Pick<RevocationStore, 'revocations'>) {}

  /** Reads the store; returns how many revocations are new since the last read. */
  async refresh(): Promise<number> {
    const rows = await this.store.revocations();
    this.lastReadAt = Date.now();
    const key = rows.map((r) => `${r.kind}\u0000${r.value}\u0000${r.revokedAt}`).join('\u0001');
    if (key === this.key) return 0;
    const added = Math.max(0, rows.length - this.rows.length);
    this.rows = rows;
    this.key = key;
    this.changes++;
    return added;
  }

  list(): Revocation[] {
    return this.rows;
  }

  version(): number {
    return this.changes;
  }
}

/** Revoke and issue credentials (auditctl, console admin pages), in the deployment's RevocationStore. */
export class CredentialRevocationService {
  constructor(
    private readonly store: RevocationStore,
    private readonly dataDir: string,
  ) {}

  list(): Promise<Revocation[]> {
    return this.store.revocations();
  }

  /** Revokes one token by its id (`jti`), or, given a whole token, by the id it carries. */
  async revokeToken(idOrToken: string, reason?: string): Promise<Revocation> {
    const jti = idOrToken.includes('.') ? jtiOf(idOrToken) : idOrToken;
    if (!/^[\x21-\x7e]{1,128}$/.test(jti)) throw new RangeError('a token id is 1..128 printable characters');
    return this.store.revoke('token', jti, reason ?? null);
  }

  /** Revokes every token of a subject (user or integration id) issued up to now; tokens minted later are valid. */
  async revokeSubject(sub: string, reason?: string): Promise<Revocation> {
    if (!/^[\x21-\x7e]{1,128}$/.test(sub)) throw new RangeError('a subject is 1..128 printable characters');
    return this.store.revoke('subject', sub, reason ?? null);
  }

  /** A client certificate for an integration, signed by the data dir's CA, written to `outDir` (key 0600). */
  async issueCertificate(integration: string, outDir: string, validityDays?: number): Promise<IssuedCertificateFiles> {
    if (!isIntegrationId(integration)) throw new RangeError('integration id must be lower-case letters, digits, . _ - (1..64 chars, starting alphanumeric)');
    const issued = await issueClientCertificate(this.dataDir, integration, { validityDays, write: false });
    fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
    const certPath = path.join(outDir, `${integration}.pem`);
    const keyPath = path.join(outDir, `${integration}-key.pem`);
    const caCertPath = path.join(outDir, 'ca.pem');
    fs.writeFileSync(certPath, issued.certPem, { mode: 0o644 });
    fs.writeFileSync(keyPath, issued.keyPem, { mode: 0o600 });
    fs.copyFileSync(localPkiPaths(this.dataDir).caCertPath, caCertPath);
    await this.store.recordIssued({ serial: normalizeSerial(issued.serialNumber), integration, issuedAt: new Date().toISOString(), notAfter: issued.notAfter.toISOString() });
    return { certPath, keyPath, caCertPath, serialNumber: normalizeSerial(issued.serialNumber), notAfter: issued.notAfter };
  }

  /** Revokes every certificate issued to an integration (recorded ones and DATA_DIR/tls/clients/<id>.pem). */
  async revokeCertificates(integration: string, reason?: string): Promise<Revocation[]> {
    if (!isIntegrationId(integration)) throw new RangeError('integration id must be lower-case letters, digits, . _ - (1..64 chars, starting alphanumeric)');
    const serials = new Set((await this.store.issuedTo(integration)).map((c) => c.serial));
    const local = localPkiPaths(this.dataDir).clientFiles(integration).certPath;
    if (fs.existsSync(local)) serials.add(normalizeSerial(new crypto.X509Certificate(fs.readFileSync(local)).serialNumber));
    const already = new Set((await this.store.revocations()).filter((r) => r.kind === 'certificate').map((r) => normalizeSerial(r.value)));
    const out: Revocation[] = [];
    for (const s of serials) if (!already.has(s)) out.push(await this.store.revoke('certificate', s, reason ?? `integration ${integration}`));
    return out;
  }

  async revokeCertificateSerial(serial: string, reason?: string): Promise<Revocation> {
    const s = normalizeSerial(serial);
    if (s.length === 0 || s.length > 64) throw new RangeError('a serial number is hexadecimal');
    return this.store.revoke('certificate', s, reason ?? null);
  }
}

/** The `jti` of a compact JWS, read without verifying it (revoking needs no trust in the token). */
function jtiOf(token: string): string {
  const payload = token.split('.')[1] ?? '';
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti?: unknown };
    if (typeof claims.jti === 'string') return claims.jti;
  } catch {
    /* fall through */
  }
  throw new RangeError('the token carries no token id (jti)');
}
