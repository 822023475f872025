/**
 * The file adapter of the DataKeyProvider port (data-key-provider.port.ts): the AES-256 keys that encrypt protected event
 * fields at rest (field-level encryption of the embedded store). Each key has an id stored with
 * every ciphertext; rotation makes a new current key and keeps every old one, so records sealed
 * before still open. Files: `DATA_KEYS_DIR` (default `DATA_DIR/keys/data`), `keyring.json` (ids and
 * dates, no key material) and one `<keyId>.key` per key (base64, 0600).
 *
 * A running service seals with the key that was current when it started; a key added by another
 * process (`auditctl keys rotate-data-key`) is found on first use by id, and becomes the sealing key
 * at the next start.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensurePrivateDir, writeFileAtomic, writeFileNoClobber } from './secure-files';
import type { DataKey, DataKeyProvider, DataKeyRecord } from './data-key-provider.port';

interface DataKeyring {
  current: string;
  keys: DataKeyRecord[];
}

const KEY_ID = /^dk-[0-9a-f]{16}$/;

export class FileDataKeyProvider implements DataKeyProvider {
  private readonly ringFile: string;
  private readonly keys = new Map<string, crypto.KeyObject>();
  private active: DataKey | null = null;

  constructor(private readonly dir: string) {
    this.ringFile = path.join(dir, 'keyring.json');
  }

  /** Default location under a data dir. */
  static forDataDir(dataDir: string, keysDir?: string): FileDataKeyProvider {
    return new FileDataKeyProvider(keysDir ?? path.join(dataDir, 'keys', 'data'));
  }

  current(): DataKey {
    if (this.active) return this.active;
    const ring = this.readRing() ?? this.createFirstKey();
    const key = this.byId(ring.current);
    if (!key) throw new Error(`data key ${ring.current} is listed in ${this.ringFile} but its key file is missing`);
    this.active = { keyId: ring.current, key };
    return this.active;
  }

  byId(keyId: string): crypto.KeyObject | undefined {
    const cached = this.keys.get(keyId);
    if (cached) return cached;
    if (!KEY_ID.test(keyId)) return undefined;
    let text: string;
    try {
      text = fs.readFileSync(this.keyPath(keyId), 'utf8');
    } catch {
      return undefined;
    }
    const raw = Buffer.from(text.trim(), 'base64');
    if (raw.length !== 32) throw new Error(`data key file for ${keyId} does not hold a 256-bit key`);
    const key = crypto.createSecretKey(raw);
    raw.fill(0);
    this.keys.set(keyId, key);
    return key;
  }

  /** Whether the keyring lists `keyId`; undefined when there is no keyring (nothing is created). */
  lists(keyId: string): boolean | undefined {
    const ring = this.readRing();
    return ring ? ring.keys.some((k) => k.keyId === keyId) : undefined;
  }

  list(): DataKeyRecord[] {
    return (this.readRing() ?? this.createFirstKey()).keys.map((k) => ({ ...k }));
  }

  rotate(): DataKey {
    const ring = this.readRing() ?? this.createFirstKey();
    const record = this.newKey();
    const now = new Date().toISOString();
    const keys = ring.keys.map((k) => (k.keyId === ring.current ? { ...k, retiredAt: now } : k));
    keys.push(record);
    writeFileAtomic(this.ringFile, JSON.stringify({ current: record.keyId, keys }, null, 2) + '\n', 0o600);
    this.active = { keyId: record.keyId, key: this.byId(record.keyId)! };
    return this.active;
  }

  private readRing(): DataKeyring | null {
    if (!fs.existsSync(this.ringFile)) return null;
    const ring = JSON.parse(fs.readFileSync(this.ringFile, 'utf8')) as DataKeyring;
    if (typeof ring.current !== 'string' || !Array.isArray(ring.keys)) throw new Error(`${this.ringFile} is not a data keyring`);
    return ring;
  }

  private createFirstKey(): DataKeyring {
    const ring: DataKeyring = { current: '', keys: [] };
    const record = this.newKey();
    ring.current = record.keyId;
    ring.keys.push(record);
    // Two processes starting at once: the first keyring written wins; the other's key file stays unused.
    if (!writeFileNoClobber(this.ringFile, JSON.stringify(ring, null, 2) + '\n', 0o600)) return this.readRing()!;
    return ring;
  }

  private newKey(): DataKeyRecord {
    ensurePrivateDir(this.dir);
    const keyId = `dk-${crypto.randomBytes(8).toString('hex')}`;
    const raw = crypto.randomBytes(32);
    writeFileNoClobber(this.keyPath(keyId), raw.toString('base64') + '\n', 0o600);
    raw.fill(0);
    return { keyId, createdAt: new Date().toISOString() };
  }

  private keyPath(keyId: string): string {
    return path.join(this.dir, `${keyId}.key`);
  }
}
