/**
 * The hash chain: `hash_n = SHA-256(hash_{n-1} || canonical(record_n))`, where the record covers
 * the chain id, the sequence number, the server receive time and the canonical event. The first
 * record of a chain links to 32 zero bytes.
 */
import { createHash } from 'node:crypto';

export const HASH_BYTES = 32;
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);

/**
 * The canonical (RFC 8785) form of a stored record, built from its parts. `eventJson` must itself
 * be the canonical form of the event. Keys in code-unit order: chain, event, receivedAt, seq.
 */
export function canonicalRecord(chain: string, seq: number, receivedAt: string, eventJson: string): string {
  return `{"chain":${JSON.stringify(chain)},"event":${eventJson},"receivedAt":${JSON.stringify(receivedAt)},"seq":${seq}}`;
}

export function chainHash(prevHash: Buffer, canonicalRecordText: string): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalRecordText, 'utf8').digest();
}

export function recordHash(prevHash: Buffer, chain: string, seq: number, receivedAt: string, eventJson: string): Buffer {
  return chainHash(prevHash, canonicalRecord(chain, seq, receivedAt, eventJson));
}
