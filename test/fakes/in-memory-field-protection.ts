/**
 * Test double of storage's FieldProtection port, in memory, so storage specs protect records at rest
 * without the security lib (storage never imports it: scripts/check-lib-imports.js). Keys live for
 * the test process: every double shares one tokenization key and one data keyring, as every store
 * of one data dir shares DATA_DIR/keys, so a copied or reopened data dir still opens. `rotate()`
 * makes a new current data key and keeps the old ones, like the file adapter.
 * `inMemoryFieldProtectionSource()` hands the same keys to a writer thread (field-protection-module.js).
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { DataKeyring, FieldProtection, FieldProtectionSource } from '@app/storage';

interface FakeModule {
  build(tokenKey: Buffer, keys: Map<string, crypto.KeyObject>, ring: { current: string }): FieldProtection;
}
const MODULE = path.join(__dirname, 'field-protection-module.js');
const { build } = require(MODULE) as FakeModule;

const tokenKey = crypto.randomBytes(32);
const dataKeys = new Map<string, crypto.KeyObject>();
const ring = { current: '' };

function rotate(): { keyId: string; key: crypto.KeyObject } {
  ring.current = `dk-${crypto.randomBytes(8).toString('hex')}`;
  dataKeys.set(ring.current, crypto.createSecretKey(crypto.randomBytes(32)));
  return { keyId: ring.current, key: dataKeys.get(ring.current)! };
}

export interface InMemoryFieldProtection extends FieldProtection {
  dataKeys: DataKeyring & { rotate(): { keyId: string; key: crypto.KeyObject } };
}

/** Patient tokens in the service's format, data keys in memory (shared by every double of the process). */
export function inMemoryFieldProtection(): InMemoryFieldProtection {
  if (!ring.current) rotate();
  const protection = build(tokenKey, dataKeys, ring);
  return { ...protection, dataKeys: { ...protection.dataKeys, rotate } };
}

/** The same keys, as they are now, for a storage worker thread. */
export function inMemoryFieldProtectionSource(): FieldProtectionSource {
  if (!ring.current) rotate();
  const keys = Object.fromEntries([...dataKeys].map(([id, key]) => [id, key.export().toString('base64')]));
  return { module: MODULE, options: { tokenKey: tokenKey.toString('base64'), dataKeys: JSON.stringify(keys), current: ring.current } };
}
