/**
 * The DataKeyProvider port: the AES-256 keys that seal protected event fields at rest, by id, with
 * rotation. It satisfies storage's DataKeyring (field-protection.port.ts) and adds what key
 * administration needs. File adapter: data-key-provider.ts.
 */
import type * as crypto from 'node:crypto';

export interface DataKey {
  keyId: string;
  key: crypto.KeyObject;
}

export interface DataKeyRecord {
  keyId: string;
  createdAt: string;
  /** Set when a newer key took over sealing; the key still opens what it sealed. */
  retiredAt?: string;
}

export interface DataKeyProvider {
  /** The key that seals now (created on first use). */
  current(): DataKey;
  /** Any key ever used, by id; undefined when its file is missing. */
  byId(keyId: string): crypto.KeyObject | undefined;
  /** Every key id, current last (no key material). */
  list(): DataKeyRecord[];
  /** Whether the keyring lists `keyId`; undefined when there is no keyring yet. */
  lists(keyId: string): boolean | undefined;
  /** Makes a new key current; old keys stay for decryption. */
  rotate(): DataKey;
}

export const DATA_KEY_PROVIDER = Symbol('DATA_KEY_PROVIDER');
