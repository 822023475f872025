/**
 * The web console (issue 14): sign-in (local accounts, OpenID Connect), sessions in the accounts
 * store the infrastructure module binds (CONSOLE_ACCOUNTS), and the pages of each role. Provides the SESSION_AUTHENTICATOR the global guard uses on
 * console routes. Pages are added as controllers here plus an entry in console-nav.ts (docs/console.md).
 */
import { Global, Module } from '@nestjs/common';
import { CONSOLE_ACCOUNTS, ConsoleAccounts, ConsoleSessions, LocalSignIn, OidcSignIn, PreAuthCookie, SIGN_IN_FAILURES, SignInFailures } from '@app/console';
import { APP_CONFIG, AppConfig, DEFAULT_CONSOLE_IDLE_MINUTES, DEFAULT_CONSOLE_SESSION_HOURS } from '@app/core';
import { SESSION_AUTHENTICATOR } from '@app/security';
import { SQLITE_DB, SqliteDb } from '@app/storage';
import { SHARED_ALERT_INDEX, SharedAlertIndex } from '@app/detection';
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
      provide: ConsoleSessions,
      inject: [CONSOLE_ACCOUNTS, APP_CONFIG],
      useFactory: (store: ConsoleAccounts, config: AppConfig) =>
        new ConsoleSessions(store, {
          idleMs: (config.console?.idleTimeoutMinutes ?? DEFAULT_CONSOLE_IDLE_MINUTES) * 60_000,
          maxMs: (config.console?.sessionMaxHours ?? DEFAULT_CONSOLE_SESSION_HOURS) * 3_600_000,
          secure: !config.insecureHttp,
        }),
    },
    { provide: LocalSignIn, inject: [CONSOLE_ACCOUNTS, SIGN_IN_FAILURES], useFactory: (store: ConsoleAccounts, failures: SignInFailures) => new LocalSignIn(store, Date.now, failures) },
    { provide: PreAuthCookie, inject: [APP_CONFIG], useFactory: (config: AppConfig) => PreAuthCookie.fromDataDir(config.dataDir) },
    { provide: OIDC_SIGN_IN, inject: [APP_CONFIG], useFactory: (config: AppConfig) => (config.console?.oidc ? new OidcSignIn(config.console.oidc) : null) },
    ConsoleSessionAuthenticator,
    { provide: SESSION_AUTHENTICATOR, useExisting: ConsoleSessionAuthenticator },
    {
      provide: AlertCounts,
      // Where alerts live in a shared cluster, aggregations over its alert index; else the data dir's alert table.
      inject: [SQLITE_DB, SHARED_ALERT_INDEX],
      useFactory: (db: SqliteDb, shared: SharedAlertIndex | null) => (shared ? new AlertCounts(null, shared) : new AlertCounts(db)),
    },
    AnalystPagesService,
    CompliancePagesService,
  ],
  exports: [SESSION_AUTHENTICATOR, ConsoleSessions],
})
export class ConsoleModule {}
