/**
 * Signed checkpoints: the per-chain tree heads an auditor checks with nothing but a public key.
 * The checkpoint has exactly the fields of CONTRACT "Inclusion proof"; its Ed25519 signature
 * covers the RFC 8785 canonical JSON of the checkpoint without `signature`, and checkpoints
 * chain: `previous` is {@link checkpointHash} of the checkpoint before (null for the first).
 *
 * Also here: key ids, checking a run of checkpoints (naming the first bad one), and checking a
 * CONTRACT inclusion-proof document end to end. Pure: no I/O, no clock (the caller supplies
 * `issuedAt`).
 */
import { KeyObject, createHash, createPublicKey, sign, verify } from 'node:crypto';
import { canonicalize } from './canonical-json';
import { Checkpoint, CheckpointBody, HEX32, InclusionProofDocument, UnsignedCheckpoint, checkpointShapeError, checkpointSigningPayload } from './checkpoint-form';
import type { BreakKind } from './chain-verifier';
import { leafHash, verifyInclusion } from './merkle';

export * from './checkpoint-form';

/** SHA-256 (hex) of the canonical JSON of the full signed checkpoint: the next one's `previous`. */
export function checkpointHash(cp: Checkpoint): string {
  return createHash('sha256').update(canonicalize(cp), 'utf8').digest('hex');
}

