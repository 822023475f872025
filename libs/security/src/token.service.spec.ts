/**
 * TokenService tests: local key creation and sharing between instances (server and CLI), issue/verify
 * round trips, TTL rules, and rejection of expired, mis-addressed, tampered, unsigned, foreign-key and
 * role-less tokens; JWKS mode against a local key-set server.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { base64url, exportJWK, SignJWT, type JWTPayload } from 'jose';
import { ROLE_SCOPES, ROLES } from './scopes';
import { TokenError, TokenService, type TokenServiceConfig } from './token.service';

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});
function config(overrides: Partial<TokenServiceConfig> = {}): TokenServiceConfig {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'token-spec-'));
  tmpDirs.push(dataDir);
  return { dataDir, tokenIssuer: 'audit-siem', tokenAudience: 'audit-siem-api', tokenMaxTtl: '30d', ...overrides };
}

async function expectRejected(svc: TokenService, token: string, code?: TokenError['code']): Promise<void> {
  const err = await svc.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenError);
  if (code) expect((err as TokenError).code).toBe(code);
  if (token.length > 8) expect((err as Error).message).not.toContain(token);
}

describe('TokenService (local Ed25519 key)', () => {
  let cfg: TokenServiceConfig;
  let svc: TokenService;
  let signingKey: crypto.KeyObject;
  let kid: string;

  beforeAll(async () => {
    cfg = config();
    svc = new TokenService(cfg);
    await svc.issue({ role: 'admin' });
    signingKey = crypto.createPrivateKey(fs.readFileSync(svc.signingKeyPath));
    kid = await svc.keyId();
  });

  /** Sign arbitrary claims with the service's own key (what a bug or a forger would produce). */
  async function sign(payload: JWTPayload, opts: { iss?: string; aud?: string; exp?: number; iat?: number; key?: crypto.KeyObject; kid?: string } = {}) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', kid: opts.kid ?? kid })
      .setIssuer(opts.iss ?? 'audit-siem')
      .setAudience(opts.aud ?? 'audit-siem-api')
      .setSubject('someone')
      .setIssuedAt(opts.iat ?? now)
      .setExpirationTime(opts.exp ?? now + 600)
      .sign(opts.key ?? signingKey);
  }

  it('creates the signing key once, 0600, under DATA_DIR/keys, with a key id', async () => {
    expect(svc.signingKeyPath).toBe(path.join(cfg.dataDir, 'keys', 'token-signing-key.pem'));
    expect(fs.statSync(svc.signingKeyPath).mode & 0o777).toBe(0o600);
    expect(signingKey.asymmetricKeyType).toBe('ed25519');
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const jwks = await svc.publicJwks();
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', kid, alg: 'EdDSA' })]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('round-trips every role; scopes come from the role map', async () => {
    for (const role of ROLES) {
      const token = await svc.issue({ role, sub: role === 'integration' ? 'billing' : 'user-17' });
      const p = await svc.verify(token);
      expect(p).toMatchObject({ role, via: 'token', sub: role === 'integration' ? 'billing' : 'user-17' });
      expect(p.scopes).toEqual([...ROLE_SCOPES[role]]);
      if (role === 'integration') expect(p.integration).toBe('billing');
      else expect(p.integration).toBeUndefined();
    }
  });

  it('defaults: integration tokens speak for sample-ehr, others get local-<role>, 12h lifetime', async () => {
    const issued = await svc.issueWithDetails({ role: 'integration' });
    expect((await svc.verify(issued.token)).integration).toBe('sample-ehr');
    expect((await svc.verify(await svc.issue({ role: 'auditor' }))).sub).toBe('local-auditor');
    expect(issued.expiresAt.getTime() - Date.now()).toBeGreaterThan(12 * 3600_000 - 5000);
    expect(issued.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(12 * 3600_000);
    expect(issued.keyId).toBe(kid);
  });

  it('repeated verification (cached) hands out independent principals', async () => {
    const token = await svc.issue({ role: 'soc_analyst' });
    const a = await svc.verify(token);
    a.scopes.push('events:write');
    const b = await svc.verify(token);
    expect(b.scopes).toEqual([...ROLE_SCOPES.soc_analyst]);
  });

  it('a second instance on the same data dir (the CLI) shares the key', async () => {
    const cli = new TokenService({ ...cfg });
    const token = await cli.issue({ role: 'soc_analyst', sub: 'analyst-1' });
    expect((await svc.verify(token)).sub).toBe('analyst-1');
    expect(await cli.keyId()).toBe(kid);
  });

  it('honours ttl strings and refuses bad or too-long ones', async () => {
    const { expiresAt } = await svc.issueWithDetails({ role: 'auditor', ttl: '15m' });
    expect(Math.round((expiresAt.getTime() - Date.now()) / 1000)).toBeGreaterThan(890);
    expect(Math.round((expiresAt.getTime() - Date.now()) / 1000)).toBeLessThanOrEqual(900);
    await expect(svc.issue({ role: 'auditor', ttl: '30d' })).resolves.toEqual(expect.any(String));
    await expect(svc.issue({ role: 'auditor', ttl: '31d' })).rejects.toThrow(RangeError);
    await expect(svc.issue({ role: 'auditor', ttl: '10 minutes' })).rejects.toThrow(RangeError);
    await expect(svc.issue({ role: 'auditor', ttl: '0s' })).rejects.toThrow(RangeError);
    const short = new TokenService({ ...cfg, tokenMaxTtl: '1h' });
    const { expiresAt: capped } = await short.issueWithDetails({ role: 'auditor' });
    expect(capped.getTime() - Date.now()).toBeLessThanOrEqual(3600_000);
  });

  it('refuses unknown roles and malformed subjects when minting', async () => {
    await expect(svc.issue({ role: 'root' as never })).rejects.toThrow(/unknown role/);
    await expect(svc.issue({ role: 'soc_analyst', sub: 'has space' })).rejects.toThrow(RangeError);
    await expect(svc.issue({ role: 'integration', sub: 'UPPER' })).rejects.toThrow(/integration id/);
  });

  it('rejects expired tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(svc, await sign({ role: 'admin' }, { iat: now - 7200, exp: now - 3600 }), 'expired');
  });

  it('rejects a wrong audience or issuer', async () => {
    await expectRejected(svc, await sign({ role: 'admin' }, { aud: 'some-other-api' }), 'invalid');
    await expectRejected(svc, await sign({ role: 'admin' }, { iss: 'evil-issuer' }), 'invalid');
  });

  it('rejects tampered tokens', async () => {
    const token = await svc.issue({ role: 'soc_analyst' });
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forgedPayload = base64url.encode(JSON.stringify({ ...claims, role: 'admin' }));
    await expectRejected(svc, `${h}.${forgedPayload}.${s}`, 'invalid');
    const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
    await expectRejected(svc, `${h}.${p}.${flipped}`, 'invalid');
  });

  it('rejects alg none and HMAC tokens', async () => {
    const payload = base64url.encode(JSON.stringify({ role: 'admin', sub: 'x', iss: 'audit-siem', aud: 'audit-siem-api', exp: Math.floor(Date.now() / 1000) + 600 }));
    const none = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    await expectRejected(svc, `${none}.${payload}.`, 'malformed');
    await expectRejected(svc, `${none}.${payload}.AAAA`, 'invalid');
    const jwk = (await svc.publicJwks()).keys[0]!;
    const hs = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256', kid })
      .setIssuer('audit-siem')
      .setAudience('audit-siem-api')
      .setSubject('x')
      .setExpirationTime('10m')
      .sign(Buffer.from(jwk.x!, 'base64url'));
    await expectRejected(svc, hs, 'invalid');
  });

  it('rejects tokens signed by a foreign key, with its own or with our key id', async () => {
    const foreign = crypto.generateKeyPairSync('ed25519').privateKey;
    await expectRejected(svc, await sign({ role: 'admin' }, { key: foreign }), 'invalid');
    await expectRejected(svc, await sign({ role: 'admin' }, { key: foreign, kid: 'someone-elses-key' }), 'invalid');
    const other = new TokenService(config());
    await expectRejected(svc, await other.issue({ role: 'admin' }), 'invalid');
  });

  it('rejects tokens without a known role, or with a lifetime beyond TOKEN_MAX_TTL', async () => {
    await expectRejected(svc, await sign({}), 'role');
    await expectRejected(svc, await sign({ role: 'superuser' }), 'role');
    await expectRejected(svc, await sign({ role: ['admin', 'auditor'] }), 'role');
    expect((await svc.verify(await sign({ role: ['auditor', 'unrelated'] }))).role).toBe('auditor');
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(svc, await sign({ role: 'admin' }, { iat: now, exp: now + 90 * 86400 }), 'invalid');
  });

  it('picks up a signing key rotated on disk (unknown kid triggers a re-read)', async () => {
    const c = config();
    const server = new TokenService(c);
    const old = await server.issue({ role: 'auditor' });
    expect((await server.verify(old)).role).toBe('auditor');
    fs.rmSync(server.signingKeyPath);
    const cli = new TokenService(c); // creates a new key file
    const fresh = await cli.issue({ role: 'auditor' });
    expect((await server.verify(fresh)).role).toBe('auditor');
    expect(await server.keyId()).toBe(await cli.keyId());
  });

  it('rejects garbage and oversize input as malformed', async () => {
    for (const junk of ['', 'abc', 'a.b', 'a.b.c.d', '{"alg":"none"}', 'x'.repeat(9000) + '.a.b']) await expectRejected(svc, junk, 'malformed');
  });
});

