/**
 * The admin's console pages as data and actions: people and roles (local accounts; a new one gets a
 * one-time password shown once, as `auditctl users add` prints it), integrations with their client
 * certificates and tokens (issue a token shown once; issue a certificate into DATA_DIR/tls/clients,
 * as the CLI does; revoke tokens and certificates through CredentialRevocationService, as `auditctl
 * token revoke` / `certs revoke` do), rules (switch off and on, exceptions, the audit trail of
 * changes), and the context feeds and alert destinations with their delivery status and a test
 * message per destination. Checks every input and names the bad field, never its value.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_CONFIG, AppConfig, FieldError, Problems } from '@app/core';
import { ACCOUNT_NAME, CONSOLE_ACCOUNTS, CONSOLE_ROLES, ConsoleAccounts, addLocalAccount } from '@app/console';
import { ContextService } from '@app/context';
import { RuleOverridesService } from '@app/detection/service';
import { AlertDeliveryService, TestDeliveryResult } from '@app/detection/delivery';
import { AccessAuditService, accessPrincipal } from '@app/pipeline';
import { CredentialRevocationService, IntegrationSettings, Principal, TokenService, isIntegrationId, issueIntegrationCertificateFiles, localPkiPaths, type Role } from '@app/security';

const TOKEN_TTLS = ['1h', '12h', '7d', '30d', '90d'];

function field(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  return typeof v === 'string' ? v.trim() : '';
}

/** A console form's fields without its CSRF token. */
export function formFields(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return {};
  const { _csrf: _ignored, ...rest } = body as Record<string, unknown>;
  return rest;
}

