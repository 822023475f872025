/**
 * Matching tokens for names and addresses in the context feeds (CONTRACT "Context feeds"): a clear
 * value is normalized (Unicode NFKC, accents removed, lower case, punctuation and runs of whitespace
 * folded to one space, trimmed) and turned into `ctk_` + 24 base32 characters of
 * HMAC-SHA256(key, kind + ":" + normalized). Equal tokens mean equal normalized values, so detection
 * can compare a user's surname or address with a patient's without either being kept in clear.
 *
 * The key is its own (not the patient tokenization key): `CONTEXT_MATCHING_KEY_FILE`, default
 * `DATA_DIR/keys/context-matching.key`, 256 random bits, 0600, created on first use like the
 * tokenization key. It is never rotated: a new key would change every stored token.
 */
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import { FileTokenizationKeyProvider, base32, isPatientToken } from '@app/security/patient-tokenizer';
import type { TokenizationKeyProvider } from '@app/security/tokenization-key-provider.port';

export const MATCHING_TOKEN_PREFIX = 'ctk_';
export const MATCHING_TOKEN_PATTERN = /^ctk_[a-z2-7]{24}$/;

/** What a token stands for; the kinds are domain-separated (a name never matches an address). */
export type MatchingKind = 'name' | 'address';

export function isMatchingToken(value: unknown): value is string {
  return typeof value === 'string' && MATCHING_TOKEN_PATTERN.test(value);
}

/** True for anything that looks like one of the service's own tokens (matching or patient). */
export function looksLikeToken(value: string): boolean {
  return isMatchingToken(value) || isPatientToken(value);
}

const COMBINING_MARKS = /\p{M}+/gu;
const NOT_LETTER_OR_DIGIT = /[^\p{L}\p{N}]+/gu;

/** `  Müller-Lüdenscheidt ` and `MULLER lüdenscheidt` normalize alike: `muller ludenscheidt`. */
export function normalizeMatchingValue(value: string): string {
  return value
    .normalize('NFKC')
    .normalize('NFD')
    .replace(COMBINING_MARKS, '')
    .normalize('NFC')
    .toLowerCase()
    .replace(NOT_LETTER_OR_DIGIT, ' ')
    .trim();
}

/** Distinct values remembered per tokenizer (memory only; surnames and addresses repeat a lot in bulk loads). */
const CACHE_LIMIT = 100_000;

export class MatchingTokenizer {
  private readonly cache = new Map<string, string | undefined>();

  constructor(private readonly keys: TokenizationKeyProvider) {}

  static forDataDir(dataDir: string, file?: string): MatchingTokenizer {
    return new MatchingTokenizer(new FileTokenizationKeyProvider(file ?? path.join(dataDir, 'keys', 'context-matching.key')));
  }

  /** The token of a clear value, or undefined when nothing is left after normalization. */
  token(kind: MatchingKind, clear: string): string | undefined {
    const cacheKey = kind === 'name' ? 'n' + clear : 'a' + clear;
    if (this.cache.has(cacheKey)) return this.cache.get(cacheKey);
    const token = this.compute(kind, clear);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(cacheKey, token);
    return token;
  }

  private compute(kind: MatchingKind, clear: string): string | undefined {
    const normalized = normalizeMatchingValue(clear);
    if (normalized === '') return undefined;
    const mac = crypto.createHmac('sha256', this.keys.tokenizationKey()).update(kind).update(':').update(normalized, 'utf8').digest();
    // One flat string (the concatenations would otherwise stay behind it as a chain of pieces):
    // the context index holds millions of these.
    return Buffer.from(MATCHING_TOKEN_PREFIX + base32(mac), 'latin1').toString('latin1');
  }
}
