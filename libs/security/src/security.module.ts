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
  ],
  exports: [TokenService, AuthGuard, IntegrationSettings, IngestRateLimiter, SourceOwnershipService, IngestAdmission, PatientIdentifiers],
})
export class SecurityModule {}