describe('TokenService (external JWKS)', () => {
  let server: http.Server;
  let url: string;
  let idpKey: crypto.KeyObject;
  let up = true;

  beforeAll(async () => {
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    idpKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
    server = http.createServer((req, res) => {
      if (!up) {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  async function idpToken(claims: JWTPayload) {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer('https://idp.hospital.test')
      .setAudience('audit-siem-api')
      .setSubject('jdoe')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(idpKey);
  }

  it('verifies IdP tokens with the configured role claim, refuses local ones, and cannot mint', async () => {
    const svc = new TokenService(config({ tokenJwksUrl: url, tokenIssuer: 'https://idp.hospital.test', tokenRoleClaim: 'roles' }));
    expect(svc.mode).toBe('jwks');
    const p = await svc.verify(await idpToken({ roles: ['compliance_officer', 'offline_access'] }));
    expect(p).toMatchObject({ sub: 'jdoe', role: 'compliance_officer', via: 'token' });
    await expect(svc.issue({ role: 'admin' })).rejects.toThrow(/disabled/);
    const local = new TokenService(config({ tokenIssuer: 'https://idp.hospital.test' }));
    await expectRejected(svc, await local.issue({ role: 'admin' }), 'invalid');
  });

  it('answers "unavailable" when the key set cannot be fetched', async () => {
    const svc = new TokenService(config({ tokenJwksUrl: url, tokenIssuer: 'https://idp.hospital.test' }));
    up = false;
    try {
      await expectRejected(svc, await idpToken({ role: 'auditor' }), 'unavailable');
    } finally {
      up = true;
    }
  });
});
