/**
 * The web console (issue 14): sign-in (local accounts, OpenID Connect), sessions in the embedded
 * database, and the pages of each role. Provides the SESSION_AUTHENTICATOR the global guard uses on
 * console routes. Pages are added as controllers here plus an entry in console-nav.ts (docs/console.md).
 */
import { Global, Module } from '@nestjs/common';
import { CONSOLE_ACCOUNTS, ConsoleAccounts, ConsoleSessions, ConsoleStore, LocalSignIn, MemorySignInFailures, OidcSignIn, PreAuthCookie, SIGN_IN_FAILURES, SignInFailures } from '@app/console';
import { APP_CONFIG, AppConfig, DEFAULT_CONSOLE_IDLE_MINUTES, DEFAULT_CONSOLE_SESSION_HOURS } from '@app/core';
import { SESSION_AUTHENTICATOR } from '@app/security';
import { EVENT_STORE, EventStore, SQLITE_DB, SqliteDb } from '@app/storage';
import { DetectionModule } from '@app/detection/service';
import { ComplianceModule } from '../compliance/compliance.module';
import { AlertCounts } from './alert-counts';
import { CompliancePagesController } from './compliance-pages.controller';
import { CompliancePagesService } from './compliance-pages.service';
import { AlertsPagesController } from './alerts-pages.controller';
import { AnalystPagesService } from './analyst-pages.service';
import { ConsoleSessionAuthenticator } from './console-session.authenticator';
import { OIDC_SIGN_IN, SessionController, SignInController } from './sign-in.controller';

@Global()
@Module({
  imports: [DetectionModule, ComplianceModule],
  controllers: [SignInController, SessionController, AlertsPagesController, CompliancePagesController],
  providers: [
    {
      // STORE=elasticsearch: accounts and sessions in the cluster, so any instance serves any signed-in person.
      provide: CONSOLE_ACCOUNTS,
      inject: [SQLITE_DB, APP_CONFIG, EVENT_STORE],
      useFactory: async (db: SqliteDb, config: AppConfig, events: EventStore): Promise<ConsoleAccounts> => {
        if (config.scaleOut?.store !== 'elasticsearch') return new ConsoleStore(db);
        const { elasticsearchConsoleStoreFor } = await import('@app/console/es-console-store');
        return elasticsearchConsoleStoreFor(events);
      },
    },
    {
      provide: ConsoleSessions,
      inject: [CONSOLE_ACCOUNTS, APP_CONFIG],
      useFactory: (store: ConsoleAccounts, config: AppConfig) =>
        new ConsoleSessions(store, {
          idleMs: (config.console?.idleTimeoutMinutes ?? DEFAULT_CONSOLE_IDLE_MINUTES) * 60_000,
          maxMs: (config.console?.sessionMaxHours ?? DEFAULT_CONSOLE_SESSION_HOURS) * 3_600_000,
          secure: !config.insecureHttp,
        }),
    },
    {
      // STORE=elasticsearch: failed sign-ins counted in the cluster, so N instances do not give N times the attempts.
      provide: SIGN_IN_FAILURES,
      inject: [APP_CONFIG, EVENT_STORE],
      useFactory: async (config: AppConfig, events: EventStore): Promise<SignInFailures> => {
        if (config.scaleOut?.store !== 'elasticsearch') return new MemorySignInFailures();
        const { elasticsearchSignInFailuresFor } = await import('@app/console/es-sign-in-failures');
        return elasticsearchSignInFailuresFor(events);
      },
    },
    { provide: LocalSignIn, inject: [CONSOLE_ACCOUNTS, SIGN_IN_FAILURES], useFactory: (store: ConsoleAccounts, failures: SignInFailures) => new LocalSignIn(store, Date.now, failures) },
    { provide: PreAuthCookie, inject: [APP_CONFIG], useFactory: (config: AppConfig) => PreAuthCookie.fromDataDir(config.dataDir) },
    { provide: OIDC_SIGN_IN, inject: [APP_CONFIG], useFactory: (config: AppConfig) => (config.console?.oidc ? new OidcSignIn(config.console.oidc) : null) },
    ConsoleSessionAuthenticator,
    { provide: SESSION_AUTHENTICATOR, useExisting: ConsoleSessionAuthenticator },
    {
      provide: AlertCounts,
      inject: [SQLITE_DB, APP_CONFIG, EVENT_STORE],
      useFactory: async (db: SqliteDb, config: AppConfig, events: EventStore) => {
        if (config.scaleOut?.store !== 'elasticsearch') return new AlertCounts(db);
        // The shared alert index, through the event store's client (loaded lazily: the client is heavy).
        const { ElasticsearchEventStore } = await import('@app/storage/scale-out-adapters');
        if (!(events instanceof ElasticsearchEventStore)) throw new Error('STORE=elasticsearch: the event store is not the Elasticsearch one');
        return new AlertCounts(null, { client: events.client, index: events.options.alertsIndex });
      },
    },
    AnalystPagesService,
    CompliancePagesService,
  ],
  exports: [SESSION_AUTHENTICATOR, CONSOLE_ACCOUNTS, ConsoleSessions],
})
export class ConsoleModule {}
