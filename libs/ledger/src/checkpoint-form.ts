/**
 * The form of a signed checkpoint (CONTRACT "Inclusion proof"): its fields, the check that a
 * value has that form, and the bytes its Ed25519 signature covers (RFC 8785 canonical JSON of the
 * checkpoint without `signature`). No Node APIs, so the in-browser verifier shares it with the
 * service (see checkpoint.ts for signing and verifying with node:crypto).
 */
import { canonicalize } from './canonical-json';

/** What a checkpoint states, before the key and signature are added. */
export interface CheckpointBody {
  chain: string;
  /** Number of records (Merkle leaves) covered: seq 0 .. treeSize - 1. */
  treeSize: number;
  /** RFC 9162 tree head over the record hashes, lower-case hex. */
  rootHash: string;
  /** Hash of the last covered record (the chain head), lower-case hex. */
  lastHash: string;
  /** RFC 3339 time of issue. */
  issuedAt: string;
  /** checkpointHash of the previous checkpoint of this chain, or null for the first. */
  previous: string | null;
}

/** The signed part: everything but the signature. */
export interface UnsignedCheckpoint extends CheckpointBody {
  keyId: string;
}

/** A signed checkpoint, exactly as CONTRACT "Inclusion proof" shows it. */
export interface Checkpoint extends UnsignedCheckpoint {
  /** Ed25519 signature over checkpointSigningPayload, standard base64. */
  signature: string;
}

/** The CONTRACT `GET /v1/events/{id}/proof` document. */
export interface InclusionProofDocument {
  chain: string;
  seq: number;
  recordHash: string;
  leafIndex: number;
  auditPath: string[];
  checkpoint: Checkpoint;
}

export const HEX32 = /^[0-9a-f]{64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const BASE64_ED25519_SIG = /^[A-Za-z0-9+/]{86}==$/;

/**
 * The bytes that are signed: RFC 8785 canonical JSON of the checkpoint without `signature`
 * (every other field is covered, so a field added to a signed checkpoint breaks its signature).
 */
export function checkpointSigningPayload(cp: UnsignedCheckpoint | Checkpoint): string {
  const rest: Record<string, unknown> = { ...cp };
  delete rest.signature;
  return canonicalize(rest);
}

/** Why a checkpoint is not well formed, or null when it is. */
export function checkpointShapeError(cp: unknown, signed = true): string | null {
  if (cp === null || typeof cp !== 'object' || Array.isArray(cp)) return 'not an object';
  const c = cp as Record<string, unknown>;
  if (typeof c.chain !== 'string' || c.chain.length === 0) return 'chain must be a non-empty string';
  if (typeof c.treeSize !== 'number' || !Number.isSafeInteger(c.treeSize) || c.treeSize < 0) return 'treeSize must be a non-negative integer';
  if (typeof c.rootHash !== 'string' || !HEX32.test(c.rootHash)) return 'rootHash must be 64 lower-case hex digits';
  if (typeof c.lastHash !== 'string' || !HEX32.test(c.lastHash)) return 'lastHash must be 64 lower-case hex digits';
  if (typeof c.issuedAt !== 'string' || !RFC3339.test(c.issuedAt)) return 'issuedAt must be an RFC 3339 timestamp';
  if (c.previous !== null && (typeof c.previous !== 'string' || !HEX32.test(c.previous))) return 'previous must be null or 64 lower-case hex digits';
  if (typeof c.keyId !== 'string' || c.keyId.length === 0) return 'keyId must be a non-empty string';
  if (signed && (typeof c.signature !== 'string' || !BASE64_ED25519_SIG.test(c.signature))) return 'signature must be a base64 Ed25519 signature';
  return null;
}

