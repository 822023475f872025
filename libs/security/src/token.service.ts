/**
 * Bearer tokens: mints and verifies JWTs (jose). Locally they are signed EdDSA (Ed25519) with a key
 * created on first use at DATA_DIR/keys/token-signing-key.pem (0600); its key id is the RFC 7638
 * thumbprint of the public key. With TOKEN_JWKS_URL set, an external identity provider's JWKS replaces
 * the local key (verification only). Usable inside Nest (APP_CONFIG) and standalone (`auditctl token`).
 * Never logs tokens or keys.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  errors as joseErrors,
  exportJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { APP_CONFIG } from '@app/core';
import type { AppConfig } from '@app/core';
import { parseDurationSeconds } from './duration';
import { isIntegrationId, SAMPLE_INTEGRATION_ID } from './integration-identity';
import type { Principal } from './principal';
import { isRole, ROLES, scopesForRole, type Role } from './scopes';
import { writeFileNoClobber } from './secure-files';

/** The configuration the token service reads (an AppConfig satisfies it). */
export type TokenServiceConfig = Pick<AppConfig, 'dataDir' | 'tokenIssuer' | 'tokenAudience' | 'tokenMaxTtl'> &
  Partial<Pick<AppConfig, 'tokenJwksUrl' | 'tokenRoleClaim'>>;

export interface IssueTokenOptions {
  role: Role;
  /** Subject; defaults to `sample-ehr` for role integration, else `local-<role>`. */
  sub?: string;
  /** Lifetime, e.g. 15m, 12h, 30d (or seconds). Default 12h (or TOKEN_MAX_TTL if shorter). */
  ttl?: string | number;
}

export interface IssuedToken {
  token: string;
  role: Role;
  sub: string;
  jti: string;
  keyId: string;
  expiresAt: Date;
}

export type TokenErrorCode = 'malformed' | 'expired' | 'invalid' | 'role' | 'unavailable' | 'revoked';

/** Why a token was refused. `message` never contains the token. `unavailable` = could not check now. */
export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
    /** The token's subject, only when its signature verified (an expired token): who tried, for the access log. */
    readonly subject?: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export const TOKEN_KEY_FILE = path.join('keys', 'token-signing-key.pem');
export const DEFAULT_TOKEN_TTL = '12h';
/** Allowed clock skew between issuer and verifier. */
export const TOKEN_CLOCK_TOLERANCE_SECONDS = 30;
const MAX_TOKEN_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SUB_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** Asymmetric algorithms accepted from an external IdP; never `none` or HMAC. */
const JWKS_ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const KEY_RELOAD_MIN_INTERVAL_MS = 5000;
/** Verified tokens are remembered (in memory only) for at most this long, and never past their exp. */
const VERIFIED_CACHE_MS = 60_000;
const VERIFIED_CACHE_MAX = 10_000;

interface LocalKey {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  kid: string;
  publicJwk: JWK;
}

@Injectable()
export class TokenService implements OnModuleInit {
  private readonly issuer: string;
  private readonly audience: string;
  private readonly maxTtlSeconds: number;
  private readonly roleClaim: string;
  private readonly keyPath: string;
  private readonly remoteJwks?: JWTVerifyGetKey;
  private localKey?: Promise<LocalKey>;
  private lastReload = 0;
  /** Signature checks cost ~0.1-0.3 ms; single-event ingest re-sends the same token many times a second. */
  private readonly verified = new Map<string, { principal: Principal; until: number; jti?: string; iat?: number }>();
  private revocations: { tokenRevoked(t: { jti?: string; sub: string; iat?: number }): boolean } | null = null;

