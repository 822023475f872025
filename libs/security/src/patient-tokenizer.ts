/**
 * Patient tokens (minimum necessary): a patient id is shown to principals without the
 * `events:identified` scope as `ptk_` + 24 base32 characters of HMAC-SHA256(key, "patient-id:" + id).
 * The same patient always gets the same token (investigations still work, and the embedded store's
 * `patient_id` index column holds it), and without the key nobody can turn a token back into an id;
 * re-identification is a separate audited call.
 *
 * The key comes from a TokenizationKeyProvider (file adapter: `TOKENIZATION_KEY_FILE`, default
 * `DATA_DIR/keys/tokenization.key`, 256 random bits, 0600, created on first use). It is never rotated:
 * a new key would change every token, and the index column of stored events.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
// By file, not the library index: verification worker threads load this module and nothing of Nest.
import { canonicalPatientId } from '@app/core/identifiers';
import { writeFileNoClobber } from './secure-files';
import type { TokenizationKeyProvider } from './tokenization-key-provider.port';

export const PATIENT_TOKEN_PREFIX = 'ptk_';
export const PATIENT_TOKEN_PATTERN = /^ptk_[a-z2-7]{24}$/;

export function isPatientToken(value: unknown): value is string {
  return typeof value === 'string' && PATIENT_TOKEN_PATTERN.test(value);
}

export class FileTokenizationKeyProvider implements TokenizationKeyProvider {
  private key: crypto.KeyObject | null = null;

  constructor(readonly file: string) {}

  static forDataDir(dataDir: string, file?: string): FileTokenizationKeyProvider {
    return new FileTokenizationKeyProvider(file ?? path.join(dataDir, 'keys', 'tokenization.key'));
  }

  tokenizationKey(): crypto.KeyObject {
    if (this.key) return this.key;
    if (!fs.existsSync(this.file)) {
      const fresh = crypto.randomBytes(32);
      // Two processes starting at once: the first file written wins and both read it back.
      writeFileNoClobber(this.file, fresh.toString('base64') + '\n', 0o600);
      fresh.fill(0);
    }
    const raw = Buffer.from(fs.readFileSync(this.file, 'utf8').trim(), 'base64');
    if (raw.length < 32) throw new Error(`${this.file} does not hold a 256-bit tokenization key`);
    this.key = crypto.createSecretKey(raw);
    raw.fill(0);
    return this.key;
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const CACHE_LIMIT = 100_000;

/** 15 bytes -> 24 base32 characters (RFC 4648 alphabet, lower case, no padding needed); also the context matching tokens'. */
export function base32(bytes: Buffer): string {
  let out = '';
  for (let i = 0; i < 15; i += 5) {
    const hi = (bytes[i] << 12) | (bytes[i + 1] << 4) | (bytes[i + 2] >> 4); // 20 bits
    const lo = ((bytes[i + 2] & 0x0f) << 16) | (bytes[i + 3] << 8) | bytes[i + 4]; // 20 bits
    for (const v of [hi, lo]) out += BASE32[(v >> 15) & 31] + BASE32[(v >> 10) & 31] + BASE32[(v >> 5) & 31] + BASE32[v & 31];
  }
  return out;
}

export class PatientTokenizer {
  /** Ingest repeats patients constantly; one HMAC per distinct id is enough (bounded, in memory only). */
  private readonly cache = new Map<string, string>();

  constructor(private readonly keys: TokenizationKeyProvider) {}

  /** The token of the patient's canonical id (look-alike spellings of one id share one token). */
  token(posted: string): string {
    const patientId = canonicalPatientId(posted);
    let t = this.cache.get(patientId);
    if (t === undefined) {
      const mac = crypto.createHmac('sha256', this.keys.tokenizationKey()).update('patient-id:').update(patientId, 'utf8').digest();
      t = PATIENT_TOKEN_PREFIX + base32(mac);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(patientId, t);
    }
    return t;
  }

  isToken(value: string): boolean {
    return isPatientToken(value);
  }
}
