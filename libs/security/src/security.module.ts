/**
 * Nest wiring of the security library: TokenService (needs APP_CONFIG, provided globally by the app)
 * and the global AuthGuard (APP_GUARD, default deny). Global, so any module can inject TokenService.
 * Optional: provide AUTH_EVENT_SINK globally to receive refused requests. Also the ingest admission
 * rules (IngestAdmission: per-integration rate limits and source ownership, from IntegrationSettings),
 * and PatientIdentifiers (who sees patient ids, who sees tokens).
 */
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '@app/core';
import { AuthGuard } from './auth.guard';
import { IngestAdmission } from './ingest-admission.service';
import { IngestRateLimiter } from './ingest-rate-limiter';
import { IntegrationSettings } from './integration-settings';
import { PatientIdentifiers } from './patient-identifiers.service';
import { SourceBindings } from './source-bindings';
import { SourceOwnershipService } from './source-ownership.service';
import { TokenService } from './token.service';
import { CredentialRevocationService, PolledRevocations, REVOCATION_POLL_MS, RevocationList } from './credential-revocations';
import { REVOCATIONS, Revocations } from './revocations.port';
import { REVOCATION_STORE, RevocationStore } from '@app/storage';

@Global()
@Module({
  providers: [
    TokenService,
    AuthGuard,
    { provide: APP_GUARD, useExisting: AuthGuard },
    { provide: IntegrationSettings, inject: [APP_CONFIG], useFactory: (config: AppConfig) => IntegrationSettings.load(config) },
    IngestRateLimiter,
    SourceBindings,
    SourceOwnershipService,
    IngestAdmission,
    PatientIdentifiers,
    { provide: REVOCATION_STORE, inject: [{ token: REVOCATIONS, optional: true }], useFactory: (r?: Revocations | null): RevocationStore | null => r?.store ?? null },
    { provide: PolledRevocations, inject: [{ token: REVOCATIONS, optional: true }], useFactory: (r?: Revocations | null): PolledRevocations | null => r?.polled ?? null },
    {
      // Revoked tokens and certificates (auditctl token revoke / certs revoke), polled from their store.
      provide: RevocationList,
      inject: [TokenService, AuthGuard, { token: REVOCATIONS, optional: true }],
      useFactory: (tokens: TokenService, guard: AuthGuard, r?: Revocations | null): RevocationList | null => {
        if (!r) return null;
        // The polled list is in memory (read from the cluster every REVOCATION_SYNC_MS): checked on every use.
        const list = new RevocationList(r.source, r.polled ? 0 : REVOCATION_POLL_MS);
        tokens.useRevocations(list);
        guard.useRevocations(list);
        return list;
      },
    },
    {
      provide: CredentialRevocationService,
      inject: [APP_CONFIG, { token: REVOCATIONS, optional: true }],
      useFactory: (config: AppConfig, r?: Revocations | null) => (r ? new CredentialRevocationService(r.store, config.dataDir) : null),
    },
  ],
  exports: [TokenService, AuthGuard, IntegrationSettings, IngestRateLimiter, SourceOwnershipService, IngestAdmission, PatientIdentifiers, RevocationList, CredentialRevocationService, REVOCATION_STORE, PolledRevocations],
})
export class SecurityModule {}
