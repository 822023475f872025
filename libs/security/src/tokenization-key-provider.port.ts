/**
 * The TokenizationKeyProvider port: the HMAC key of patient tokens and display pseudonyms (never
 * rotated: a new key would change every token). File adapter: FileTokenizationKeyProvider in
 * patient-tokenizer.ts.
 */
import type * as crypto from 'node:crypto';

export interface TokenizationKeyProvider {
  tokenizationKey(): crypto.KeyObject;
}
