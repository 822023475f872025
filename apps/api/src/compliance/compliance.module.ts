/**
 * Nest wiring of the compliance features (issue 6): retention policy (loaded and validated at
 * start: a bad RETENTION_CONFIG stops start-up), legal holds (LEGAL_HOLD_STORE, bound by the
 * infrastructure module: a table of the event database, or an index of the cluster; with
 * STORE=elasticsearch the reconciler that keeps held backing indices on the ILM hold policy, run
 * before placements and releases are answered),
 * and streamed, signed reports. Plugs into what other modules may provide globally, each optional:
 *   ACCESS_AUDIT_SINK  the access-audit trail (else: PHI-free log lines only);
 *   KEY_PROVIDER       the signing keys (else: the file keys under DATA_DIR/keys/signing);
 *   CHECKPOINT_STORE   signed checkpoints for the reports' integrity statement (bound by the
 *                      infrastructure module; else stated as not available).
 * Exports RETENTION_POLICY for the retention runner, and RETENTION_RUN_SERVICE
 * (retention runs with tiers on the embedded store; HTTP and the schedule share it, so runs never overlap).
 */
import { Module } from '@nestjs/common';
import { ES_RETENTION_RUNNER, ES_RETENTION_RUN_RECORDS, EsRetentionRunner, HoldReconcileRunner, LEGAL_HOLD_ENFORCEMENT } from '@app/retention/retention-enforcement.port';
import { ACCESS_AUDIT_SINK, ACCESS_CONTEXT, APP_CONFIG, AccessContext, AccessAuditSink, AppConfig, DEFAULT_REPORT_PAGE_SIZE, DEPLOYMENT, Deployment, Problems } from '@app/core';
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
  RetentionRunRecords,
  RetentionRunService,
  SqliteRetentionRunner,
  loadRetentionPolicy,
} from '@app/retention';
import { FileKeyProvider, KEY_PROVIDER, KeyProvider, PatientIdentifiers, embeddedFieldProtection } from '@app/security';
import { ALERT_STORE, AlertStore } from '@app/detection';
import { DetectionModule } from '@app/detection/service';
import { IntegrityMonitor, refuseWhileBroken } from '@app/pipeline';
import { CHECKPOINT_STORE, EVENT_STORE, EventStore, SQLITE_DB, SqliteDb } from '@app/storage';
import { EsRetentionRuns } from './es-retention-runs';
import { LoggingAccessAuditSink } from './logging-access-audit';
import { reportJustifications } from './report-justifications';
import { ReportMetrics } from './report-metrics';
import { REPORT_KEY_PROVIDER } from './report-key-provider';
import { ReportsController } from './reports.controller';
import { RetentionController } from './retention.controller';

export const COMPLIANCE_AUDIT = Symbol('COMPLIANCE_AUDIT');
export const REPORT_INTEGRITY = Symbol('REPORT_INTEGRITY');

@Module({
  // Alerts, to link report rows to the alerts that cite them (the same module instance as the API's).
  imports: [DetectionModule],
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
      provide: RETENTION_RUN_SERVICE,
      inject: [APP_CONFIG, SQLITE_DB, DEPLOYMENT, RETENTION_POLICY, LEGAL_HOLD_STORE, REPORT_KEY_PROVIDER, ES_RETENTION_RUNNER, ES_RETENTION_RUN_RECORDS],
      useFactory: (config: AppConfig, db: SqliteDb, deployment: Deployment, loaded: LoadedRetentionPolicy, holds: LegalHoldStore, keys: KeyProvider, es: EsRetentionRunner | null, records: RetentionRunRecords | null) => {
        let runner: SqliteRetentionRunner | null = null;
        // STORE=elasticsearch: the Elasticsearch retention run behind the same port, its runs recorded in the cluster.
        const esRuns = es && records ? new EsRetentionRuns(es, loaded.policy, records) : null;
        return new RetentionRunService(
          () => {
            if (esRuns) return esRuns;
            if (!deployment.eventsInDataDir) throw Problems.unavailable('Retention runs need the embedded store or Elasticsearch with a checkpoint store.', 3600);
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
      inject: [LEGAL_HOLD_STORE, COMPLIANCE_AUDIT, APP_CONFIG, LEGAL_HOLD_ENFORCEMENT, EVENT_STORE],
      useFactory: (store: LegalHoldStore, audit: AccessAuditSink, config: AppConfig, enforcement: HoldReconcileRunner | null, events: EventStore) => {
        const protection = embeddedFieldProtection(config);
        // A hold placed by patient token holds the patient the token stands for (found as re-identification finds it).
        const resolve = async (token: string): Promise<string | null> => {
          if (!events.patientTokenLookups) return null;
          const id = (await events.query({ patientToken: token, limit: 1 })).records[0]?.event.patient?.id;
          return id !== undefined && protection.patientToken(id) === token ? id : null;
        };
        return new LegalHoldService(store, audit, undefined, undefined, (id) => protection.patientToken(id), enforcement ?? undefined, resolve);
      },
    },
    {
      provide: REPORT_INTEGRITY,
      // Signed checkpoints next to the events, bound by the infrastructure module; absent (a module built without one): stated as not available.
      inject: [EVENT_STORE, REPORT_KEY_PROVIDER, { token: CHECKPOINT_STORE, optional: true }],
      useFactory: (events: EventStore, keys: KeyProvider, lookup?: CheckpointLookup): ReportIntegritySource => {
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
      inject: [
        EVENT_STORE,
        REPORT_INTEGRITY,
        REPORT_KEY_PROVIDER,
        HtmlReportTemplates,
        COMPLIANCE_AUDIT,
        APP_CONFIG,
        PatientIdentifiers,
        { token: ACCESS_CONTEXT, optional: true },
        { token: ALERT_STORE, optional: true },
        IntegrityMonitor,
      ],
      useFactory: (
        events: EventStore,
        integrity: ReportIntegritySource,
        keys: KeyProvider,
        templates: HtmlReportTemplates,
        audit: AccessAuditSink,
        config: AppConfig,
        patients: PatientIdentifiers,
        context?: AccessContext | null,
        alerts?: AlertStore | null,
        monitor?: IntegrityMonitor,
      ) =>
        new ReportService(events, integrity, () => keys.signingKey(), templates, audit, {
          pageSize: config.compliance?.reportPageSize ?? DEFAULT_REPORT_PAGE_SIZE,
          // The explanation stage: each row judged with the context as of the access, linked to the alerts citing it.
          justifications: context ? reportJustifications(context, alerts ?? null, (id) => patients.token(id)) : undefined,
          // Refused while a break is known: a tampered index column would silently hide records from it.
          integrityGate: () => refuseWhileBroken(() => monitor?.knownBreak() ?? null),
        }),
    },
  ],
  exports: [RETENTION_POLICY, RETENTION_RUN_SERVICE, LegalHoldService, ReportService, REPORT_KEY_PROVIDER],
})
export class ComplianceModule {}

// Bound by the infrastructure module (retention-enforcement.port.ts); re-exported for the retention schedule.
export { ES_RETENTION_RUNNER, HoldReconcileRunner, LEGAL_HOLD_ENFORCEMENT, logHoldReconcile } from '@app/retention/retention-enforcement.port';
