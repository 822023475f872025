/**
 * Actor pseudonyms for agents a source names only by a display text (issue 21: HAPI FHIR's public
 * test server sends `[masked address] X-USERNAME` and nothing else). The display may be a person's
 * name, so it is never stored: the actor id is `psn_` + 24 base32 characters of
 * HMAC-SHA256(tokenization key, "actor-display:" + normalized display). The same display always
 * gives the same id (detection groups one user's accesses, two users stay apart), and without the
 * key nobody can tell which display it came from or test a guessed name against it. The key is the
 * patient tokenization key (`TOKENIZATION_KEY_FILE`), domain-separated from patient tokens by its
 * prefix, so a pseudonym never equals a patient token.
 */
import * as crypto from 'node:crypto';
import { base32 } from './patient-tokenizer';
import type { TokenizationKeyProvider } from './tokenization-key-provider.port';

export const ACTOR_PSEUDONYM_PREFIX = 'psn_';
export const ACTOR_PSEUDONYM_PATTERN = /^psn_[a-z2-7]{24}$/;

export function isActorPseudonym(value: unknown): value is string {
  return typeof value === 'string' && ACTOR_PSEUDONYM_PATTERN.test(value);
}

/** Unicode NFKC, whitespace runs folded to one space, trimmed: `Jane  Roe ` and `Jane Roe` are one actor. */
export function normalizeDisplay(display: string): string {
  return display.normalize('NFKC').replace(/\s+/gu, ' ').trim();
}

const CACHE_LIMIT = 10_000;

export class DisplayPseudonymizer {
  /** Display to pseudonym, in memory only (bounded); never written anywhere. */
  private readonly cache = new Map<string, string>();

  constructor(private readonly keys: TokenizationKeyProvider) {}

  /** The pseudonym of a display text, or undefined when nothing is left after normalization. */
  pseudonym(display: string): string | undefined {
    const normalized = normalizeDisplay(display);
    if (normalized === '') return undefined;
    const cached = this.cache.get(normalized);
    if (cached !== undefined) return cached;
    const mac = crypto.createHmac('sha256', this.keys.tokenizationKey()).update('actor-display:').update(normalized, 'utf8').digest();
    const id = ACTOR_PSEUDONYM_PREFIX + base32(mac);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(normalized, id);
    return id;
  }
}