  constructor(@Inject(APP_CONFIG) config: TokenServiceConfig) {
    this.issuer = config.tokenIssuer;
    this.audience = config.tokenAudience;
    this.maxTtlSeconds = parseDurationSeconds(config.tokenMaxTtl);
    this.roleClaim = config.tokenRoleClaim || 'role';
    this.keyPath = path.join(path.resolve(config.dataDir), TOKEN_KEY_FILE);
    if (config.tokenJwksUrl) {
      this.remoteJwks = createRemoteJWKSet(new URL(config.tokenJwksUrl), {
        timeoutDuration: 5000,
        cooldownDuration: 30_000,
        cacheMaxAge: 10 * 60_000,
      });
    }
  }

  /** `local` (own Ed25519 key, can mint) or `jwks` (external IdP, verify only). */
  get mode(): 'local' | 'jwks' {
    return this.remoteJwks ? 'jwks' : 'local';
  }

  /** Where the local signing key lives (whether or not it exists yet). */
  get signingKeyPath(): string {
    return this.keyPath;
  }

  /** Under Nest: make sure the signing key exists at start, so the CLI and the server share it. */
  async onModuleInit(): Promise<void> {
    if (this.mode === 'local') await this.getLocalKey();
  }

  /** A signed bearer token for the role (see `issueWithDetails`). */
  async issue(options: IssueTokenOptions): Promise<string> {
    return (await this.issueWithDetails(options)).token;
  }

