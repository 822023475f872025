/**
 * Sign-in through an OpenID Provider with openid-client: authorization code flow with PKCE (S256),
 * state and nonce; the role comes from the configured claim (ID token, else the UserInfo answer) and
 * must be a console role (soc_analyst, compliance_officer, auditor, admin). The provider's metadata is
 * discovered on first use and kept.
 */
import { BaseClient, Issuer, generators } from 'openid-client';
import type { OidcSettings } from '@app/core';
import { ROLES, type Role } from '@app/security';

export const CONSOLE_ROLES: readonly Role[] = ROLES.filter((r) => r !== 'integration');

export class OidcSignInError extends Error {}

export class OidcSignIn {
  private client: Promise<BaseClient> | null = null;

  constructor(private readonly settings: OidcSettings) {}

  async begin(): Promise<{ url: string; checks: { state: string; nonce: string; verifier: string } }> {
    const client = await this.getClient();
    const verifier = generators.codeVerifier();
    const checks = { state: generators.state(), nonce: generators.nonce(), verifier };
    const url = client.authorizationUrl({
      scope: this.settings.scopes,
      code_challenge: generators.codeChallenge(verifier),
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
    return { url, checks };
  }

  /** Exchanges the code of the callback URL and names the person and their role. */
  async finish(callbackUrl: string, checks: { state: string; nonce: string; verifier: string }): Promise<{ name: string; role: Role }> {
    const client = await this.getClient();
    const params = client.callbackParams(callbackUrl);
    let claims: Record<string, unknown>;
    try {
      const tokens = await client.callback(this.settings.redirectUrl, params, { state: checks.state, nonce: checks.nonce, code_verifier: checks.verifier });
      claims = { ...tokens.claims() };
      if (claims[this.settings.roleClaim] === undefined && tokens.access_token) {
        claims = { ...(await client.userinfo(tokens.access_token)), ...claims };
      }
    } catch (err) {
      throw new OidcSignInError(`the identity provider's answer was refused (${(err as Error).name})`);
    }
    const name = claims[this.settings.usernameClaim];
    if (typeof name !== 'string' || name.length === 0 || name.length > 128) throw new OidcSignInError(`the claim ${this.settings.usernameClaim} is missing`);
    const roleValue = claims[this.settings.roleClaim];
    const candidates = Array.isArray(roleValue) ? roleValue : [roleValue];
    const role = candidates.find((r): r is Role => typeof r === 'string' && (CONSOLE_ROLES as readonly string[]).includes(r));
    if (!role) throw new OidcSignInError(`the claim ${this.settings.roleClaim} names no console role`);
    return { name, role };
  }

  private getClient(): Promise<BaseClient> {
    this.client ??= Issuer.discover(this.settings.issuerUrl)
      .then(
        (issuer) =>
          new issuer.Client({
            client_id: this.settings.clientId,
            ...(this.settings.clientSecret ? { client_secret: this.settings.clientSecret } : { token_endpoint_auth_method: 'none' }),
            redirect_uris: [this.settings.redirectUrl],
            response_types: ['code'],
          }),
      )
      .catch((err: unknown) => {
        this.client = null;
        throw new OidcSignInError(`the identity provider could not be reached (${(err as Error).name})`);
      });
    return this.client;
  }
}
