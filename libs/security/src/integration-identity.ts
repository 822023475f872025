/**
 * Integration identities: the id format, how a client certificate names its integration (URI SAN
 * `urn:audit-siem:integration:<id>`, else the subject CN), and the mapping of a TLS peer certificate
 * to an integration principal. Pure functions over node's PeerCertificate shape; no I/O.
 */
import type { PeerCertificate } from 'node:tls';
import type { Principal } from './principal';
import { scopesForRole } from './scopes';

/** Integration ids: lower-case letters, digits, dot, dash, underscore; 1..64 chars, starting alphanumeric. */
export const INTEGRATION_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const INTEGRATION_URI_PREFIX = 'urn:audit-siem:integration:';
/** The sample integration whose client certificate the local PKI creates on first start. */
export const SAMPLE_INTEGRATION_ID = 'sample-ehr';
/** TLS Web Client Authentication extended key usage. */
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export function isIntegrationId(value: unknown): value is string {
  return typeof value === 'string' && INTEGRATION_ID_PATTERN.test(value);
}

export function integrationUri(integrationId: string): string {
  return INTEGRATION_URI_PREFIX + integrationId;
}

/** The URI SAN entries of node's `subjectaltname` string ("DNS:a, URI:urn:..., IP Address:..."). */
function sanUris(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname
    .split(', ')
    .filter((entry) => entry.startsWith('URI:'))
    .map((entry) => entry.slice(4));
}

export type CertificateIdentity = { ok: true; integration: string } | { ok: false; reason: string };

/**
 * Which integration a (chain-verified) peer certificate speaks for. The URI SAN wins; the CN is used
 * only when there is none. Ambiguous or malformed names and certificates not meant for client
 * authentication are refused.
 */
export function integrationFromCertificate(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'> & { ext_key_usage?: string[] }): CertificateIdentity {
  if (cert.ext_key_usage && !cert.ext_key_usage.includes(EKU_CLIENT_AUTH)) {
    return { ok: false, reason: 'certificate is not valid for client authentication' };
  }
  const fromSan = new Set(
    sanUris(cert.subjectaltname)
      .filter((u) => u.startsWith(INTEGRATION_URI_PREFIX))
      .map((u) => u.slice(INTEGRATION_URI_PREFIX.length)),
  );
  if (fromSan.size > 1) return { ok: false, reason: 'certificate names more than one integration' };
  if (fromSan.size === 1) {
    const [id] = [...fromSan];
    return isIntegrationId(id) ? { ok: true, integration: id } : { ok: false, reason: 'certificate integration id is malformed' };
  }
  const cn: unknown = cert.subject?.CN;
  if (typeof cn === 'string' && isIntegrationId(cn)) return { ok: true, integration: cn };
  return { ok: false, reason: 'certificate does not name an integration' };
}

/** Node's subject object rendered as a DN string (for the principal and tls_handshake events). */
export function subjectToString(subject: Record<string, string | string[]> | undefined): string | undefined {
  if (!subject) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(subject)) for (const value of Array.isArray(v) ? v : [v]) parts.push(`${k}=${value}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** Principal for a peer certificate the TLS layer has already verified against the trusted CA. */
export function principalFromCertificate(
  cert: Pick<PeerCertificate, 'subject' | 'subjectaltname' | 'serialNumber'> & { ext_key_usage?: string[] },
): { ok: true; principal: Principal } | { ok: false; reason: string } {
  const identity = integrationFromCertificate(cert);
  if (!identity.ok) return identity;
  return {
    ok: true,
    principal: {
      sub: identity.integration,
      role: 'integration',
      scopes: scopesForRole('integration'),
      via: 'mtls',
      integration: identity.integration,
      credentialId: cert.serialNumber ? `cert:${cert.serialNumber}` : undefined,
      clientSubject: subjectToString(cert.subject as unknown as Record<string, string | string[]>),
    },
  };
}