  /** Mint a token; throws RangeError for a bad role, subject or ttl (ttl above TOKEN_MAX_TTL included). */
  async issueWithDetails(options: IssueTokenOptions): Promise<IssuedToken> {
    if (this.remoteJwks) throw new Error('token minting is disabled: TOKEN_JWKS_URL delegates tokens to an external identity provider');
    const { role } = options;
    if (!isRole(role)) throw new RangeError(`unknown role "${String(role)}"; expected one of ${ROLES.join(', ')}`);
    const sub = options.sub ?? (role === 'integration' ? SAMPLE_INTEGRATION_ID : `local-${role}`);
    if (!SUB_PATTERN.test(sub)) throw new RangeError('sub must be 1..128 printable characters without spaces');
    if (role === 'integration' && !isIntegrationId(sub)) {
      throw new RangeError('for role integration, sub is the integration id: lower-case letters, digits, . _ - (max 64)');
    }
    const ttlSeconds = this.ttlSeconds(options.ttl);
    const key = await this.getLocalKey();
    const now = Math.floor(Date.now() / 1000);
    const jti = crypto.randomUUID();
    const claims: JWTPayload = { [this.roleClaim]: role, scope: scopesForRole(role).join(' ') };
    if (role === 'integration') claims.integration = sub;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: key.kid })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setSubject(sub)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(jti)
      .sign(key.privateKey);
    return { token, role, sub, jti, keyId: key.kid, expiresAt: new Date((now + ttlSeconds) * 1000) };
  }

  /**
   * Check signature, algorithm, exp/nbf, issuer, audience and role, and return the principal. Scopes come
   * from the role (ROLE_SCOPES), never from the token. Throws TokenError.
   */
  async verify(token: string): Promise<Principal> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
      throw new TokenError('malformed', 'bearer token is not a compact JWS');
    }
    const hit = this.verified.get(token);
    if (hit) {
      if (this.isRevoked({ jti: hit.jti, sub: hit.principal.sub, iat: hit.iat })) throw new TokenError('revoked', 'the token was revoked');
      if (hit.until > Date.now()) return { ...hit.principal, scopes: [...hit.principal.scopes] };
      this.verified.delete(token);
    }
    let payload: JWTPayload;
    if (this.remoteJwks) {
      try {
        payload = (await jwtVerify(token, this.remoteJwks, this.verifyOptions(JWKS_ALGORITHMS))).payload;
      } catch (err) {
        throw toTokenError(err, 'jwks');
      }
    } else {
      try {
        await this.getLocalKey();
      } catch {
        throw new TokenError('unavailable', 'the token signing key cannot be read');
      }
      try {
        payload = (await jwtVerify(token, this.localKeyResolver, this.verifyOptions(['EdDSA']))).payload;
      } catch (err) {
        throw toTokenError(err, 'local');
      }
    }
    if (typeof payload.sub !== 'string' || !SUB_PATTERN.test(payload.sub)) throw new TokenError('invalid', 'token subject is missing or malformed');
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    if (this.isRevoked({ jti, sub: payload.sub, iat: typeof payload.iat === 'number' ? payload.iat : undefined })) {
      throw new TokenError('revoked', 'the token was revoked', payload.sub);
    }
    // TOKEN_MAX_TTL holds for every token (issue 22): it must say when it was issued, and neither its
    // stated lifetime nor the time it has left may exceed the maximum (a token minted with no iat and
    // an exp a century ahead is refused, whoever signed it).
    const nowSeconds = Math.floor(Date.now() / 1000);
    const limit = this.maxTtlSeconds + TOKEN_CLOCK_TOLERANCE_SECONDS;
    if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat) || payload.iat > nowSeconds + TOKEN_CLOCK_TOLERANCE_SECONDS) {
      throw new TokenError('invalid', 'token has no valid issued-at time');
    }
    if (typeof payload.exp !== 'number' || payload.exp - payload.iat > limit || payload.exp - nowSeconds > limit) {
      throw new TokenError('invalid', 'token lifetime exceeds TOKEN_MAX_TTL');
    }
    const role = this.roleFrom(payload[this.roleClaim]);
    const principal: Principal = {
      sub: payload.sub,
      role,
      scopes: scopesForRole(role),
      via: 'token',
      credentialId: typeof payload.jti === 'string' ? `jti:${payload.jti.slice(0, 128)}` : undefined,
    };
    if (role === 'integration') {
      const integration = typeof payload.integration === 'string' ? payload.integration : payload.sub;
      if (!isIntegrationId(integration)) throw new TokenError('invalid', 'integration token does not name a valid integration');
      principal.integration = integration;
    }
    this.remember(token, principal, payload.exp, jti, typeof payload.iat === 'number' ? payload.iat : undefined);
    return { ...principal, scopes: [...principal.scopes] };
  }

  /** Whether the revocation list names the token; TokenError 'unavailable' (503) when the list cannot be read. */
  private isRevoked(t: { jti?: string; sub: string; iat?: number }): boolean {
    if (!this.revocations) return false;
    try {
      return this.revocations.tokenRevoked(t);
    } catch {
      throw new TokenError('unavailable', 'the revocation list cannot be read');
    }
  }

  /** Consult a revocation list on every verification (also of tokens verified before). */
  useRevocations(list: { tokenRevoked(t: { jti?: string; sub: string; iat?: number }): boolean }): void {
    this.revocations = list;
  }

  private remember(token: string, principal: Principal, exp: number | undefined, jti?: string, iat?: number): void {
    if (typeof exp !== 'number') return;
    const until = Math.min(exp * 1000, Date.now() + VERIFIED_CACHE_MS);
    if (until <= Date.now()) return;
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.delete(this.verified.keys().next().value as string); // oldest first
    this.verified.set(token, { principal, until, jti, iat });
  }

  /** The public verification key(s) as a JWKS (local mode), e.g. to publish for other services. */
  async publicJwks(): Promise<{ keys: JWK[] }> {
    if (this.remoteJwks) return { keys: [] };
    const key = await this.getLocalKey();
    return { keys: [{ ...key.publicJwk }] };
  }

  /** Key id of the local signing key (creating the key if needed). */
  async keyId(): Promise<string> {
    return (await this.getLocalKey()).kid;
  }

  private verifyOptions(algorithms: string[]) {
    return {
      issuer: this.issuer,
      audience: this.audience,
      algorithms,
      clockTolerance: TOKEN_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
    };
  }

  private ttlSeconds(ttl: string | number | undefined): number {
    let seconds: number;
    if (ttl === undefined) seconds = Math.min(parseDurationSeconds(DEFAULT_TOKEN_TTL), this.maxTtlSeconds);
    else if (typeof ttl === 'number') {
      if (!Number.isInteger(ttl) || ttl <= 0) throw new RangeError('ttl must be a positive whole number of seconds');
      seconds = ttl;
    } else {
      try {
        seconds = parseDurationSeconds(ttl);
      } catch (err) {
        throw new RangeError((err as Error).message);
      }
    }
    if (seconds > this.maxTtlSeconds) throw new RangeError(`ttl exceeds the maximum token lifetime (TOKEN_MAX_TTL, ${this.maxTtlSeconds}s)`);
    return seconds;
  }

  private roleFrom(claim: unknown): Role {
    if (isRole(claim)) return claim;
    if (Array.isArray(claim)) {
      const known = [...new Set(claim.filter(isRole))];
      if (known.length === 1) return known[0]!;
      if (known.length > 1) throw new TokenError('role', 'token carries more than one role');
    }
    throw new TokenError('role', 'token carries no known role');
  }

  /** Picks the local key by `kid`; an unknown kid triggers a (rate-limited) re-read of the key file. */
  private readonly localKeyResolver: JWTVerifyGetKey = async (header) => {
    let key = await this.getLocalKey();
    if (header.kid !== key.kid && Date.now() - this.lastReload > KEY_RELOAD_MIN_INTERVAL_MS) {
      this.lastReload = Date.now();
      // Re-read only (never create here): the key may have been rotated on disk by an operator.
      const fresh = await Promise.resolve()
        .then(() => describeKey(readKey(this.keyPath)))
        .catch(() => key);
      if (fresh.kid !== key.kid) {
        this.localKey = Promise.resolve(fresh);
        this.verified.clear();
        key = fresh;
      }
    }
    if (header.kid !== key.kid) throw new TokenError('invalid', 'token was not signed by a known key');
    return key.publicKey;
  };

  private getLocalKey(): Promise<LocalKey> {
    if (!this.localKey) {
      this.localKey = loadOrCreateKey(this.keyPath);
      this.localKey.catch(() => (this.localKey = undefined));
    }
    return this.localKey;
  }
}

