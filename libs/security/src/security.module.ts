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
import { CredentialRevocationService, PolledRevocations, REVOCATION_POLL_MS, RevocationList, RevocationSource } from './credential-revocations';
import { REVOCATION_STORE, RevocationStore, SQLITE_DB, SqliteDb, SqliteRevocationStore } from '@app/storage';

/** The revocation store of the deployment, what the RevocationList reads, and (STORE=elasticsearch) the poller. */
const REVOCATIONS = Symbol('REVOCATIONS');
interface Revocations {
  store: RevocationStore;
  source: RevocationSource;
  polled: PolledRevocations | null;
}

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
      // Where revocations live: the data dir's database, or the cluster with STORE=elasticsearch (no local copy).
      provide: REVOCATIONS,
      inject: [APP_CONFIG, { token: SQLITE_DB, optional: true }],
      useFactory: async (config: AppConfig, db?: SqliteDb | null): Promise<Revocations | null> => {
        const es = config.scaleOut?.store === 'elasticsearch' ? config.scaleOut.elasticsearch : undefined;
        if (es) {
          // Loaded lazily: the Elasticsearch client is heavy.
          const { createElasticsearchClient, ElasticsearchRevocationStore, revocationIndices } = await import('@app/storage/scale-out-adapters');
          const store = new ElasticsearchRevocationStore(createElasticsearchClient(es), revocationIndices(es.indexPrefix));
          const polled = new PolledRevocations(store);
          return { store, source: polled, polled };
        }
        if (!db) return null;
        const store = new SqliteRevocationStore(db);
        return { store, source: store, polled: null };
      },
    },
    { provide: REVOCATION_STORE, inject: [REVOCATIONS], useFactory: (r: Revocations | null): RevocationStore | null => r?.store ?? null },
    { provide: PolledRevocations, inject: [REVOCATIONS], useFactory: (r: Revocations | null): PolledRevocations | null => r?.polled ?? null },
    {
      // Revoked tokens and certificates (auditctl token revoke / certs revoke), polled from their store.
      provide: RevocationList,
      inject: [TokenService, AuthGuard, REVOCATIONS],
      useFactory: (tokens: TokenService, guard: AuthGuard, r: Revocations | null): RevocationList | null => {
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
      inject: [APP_CONFIG, REVOCATIONS],
      useFactory: (config: AppConfig, r: Revocations | null) => (r ? new CredentialRevocationService(r.store, config.dataDir) : null),
    },
  ],
  exports: [TokenService, AuthGuard, IntegrationSettings, IngestRateLimiter, SourceOwnershipService, IngestAdmission, PatientIdentifiers, RevocationList, CredentialRevocationService, REVOCATION_STORE, PolledRevocations],
})
export class SecurityModule {}
