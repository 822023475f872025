/**
 * Wires the access log: AccessAuditService (records and reads the access chain), the global
 * AccessAuditInterceptor behind `@AuditAccess`, ReidentificationService, and the core
 * ACCESS_AUDIT_SINK hook (legal holds, reports) pointing at the same service, and the guard's
 * AUTH_EVENT_SINK (DeniedAccessRecorder: refused requests, rate-limited). Global, so feature modules
 * inject AccessAuditService or ACCESS_AUDIT_SINK without importing it, and the guard finds its sink.
 */
import { Global, Module, OnModuleDestroy } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ACCESS_AUDIT_SINK, APP_CONFIG, AppConfig } from '@app/core';
import { AUTH_EVENT_SINK, PatientIdentifiers } from '@app/security';
import { EVENT_STORE, EventStore } from '@app/storage';
import { ChainWriter } from '../chain-writer';
import { AccessAuditInterceptor } from './access-audit.interceptor';
import { AccessAuditService } from './access-audit.service';
import { DeniedAccessRecorder } from './denied-access-recorder';
import { ReidentificationService } from './reidentification.service';

@Global()
@Module({
  providers: [
    {
      provide: AccessAuditService,
      inject: [ChainWriter, EVENT_STORE, PatientIdentifiers],
      useFactory: (writer: ChainWriter, store: EventStore, patients: PatientIdentifiers) => new AccessAuditService(writer, store, patients),
    },
    {
      provide: ReidentificationService,
      inject: [EVENT_STORE, PatientIdentifiers, AccessAuditService, APP_CONFIG],
      useFactory: (store: EventStore, patients: PatientIdentifiers, audit: AccessAuditService, config: AppConfig) =>
        new ReidentificationService(store, patients, audit, config.reidentifyMinReasonLength ?? 10),
    },
    { provide: ACCESS_AUDIT_SINK, useExisting: AccessAuditService },
    {
      provide: DeniedAccessRecorder,
      inject: [AccessAuditService, APP_CONFIG],
      useFactory: (audit: AccessAuditService, config: AppConfig) =>
        new DeniedAccessRecorder(audit, { windowMs: config.accessDenialWindowMs, maxKeys: config.accessDenialMaxKeys }),
    },
    { provide: AUTH_EVENT_SINK, useExisting: DeniedAccessRecorder },
    { provide: APP_INTERCEPTOR, useClass: AccessAuditInterceptor },
  ],
  exports: [AccessAuditService, ReidentificationService, ACCESS_AUDIT_SINK, DeniedAccessRecorder, AUTH_EVENT_SINK],
})
export class AccessLogModule implements OnModuleDestroy {
  constructor(private readonly denials: DeniedAccessRecorder) {}

  /** Counted refusals are written before the chain writer drains (PipelineModule, beforeApplicationShutdown). */
  async onModuleDestroy(): Promise<void> {
    await this.denials.flush();
  }
}
