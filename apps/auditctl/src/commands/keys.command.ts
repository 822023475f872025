/**
 * `auditctl keys list|rotate`: the Ed25519 keys that sign checkpoints (DATA_DIR/keys/signing).
 * Rotation makes a new key current for the next checkpoint (a running service picks it up) and
 * keeps every old public key, so everything signed before still verifies.
 */
import { Command } from 'commander';
import { FileKeyProvider } from '@app/security';
import { resolveDataDir } from '../data-dir';

export function keysCommand(): Command {
  const keys = new Command('keys').description('checkpoint signing keys (DATA_DIR/keys/signing)');
  keys
    .command('list')
    .description('list the public keys (current last) as JSON: [{ keyId, publicKeyPem, createdAt, retiredAt? }]')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .action((opts: { dataDir?: string }) => {
      const provider = new FileKeyProvider(resolveDataDir(opts.dataDir));
      process.stdout.write(JSON.stringify(provider.hasKeys() ? provider.publicKeys() : [], null, 2) + '\n');
    });
  keys
    .command('rotate')
    .description('make a new signing key current; old public keys stay listed for verification')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .action((opts: { dataDir?: string }) => {
      const provider = new FileKeyProvider(resolveDataDir(opts.dataDir));
      const before = provider.hasKeys() ? provider.signingKey().keyId : null;
      const next = provider.rotate();
      process.stdout.write(`Signing key rotated: ${before ?? '(none)'} -> ${next.keyId}. Old public keys stay in the keyring.\n`);
    });
  return keys;
}
