/**
 * `auditctl data-keys list` and `auditctl data-keys rotate`: the data keys that encrypt patient ids and
 * IPs at rest (DATA_KEYS_DIR, default DATA_DIR/keys/data). Rotation adds a new current key and keeps
 * every old one, so records sealed before still open; a running service seals with the new key from
 * its next start (it finds the new key by id at once when reading). Prints key ids only, never keys.
 */
import { Command } from 'commander';
import { FileDataKeyProvider } from '@app/security';
import { cliConfig } from '../data-dir';

function provider(dataDir?: string): FileDataKeyProvider {
  const config = cliConfig(dataDir);
  return FileDataKeyProvider.forDataDir(config.dataDir, config.dataKeysDir);
}

export function dataKeysCommand(): Command {
  const keys = new Command('data-keys').description('data keys of field-level encryption at rest (ids only)');
  keys
    .command('list')
    .description('list the data key ids (current last)')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .action((opts: { dataDir?: string }) => {
      for (const k of provider(opts.dataDir).list()) {
        process.stdout.write(`${k.keyId}  created ${k.createdAt}${k.retiredAt ? `  retired ${k.retiredAt}` : '  (current)'}\n`);
      }
    });
  keys
    .command('rotate')
    .description('make a new data key current; old keys stay for decryption')
    .option('--data-dir <dir>', 'data directory (default: $DATA_DIR, then ./data)')
    .action((opts: { dataDir?: string }) => {
      const p = provider(opts.dataDir);
      p.list(); // creates the first key if there is none yet, so rotation always retires one
      const { keyId } = p.rotate();
      process.stdout.write(`current data key: ${keyId} (restart the service to seal with it)\n`);
    });
  return keys;
}
