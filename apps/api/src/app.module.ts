/** Root module of the API service: configuration, security, the pipeline and the HTTP controllers. */
import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig, ConfigModule } from '@app/core';
import { PipelineModule } from '@app/pipeline';
import { SecurityModule } from '@app/security';
import { EventsController } from './controllers/events.controller';
import { HealthController } from './controllers/health.controller';
import { IntegrityController } from './controllers/integrity.controller';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), SecurityModule, PipelineModule],
      controllers: [EventsController, IntegrityController, HealthController],
    };
  }
}
