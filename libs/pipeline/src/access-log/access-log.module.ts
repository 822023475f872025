/**
 * Wires the access log: AccessAuditService (records and reads the access chain), the global
 * AccessAuditInterceptor behind `@AuditAccess`, ReidentificationService, and the core
 * ACCESS_AUDIT_SINK hook (legal holds, reports) pointing at the same service. Global, so feature
 * modules inject AccessAuditService or ACCESS_AUDIT_SINK without importing it.
 */
import { Global, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { ACCESS_AUDIT_SINK, APP_CONFIG, AppConfig } from '@app/core';
import { PatientIdentifiers } from '@app/security';
import { EVENT_STORE, EventStore } from '@app/storage';
import { ChainWriter } from '../chain-writer';
import { AccessAuditInterceptor } from './access-audit.interceptor';
import { AccessAuditService } from './access-audit.service';
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
    { provide: APP_INTERCEPTOR, useClass: AccessAuditInterceptor },
  ],
  exports: [AccessAuditService, ReidentificationService, ACCESS_AUDIT_SINK],
})
export class AccessLogModule {}
