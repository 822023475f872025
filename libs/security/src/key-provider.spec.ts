import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileKeyProvider } from './key-provider';

describe('FileKeyProvider', () => {
  const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'keys-'));

  it('creates one signing key on first use and reuses it across instances', () => {
    const d = dir();
    const a = new FileKeyProvider(d).signingKey();
    const b = new FileKeyProvider(d).signingKey();
    expect(b.keyId).toBe(a.keyId);
    expect(a.keyId).toMatch(/^[0-9a-f]{16}$/);
    const file = path.join(d, 'keys', 'signing', `${a.keyId}.pem`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(d, 'keys', 'signing', 'keyring.json'), 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('rotates: the new key signs, the old public key still verifies what it signed', () => {
    const d = dir();
    const keys = new FileKeyProvider(d);
    const old = keys.signingKey();
    const message = Buffer.from('checkpoint');
    const oldSig = crypto.sign(null, message, old.privateKey);
    const next = keys.rotate();
    expect(next.keyId).not.toBe(old.keyId);
    expect(new FileKeyProvider(d).signingKey().keyId).toBe(next.keyId);
    const listed = new FileKeyProvider(d).publicKeys();
    expect(listed.map((k) => k.keyId)).toEqual([old.keyId, next.keyId]);
    expect(listed[0].retiredAt).toBeDefined();
    expect(crypto.verify(null, message, listed[0].publicKeyPem, oldSig)).toBe(true);
  });
});
