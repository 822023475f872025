/** Root module of the API service: configuration, the infrastructure chosen from it, security, the pipeline and the HTTP controllers. */
import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, ConfigModule } from '@app/core';
import { infrastructureFor } from '@app/infrastructure';
import { AccessLogModule, CheckpointModule, PipelineModule } from '@app/pipeline';
import { SecurityModule } from '@app/security';
import { AtnaModule } from './atna/atna.module';
import { ConsoleModule } from './console/console.module';
import { AuditorAdminPagesModule } from './console/auditor-admin-pages.module';
import { ComplianceModule } from './compliance/compliance.module';
import { ContextApiModule } from './context/context-api.module';
import { RetentionScheduleModule } from './compliance/retention-schedule.module';
import { IntegrityScheduleModule } from './integrity/integrity-schedule.module';
import { DiskPressureAlertsModule } from './faults/disk-pressure-alerts.module';
import { DetectionApiModule } from './detection/detection-api.module';
import { FhirModule } from './fhir/fhir.module';
import { AccessLogController } from './controllers/access-log.controller';
import { CheckpointsController } from './controllers/checkpoints.controller';
import { EventsController } from './controllers/events.controller';
import { HealthController } from './controllers/health.controller';
import { IntegrityController } from './controllers/integrity.controller';
import { ProofController } from './controllers/proof.controller';

@Module({})
export class AppModule {
  /** `extraImports`: modules added by the embedding process (tests bind e.g. an in-memory ACCESS_CONTEXT). */
  static forRoot(config: AppConfig, extraImports: DynamicModule[] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), infrastructureFor(config).module, SecurityModule, PipelineModule, CheckpointModule, AccessLogModule, ContextApiModule, FhirModule, AtnaModule, DetectionApiModule, ComplianceModule, RetentionScheduleModule, IntegrityScheduleModule, DiskPressureAlertsModule, ConsoleModule, AuditorAdminPagesModule, ...extraImports],
      controllers: [EventsController, ProofController, IntegrityController, CheckpointsController, HealthController, AccessLogController],
    };
  }
}