@Injectable()
export class AdminPagesService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CONSOLE_ACCOUNTS) private readonly accounts: ConsoleAccounts,
    private readonly tokens: TokenService,
    private readonly integrations: IntegrationSettings,
    private readonly rules: RuleOverridesService,
    private readonly audit: AccessAuditService,
    private readonly delivery: AlertDeliveryService,
    @Optional() @Inject(CredentialRevocationService) private readonly revocations?: CredentialRevocationService | null,
    @Optional() private readonly context?: ContextService,
  ) {}

  /**
   * An admin's change (account added, token or certificate issued, rule switched or excepted) in the
   * access log, durable before the page answers: who, what, on which account, integration or rule.
   */
  async recordChange(p: Principal, action: string, route: string, filters: Record<string, string>, resource: string, ip?: string): Promise<void> {
    await this.audit.recordAccess({ action, principal: accessPrincipal(p), route, filters, resource: { type: resource }, recordCount: 0, outcome: 'success', ip });
  }

  async people() {
    return {
      roles: [...CONSOLE_ROLES],
      people: (await this.accounts.users()).map((u) => ({ name: u.name, role: u.role, pending: u.mustChange, disabled: u.disabled, createdAt: u.createdAt })),
    };
  }

  /** Adds a local account; the one-time password is returned once and never stored in clear. */
  async addPerson(body: unknown): Promise<{ name: string; role: Role; password: string }> {
    const b = formFields(body);
    const name = field(b, 'name');
    const role = field(b, 'role');
    const errors: FieldError[] = [];
    if (!ACCOUNT_NAME.test(name)) errors.push({ pointer: '/name', message: 'must be 1-128 letters, digits, ".", "_", "@" or "-", starting with a letter or digit' });
    if (!(CONSOLE_ROLES as readonly string[]).includes(role)) errors.push({ pointer: '/role', message: `must be one of ${CONSOLE_ROLES.join(', ')}` });
    if (errors.length) throw Problems.validation(errors, 'The account form is invalid.');
    const { outcome, password } = await addLocalAccount(this.accounts, name, role as Role);
    if (outcome === 'exists') throw Problems.conflict('account-exists', 'An account with this name exists already (reset it with auditctl users add --reset).');
    return { name, role: role as Role, password };
  }

  async integrationList() {
    const clientsDir = localPkiPaths(this.config.dataDir).clientsDir;
    const certs = new Map<string, { notAfter: string; fingerprint: string; expired: boolean }>();
    if (fs.existsSync(clientsDir)) {
      for (const f of fs.readdirSync(clientsDir)) {
        if (!f.endsWith('.pem') || f.endsWith('-key.pem')) continue;
        try {
          const cert = new X509Certificate(fs.readFileSync(path.join(clientsDir, f)));
          const notAfter = new Date(cert.validTo);
          certs.set(f.slice(0, -4), { notAfter: notAfter.toISOString(), fingerprint: cert.fingerprint256, expired: notAfter.getTime() < Date.now() });
        } catch {
          /* not a certificate: not listed */
        }
      }
    }
    const ids = [...new Set([...this.integrations.ids(), ...certs.keys()])].sort();
    return {
      ttls: TOKEN_TTLS,
      canRevoke: Boolean(this.revocations),
      revocations: ((await this.revocations?.list()) ?? []).slice(-50).reverse(),
      integrationsFile: this.integrations.sourceFile ? path.basename(this.integrations.sourceFile) : null,
      integrations: ids.map((id) => {
        const s = this.integrations.get(id);
        return {
          id,
          systems: s?.systems ? [...s.systems].join(', ') : 'any',
          rate: s?.eventsPerSecond !== undefined ? `${s.eventsPerSecond}/s` : 'default',
          certificate: certs.get(id) ?? null,
        };
      }),
    };
  }

  private integrationId(b: Record<string, unknown>): string {
    const id = field(b, 'integration');
    if (!isIntegrationId(id)) throw Problems.validation([{ pointer: '/integration', message: 'must be an integration id: lower-case letters, digits, . _ - (1..64, starting alphanumeric)' }], 'The form is invalid.');
    return id;
  }

  /** A bearer token for an integration, shown once (the service keeps no copy). */
  async issueToken(body: unknown) {
    const b = formFields(body);
    const integration = this.integrationId(b);
    const ttl = field(b, 'ttl') || '30d';
    if (!TOKEN_TTLS.includes(ttl)) throw Problems.validation([{ pointer: '/ttl', message: `must be one of ${TOKEN_TTLS.join(', ')}` }], 'The form is invalid.');
    const issued = await this.tokens.issueWithDetails({ role: 'integration', sub: integration, ttl });
    return { integration, token: issued.token, tokenId: issued.jti, expiresAt: issued.expiresAt.toISOString() };
  }

  /** A client certificate and key for mTLS, written to DATA_DIR/tls/clients (0600) as `auditctl` does; the page shows where. */
  async issueCertificate(body: unknown) {
    const integration = this.integrationId(formFields(body));
    const files = await issueIntegrationCertificateFiles(this.config.dataDir, integration);
    return { integration, certPath: files.certPath, keyPath: files.keyPath, caCertPath: files.caCertPath, notAfter: files.notAfter.toISOString(), fingerprint: files.fingerprint256 };
  }

  private revocationService(): CredentialRevocationService {
    if (!this.revocations) throw Problems.conflict('revocation-unavailable', 'Credential revocation is not available in this deployment.');
    return this.revocations;
  }

  /**
   * Revokes a token by its id or the whole token (`what: token`), every token of an integration issued
   * so far (`what: subject`), or every client certificate of an integration (`what: certificates`).
   * Every service on the data dir (the cluster, with STORE=elasticsearch) refuses them within seconds.
   */
  async revoke(body: unknown): Promise<{ what: string; integration?: string; count: number }> {
    const b = formFields(body);
    const what = field(b, 'what');
    const reason = field(b, 'reason').slice(0, 500) || undefined;
    const service = this.revocationService();
    try {
      if (what === 'token') {
        const token = field(b, 'token');
        if (token === '') throw Problems.validation([{ pointer: '/token', message: 'is required: a token id, or the whole token' }], 'The form is invalid.');
        await service.revokeToken(token, reason);
        return { what, count: 1 };
      }
      if (what === 'subject' || what === 'certificates') {
        const integration = this.integrationId(b);
        if (what === 'subject') {
          await service.revokeSubject(integration, reason);
          return { what, integration, count: 1 };
        }
        return { what, integration, count: (await service.revokeCertificates(integration, reason)).length };
      }
    } catch (err) {
      // The service's checks (a token without an id, a malformed serial) name no submitted value.
      if (err instanceof RangeError) throw Problems.validation([{ pointer: what === 'token' ? '/token' : '/integration', message: err.message }], 'The form is invalid.');
      throw err;
    }
    throw Problems.validation([{ pointer: '/what', message: 'must be token, subject or certificates' }], 'The form is invalid.');
  }

  rulesPage() {
    return {
      rules: this.rules.rules().map((r) => ({ ...r, canDisable: r.enabledInFile })),
      history: this.rules.history(50),
    };
  }

  feeds() {
    const status = this.context?.status();
    const context = status
      ? (['users', 'patients', 'encounters'] as const).map((kind) => ({ kind, records: status[kind].records, versions: status[kind].versions, newestReceivedAt: status[kind].newestReceivedAt }))
      : null;
    const destinations = this.delivery.status();
    return { context, contextLoaded: status?.loaded ?? false, destinationsConfigured: destinations !== null, destinations: destinations ?? [] };
  }

  /**
   * Sends a test message to the destination the form names (as `auditctl alerts test-delivery` does,
   * but from the service with its own sender); an unknown name is a validation error on /destination.
   */
  async testDelivery(body: unknown): Promise<TestDeliveryResult> {
    const name = field(formFields(body), 'destination');
    const result = await this.delivery.testSend(name);
    if (!result) {
      throw Problems.validation([{ pointer: '/destination', message: result === null ? 'no alert destinations are configured (ALERT_DESTINATIONS_FILE)' : 'must name a configured alert destination' }], 'The test-delivery form is invalid.');
    }
    return result;
  }
}
