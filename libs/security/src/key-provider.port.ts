/**
 * The KeyProvider port: the Ed25519 keys that sign checkpoints and reports. The current key signs;
 * rotation makes a new current key and keeps every old public key listed. File adapter: key-provider.ts.
 */
import type * as crypto from 'node:crypto';

export interface SigningKey {
  keyId: string;
  privateKey: crypto.KeyObject;
  publicKeyPem: string;
}

export interface PublicKeyRecord {
  keyId: string;
  publicKeyPem: string;
  createdAt: string;
  /** Set when a newer key took over; the key still verifies what it signed. */
  retiredAt?: string;
}

export interface KeyProvider {
  /** The key that signs now (created on first use). */
  signingKey(): SigningKey;
  /** Every public key ever used, current last. */
  publicKeys(): PublicKeyRecord[];
  /** Makes a new signing key current; old public keys stay listed. */
  rotate(): SigningKey;
}

export const KEY_PROVIDER = Symbol('KEY_PROVIDER');