function toPublicKey(key: KeyObject | string): KeyObject {
  if (typeof key === 'string') return createPublicKey(key);
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** Key id: the first 16 hex digits of SHA-256 over the public key's SPKI DER encoding. */
export function keyIdFor(key: KeyObject | string): string {
  const der = toPublicKey(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/**
 * Signs a checkpoint with an Ed25519 private key. `keyId` defaults to keyIdFor(the key). The
 * result holds exactly the CONTRACT fields (anything else on `body` is not carried over).
 */
export function signCheckpoint(body: CheckpointBody, privateKey: KeyObject, keyId: string = keyIdFor(privateKey)): Checkpoint {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('checkpoints are signed with an Ed25519 private key');
  const unsigned: UnsignedCheckpoint = {
    chain: body.chain,
    treeSize: body.treeSize,
    rootHash: body.rootHash,
    lastHash: body.lastHash,
    issuedAt: body.issuedAt,
    previous: body.previous,
    keyId,
  };
  const problem = checkpointShapeError(unsigned, false);
  if (problem) throw new TypeError(`cannot sign checkpoint: ${problem}`);
  const signature = sign(null, Buffer.from(checkpointSigningPayload(unsigned), 'utf8'), privateKey).toString('base64');
  return { ...unsigned, signature };
}

/**
 * True when `cp` is well formed and its signature verifies under the Ed25519 public key (PEM or
 * KeyObject). It does not check that `keyId` names that key: look the key up by `keyId` first.
 */
export function verifyCheckpointSignature(cp: Checkpoint, publicKey: string | KeyObject): boolean {
  if (checkpointShapeError(cp) !== null) return false;
  let key: KeyObject;
  try {
    key = toPublicKey(publicKey);
  } catch {
    return false;
  }
  if (key.asymmetricKeyType !== 'ed25519') return false;
  const sig = Buffer.from(cp.signature, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(checkpointSigningPayload(cp), 'utf8'), key, sig);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// A run of checkpoints

export type CheckpointFaultKind =
  | 'malformed' // a field is missing or has the wrong form
  | 'wrong_chain' // belongs to another chain than the first checkpoint
  | 'unknown_key' // keyId names no known public key
  | 'bad_signature' // the signature does not verify under the key keyId names
  | 'broken_link' // previous is not the hash of the checkpoint before (one removed, inserted or reordered)
  | 'size_regression' // treeSize smaller than the checkpoint before
  | 'fork'; // same treeSize as the checkpoint before but another root or last hash

export interface CheckpointFault {
  /** Position in the list checked. */
  index: number;
  /** The chain the run belongs to (its first checkpoint's). */
  chain: string;
  treeSize: number;
  kind: CheckpointFaultKind;
  detail: string;
}

export interface CheckpointChainVerdict {
  ok: boolean;
  /** Checkpoints that passed, from the start of the list. */
  verified: number;
  fault: CheckpointFault | null;
}

/** Public keys by key id: PEM text or KeyObjects. */
export type PublicKeysById = ReadonlyMap<string, string | KeyObject> | Readonly<Record<string, string | KeyObject>>;

export interface CheckpointChainOptions {
  /**
   * The `previous` the first checkpoint must carry: null when the list starts at the chain's
   * first checkpoint, or the hash of the last checkpoint already trusted. When omitted, the first
   * checkpoint's link is not checked (nothing before it is known).
   */
  previous?: string | null;
}

/** Maps a checkpoint fault to the CONTRACT break kinds of the chain verifier. */
export function checkpointFaultBreakKind(kind: CheckpointFaultKind): BreakKind {
  return kind === 'bad_signature' || kind === 'unknown_key' ? 'bad_signature' : 'bad_checkpoint';
}

function lookupKey(keys: PublicKeysById, keyId: string): string | KeyObject | undefined {
  if (keys instanceof Map) return keys.get(keyId);
  const record = keys as Readonly<Record<string, string | KeyObject>>;
  return Object.prototype.hasOwnProperty.call(record, keyId) ? record[keyId] : undefined;
}

/** The chain a run belongs to: its first checkpoint's, else the one at hand's. */
function runChain(checkpoints: readonly Checkpoint[], cp: Checkpoint): string {
  const first = checkpoints[0] as unknown;
  for (const c of [first, cp as unknown]) {
    if (c !== null && typeof c === 'object' && typeof (c as Checkpoint).chain === 'string') return (c as Checkpoint).chain;
  }
  return '';
}

/**
 * Checks a run of one chain's checkpoints in issue order: each is well formed, signed by a known
 * key, links to the one before, and does not shrink or fork the tree. Names the first bad one.
 * (That each tree head matches the records is the record verifier's job.)
 */
export function verifyCheckpointChain(checkpoints: readonly Checkpoint[], publicKeysById: PublicKeysById, options: CheckpointChainOptions = {}): CheckpointChainVerdict {
  const parsed = new Map<string, KeyObject | null>();
  const keyFor = (keyId: string): KeyObject | null => {
    if (!parsed.has(keyId)) {
      const raw = lookupKey(publicKeysById, keyId);
      let key: KeyObject | null = null;
      if (raw !== undefined) {
        try {
          key = toPublicKey(raw);
        } catch {
          key = null;
        }
      }
      parsed.set(keyId, key);
    }
    return parsed.get(keyId) ?? null;
  };

  let prev: Checkpoint | null = null;
  let prevHash: string | null | undefined = options.previous;
  for (let index = 0; index < checkpoints.length; index++) {
    const cp = checkpoints[index];
    const fail = (kind: CheckpointFaultKind, detail: string): CheckpointChainVerdict => ({
      ok: false,
      verified: index,
      fault: {
        index,
        chain: runChain(checkpoints, cp),
        treeSize: cp !== null && typeof cp === 'object' && typeof cp.treeSize === 'number' ? cp.treeSize : -1,
        kind,
        detail,
      },
    });
    const shape = checkpointShapeError(cp);
    if (shape) return fail('malformed', shape);
    if (index > 0 && cp.chain !== checkpoints[0].chain) return fail('wrong_chain', `checkpoint of chain ${JSON.stringify(cp.chain)} in chain ${JSON.stringify(checkpoints[0].chain)}`);
    const key = keyFor(cp.keyId);
    if (!key) return fail('unknown_key', `no public key with id ${cp.keyId}`);
    if (!verifyCheckpointSignature(cp, key)) return fail('bad_signature', `signature does not verify under key ${cp.keyId}`);
    if (prevHash !== undefined && cp.previous !== prevHash) {
      return fail('broken_link', prevHash === null ? 'the first checkpoint must not link to a predecessor' : 'previous is not the hash of the checkpoint before');
    }
    if (prev) {
      if (cp.treeSize < prev.treeSize) return fail('size_regression', `tree size ${cp.treeSize} after ${prev.treeSize}`);
      if (cp.treeSize === prev.treeSize && (cp.rootHash !== prev.rootHash || cp.lastHash !== prev.lastHash)) {
        return fail('fork', `a second tree head for size ${cp.treeSize}`);
      }
    }
    prev = cp;
    prevHash = checkpointHash(cp);
  }
  return { ok: true, verified: checkpoints.length, fault: null };
}

// ---------------------------------------------------------------------------------------------
// An inclusion proof document

export interface ProofDocumentVerdict {
  ok: boolean;
  /** Why it failed, when it did. */
  reason: string | null;
}

/**
 * Checks a CONTRACT inclusion-proof document with one public key: the checkpoint is well formed
 * and signed, it is of the proof's chain, and the audit path leads from the record's leaf to the
 * checkpoint's root. (The record hash itself is checked against the record by the caller.)
 */
export function verifyInclusionProofDocument(doc: InclusionProofDocument, publicKey: string | KeyObject): ProofDocumentVerdict {
  const no = (reason: string): ProofDocumentVerdict => ({ ok: false, reason });
  if (doc === null || typeof doc !== 'object') return no('not an object');
  const cp = doc.checkpoint;
  const shape = checkpointShapeError(cp);
  if (shape) return no(`checkpoint: ${shape}`);
  if (!verifyCheckpointSignature(cp, publicKey)) return no('checkpoint signature does not verify');
  if (doc.chain !== cp.chain) return no('the checkpoint belongs to another chain');
  if (typeof doc.recordHash !== 'string' || !HEX32.test(doc.recordHash)) return no('recordHash must be 64 lower-case hex digits');
  if (!Array.isArray(doc.auditPath) || !doc.auditPath.every((h) => typeof h === 'string' && HEX32.test(h))) return no('auditPath must be a list of 64-digit hex hashes');
  const path = doc.auditPath.map((h) => Buffer.from(h, 'hex'));
  const ok = verifyInclusion(doc.leafIndex, cp.treeSize, leafHash(Buffer.from(doc.recordHash, 'hex')), path, Buffer.from(cp.rootHash, 'hex'));
  return ok ? { ok: true, reason: null } : no('the audit path does not lead to the checkpoint root');
}
