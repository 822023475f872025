/**
 * Nest wiring of the compliance features (issue 6): retention policy (loaded and validated at
 * start: a bad RETENTION_CONFIG stops start-up), legal holds (SQLite store in the event database),
 * and streamed, signed reports. Plugs into what other modules may provide globally, each optional:
 *   ACCESS_AUDIT_SINK  the access-audit trail (else: PHI-free log lines only);
 *   KEY_PROVIDER       the signing keys (else: the file keys under DATA_DIR/keys/signing);
 *   CHECKPOINT_STORE   signed checkpoints for the reports' integrity statement (else: read from the
 *                      embedded database when the events are there, or stated as not available).
 * Exports LEGAL_HOLD_STORE and RETENTION_POLICY for the retention runner, and RETENTION_RUN_SERVICE
 * (retention runs with tiers on the embedded store; HTTP and the schedule share it, so runs never overlap).
 */
import { Module } from '@nestjs/common';
import { ACCESS_AUDIT_SINK, APP_CONFIG, AccessAuditSink, AppConfig, DEFAULT_REPORT_PAGE_SIZE, Problems } from '@app/core';
import {
  CheckpointIntegritySource,
  CheckpointLookup,
  HtmlReportTemplates,
  ReportIntegritySource,
  ReportService,
  UnavailableIntegritySource,
  defaultReportTemplatesDir,
} from '@app/reports';
import {
  LEGAL_HOLD_STORE,
  LegalHoldService,
  LegalHoldStore,
  LoadedRetentionPolicy,
  RETENTION_POLICY,
  RETENTION_RUN_SERVICE,
  RetentionRunService,
  SqliteLegalHoldStore,
  SqliteRetentionRunner,
  holdPatientProtection,
  loadRetentionPolicy,
} from '@app/retention';
import { FileKeyProvider, KEY_PROVIDER, KeyProvider, embeddedFieldProtection } from '@app/security';
import { CHECKPOINT_STORE, EVENT_STORE, EventStore, SQLITE_DB, SqliteCheckpointStore, SqliteDb, SqliteEventStore } from '@app/storage';
import { LoggingAccessAuditSink } from './logging-access-audit';
import { ReportMetrics } from './report-metrics';
import { REPORT_KEY_PROVIDER } from './report-key-provider';
import { ReportsController } from './reports.controller';
import { RetentionController } from './retention.controller';

export const COMPLIANCE_AUDIT = Symbol('COMPLIANCE_AUDIT');
export const REPORT_INTEGRITY = Symbol('REPORT_INTEGRITY');

@Module({
  controllers: [RetentionController, ReportsController],
  providers: [
    ReportMetrics,
    {
      provide: RETENTION_POLICY,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => loadRetentionPolicy(config.compliance?.retentionConfigFile),
    },
    {
      provide: COMPLIANCE_AUDIT,
      inject: [{ token: ACCESS_AUDIT_SINK, optional: true }],
      useFactory: (trail?: AccessAuditSink) => new LoggingAccessAuditSink(trail ?? null),
    },
    {
      provide: REPORT_KEY_PROVIDER,
      inject: [APP_CONFIG, { token: KEY_PROVIDER, optional: true }],
      useFactory: (config: AppConfig, keys?: KeyProvider): KeyProvider => keys ?? new FileKeyProvider(config.dataDir),
    },
    {
      provide: LEGAL_HOLD_STORE,
      inject: [SQLITE_DB, EVENT_STORE, APP_CONFIG],
      useFactory: (db: SqliteDb, events: EventStore, config: AppConfig): LegalHoldStore => {
        const protection = embeddedFieldProtection(config);
        return new SqliteLegalHoldStore(db, {
          eventsInThisDatabase: events instanceof SqliteEventStore,
          patientIndexValue: (id) => protection.patientToken(id),
          patientIds: holdPatientProtection(protection),
        });
      },
    },
    {
      provide: RETENTION_RUN_SERVICE,
      inject: [APP_CONFIG, SQLITE_DB, EVENT_STORE, RETENTION_POLICY, LEGAL_HOLD_STORE, REPORT_KEY_PROVIDER],
      useFactory: (config: AppConfig, db: SqliteDb, events: EventStore, loaded: LoadedRetentionPolicy, holds: LegalHoldStore, keys: KeyProvider) => {
        let runner: SqliteRetentionRunner | null = null;
        return new RetentionRunService(
          () => {
            if (!(events instanceof SqliteEventStore)) throw Problems.unavailable('Retention runs here need the embedded store; Elasticsearch deployments use ILM policies.', 3600);
            runner ??= new SqliteRetentionRunner(db, loaded.policy, holds, {
              dataDir: config.dataDir,
              protection: embeddedFieldProtection(config),
              publicKeys: () => keys.publicKeys(),
            });
            return runner;
          },
          { allowTimeTravel: config.compliance?.retentionAllowTimeTravel === true },
        );
      },
    },
    {
      provide: LegalHoldService,
      inject: [LEGAL_HOLD_STORE, COMPLIANCE_AUDIT, APP_CONFIG],
      useFactory: (store: LegalHoldStore, audit: AccessAuditSink, config: AppConfig) => {
        const protection = embeddedFieldProtection(config);
        return new LegalHoldService(store, audit, undefined, undefined, (id) => protection.patientToken(id));
      },
    },
    {
      provide: REPORT_INTEGRITY,
      inject: [EVENT_STORE, REPORT_KEY_PROVIDER, SQLITE_DB, { token: CHECKPOINT_STORE, optional: true }],
      useFactory: (events: EventStore, keys: KeyProvider, db: SqliteDb, checkpoints?: CheckpointLookup): ReportIntegritySource => {
        const lookup = checkpoints ?? (events instanceof SqliteEventStore ? new SqliteCheckpointStore(db) : null);
        if (!lookup) return new UnavailableIntegritySource('this deployment has no checkpoint store for its event store');
        return new CheckpointIntegritySource(
          lookup,
          () => new Map(keys.publicKeys().map((k) => [k.keyId, k.publicKeyPem])),
          async (chain, seq) => {
            for await (const page of events.readChain(chain, seq, seq, 1)) return page[0]?.hash ?? null;
            return null;
          },
        );
      },
    },
    {
      provide: HtmlReportTemplates,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => new HtmlReportTemplates(config.compliance?.reportTemplatesDir ?? defaultReportTemplatesDir()),
    },
    {
      provide: ReportService,
      inject: [EVENT_STORE, REPORT_INTEGRITY, REPORT_KEY_PROVIDER, HtmlReportTemplates, COMPLIANCE_AUDIT, APP_CONFIG],
      useFactory: (events: EventStore, integrity: ReportIntegritySource, keys: KeyProvider, templates: HtmlReportTemplates, audit: AccessAuditSink, config: AppConfig) =>
        new ReportService(events, integrity, () => keys.signingKey(), templates, audit, { pageSize: config.compliance?.reportPageSize ?? DEFAULT_REPORT_PAGE_SIZE }),
    },
  ],
  exports: [LEGAL_HOLD_STORE, RETENTION_POLICY, RETENTION_RUN_SERVICE, LegalHoldService, ReportService],
})
export class ComplianceModule {}
