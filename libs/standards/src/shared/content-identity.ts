/**
 * Content identity for mapped standard messages: the SHA-256 that makes a mapping auditable, and
 * the deterministic event id derived from it so that a retried message maps to the same event id
 * (and therefore the same receipt, since ingestion is idempotent on the id).
 */
import { createHash } from 'node:crypto';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Name spaces of the derived ids: the same bytes arriving as FHIR or as ATNA never collide. */
export const ID_NAMESPACES = {
  fhirAuditEvent: '5b0e3c1e-9f7a-4c1e-8a55-3f2f6d1c9a01',
  dicomAuditMessage: '0d4b7e2a-6c39-4f0b-9e1d-7a8c2b5f4e02',
} as const;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A name-based UUID computed like UUIDv5 (hash of name space + name) but with SHA-256 instead of
 * SHA-1. RFC 9562 reserves version 5 for SHA-1, so the version nibble is 8 ("custom"), the form
 * RFC 9562 Appendix B.2 gives for SHA-256 name-based ids; the variant bits are the RFC ones.
 */
export function nameBasedUuid(namespace: string, name: string | Buffer): string {
  if (!isUuid(namespace)) throw new TypeError('name space must be a UUID');
  const hash = createHash('sha256')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name)
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