async function describeKey(privateKey: crypto.KeyObject): Promise<LocalKey> {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('token signing key must be an Ed25519 key');
  const publicKey = crypto.createPublicKey(privateKey);
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { privateKey, publicKey, kid, publicJwk: { ...jwk, kid, alg: 'EdDSA', use: 'sig' } };
}

/** Read the PKCS#8 PEM key, or create it (exclusively, 0600) when absent. */
async function loadOrCreateKey(keyPath: string): Promise<LocalKey> {
  try {
    return await describeKey(readKey(keyPath));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileNoClobber(keyPath, pem, 0o600);
  // Another process may have won the race: whatever is on disk now is the key.
  return describeKey(readKey(keyPath));
}

function readKey(keyPath: string): crypto.KeyObject {
  const pem = fs.readFileSync(keyPath, 'utf8');
  tightenMode(keyPath);
  return crypto.createPrivateKey({ key: pem, format: 'pem' });
}

function tightenMode(file: string): void {
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  } catch {
    /* best effort (e.g. read-only mount) */
  }
}

function toTokenError(err: unknown, mode: 'local' | 'jwks'): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof joseErrors.JWTExpired) {
    // jose checks the signature before the claims: this payload is authentic, only out of date.
    const sub = err.payload?.sub;
    return new TokenError('expired', 'token has expired', typeof sub === 'string' && SUB_PATTERN.test(sub) ? sub : undefined);
  }
  if (mode === 'local') return new TokenError('invalid', 'token is invalid');
  // Remote key set: tell "cannot check right now" (503) apart from "checked and refused" (401).
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
    return new TokenError('unavailable', 'the identity provider key set is unavailable');
  }
  if (err instanceof joseErrors.JOSEError) {
    if (err.code === 'ERR_JOSE_GENERIC') return new TokenError('unavailable', 'the identity provider key set is unavailable');
    return new TokenError('invalid', 'token is invalid');
  }
  return new TokenError('unavailable', 'the identity provider key set is unavailable');
}
