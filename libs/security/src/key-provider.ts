/**
 * The file adapter of the KeyProvider port (key-provider.port.ts): the Ed25519 keys that sign checkpoints and reports.
 * The current key signs; rotation makes a new current key and keeps every old public key (with
 * its key id) so everything signed before still verifies. Private keys stay in
 * `DATA_DIR/keys/signing/` (0600); the keyring lists public keys only.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { keyIdFor } from '@app/ledger';
import { writeFileNoClobber, ensurePrivateDir, writeFileAtomic } from './secure-files';
import type { KeyProvider, PublicKeyRecord, SigningKey } from './key-provider.port';

interface Keyring {
  current: string;
  keys: PublicKeyRecord[];
}

export class FileKeyProvider implements KeyProvider {
  private readonly dir: string;
  private readonly ringFile: string;
  private cached: SigningKey | null = null;

  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'keys', 'signing');
    this.ringFile = path.join(this.dir, 'keyring.json');
  }

  signingKey(): SigningKey {
    const ring = this.readRing() ?? this.createFirstKey();
    if (this.cached?.keyId === ring.current) return this.cached;
    const pem = fs.readFileSync(this.privatePath(ring.current), 'utf8');
    const privateKey = crypto.createPrivateKey(pem);
    this.cached = { keyId: ring.current, privateKey, publicKeyPem: publicPem(privateKey) };
    return this.cached;
  }

  /** True once a keyring exists (readers such as `auditctl verify` must not create one). */
  hasKeys(): boolean {
    return fs.existsSync(this.ringFile);
  }

  publicKeys(): PublicKeyRecord[] {
    return (this.readRing() ?? this.createFirstKey()).keys.map((k) => ({ ...k }));
  }

  rotate(): SigningKey {
    const ring = this.readRing() ?? this.createFirstKey();
    const { privateKey, record } = this.newKey();
    const now = new Date().toISOString();
    const keys = ring.keys.map((k) => (k.keyId === ring.current ? { ...k, retiredAt: now } : k));
    keys.push(record);
    writeFileAtomic(this.ringFile, JSON.stringify({ current: record.keyId, keys }, null, 2) + '\n', 0o600);
    this.cached = { keyId: record.keyId, privateKey, publicKeyPem: record.publicKeyPem };
    return this.cached;
  }

  private readRing(): Keyring | null {
    if (!fs.existsSync(this.ringFile)) return null;
    return JSON.parse(fs.readFileSync(this.ringFile, 'utf8')) as Keyring;
  }

  private createFirstKey(): Keyring {
    ensurePrivateDir(this.dir);
    const { record } = this.newKey();
    const ring: Keyring = { current: record.keyId, keys: [record] };
    // Two processes starting at once: the first keyring written wins, the other's key is unused.
    if (!writeFileNoClobber(this.ringFile, JSON.stringify(ring, null, 2) + '\n', 0o600)) return this.readRing()!;
    return ring;
  }

  private newKey(): { privateKey: crypto.KeyObject; record: PublicKeyRecord } {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const keyId = keyIdFor(crypto.createPublicKey(privateKey));
    ensurePrivateDir(this.dir);
    writeFileNoClobber(this.privatePath(keyId), privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 0o600);
    return { privateKey, record: { keyId, publicKeyPem: publicPem(privateKey), createdAt: new Date().toISOString() } };
  }

  private privatePath(keyId: string): string {
    return path.join(this.dir, `${keyId}.pem`);
  }
}

function publicPem(privateKey: crypto.KeyObject): string {
  return crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
}
