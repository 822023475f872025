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
import { CredentialRevocationService, RevocationList } from './credential-revocations';
import { SQLITE_DB, SqliteDb, SqliteRevocationStore } from '@app/storage';

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
    {
      // Revoked tokens and certificates (auditctl token revoke / certs revoke), polled from the database.
      provide: RevocationList,
      inject: [TokenService, AuthGuard, { token: SQLITE_DB, optional: true }],
      useFactory: (tokens: TokenService, guard: AuthGuard, db?: SqliteDb): RevocationList | null => {
        if (!db) return null;
        const list = new RevocationList(new SqliteRevocationStore(db));
        tokens.useRevocations(list);
        guard.useRevocations(list);
        return list;
      },
    },
    {
      provide: CredentialRevocationService,
      inject: [APP_CONFIG, { token: SQLITE_DB, optional: true }],
      useFactory: (config: AppConfig, db?: SqliteDb) => (db ? new CredentialRevocationService(new SqliteRevocationStore(db), config.dataDir) : null),
    },
  ],
  exports: [TokenService, AuthGuard, IntegrationSettings, IngestRateLimiter, SourceOwnershipService, IngestAdmission, PatientIdentifiers, RevocationList, CredentialRevocationService],
})
export class SecurityModule {}
