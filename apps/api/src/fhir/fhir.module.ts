/**
 * Nest wiring of the HL7 FHIR R4 endpoint: the controller, FhirIngestService, and the FHIR body
 * reader. The reader must run before the app-wide one (same hostile-JSON checks, but refusals as
 * problem+json), which buildApp registers right after NestFactory.create; providers are
 * instantiated inside NestFactory.create, so FhirBodyParserInstaller mounts the FHIR reader on
 * /fhir from its constructor, ahead of it. The app-wide reader then finds the body read and skips.
 */
import { Inject, Injectable, Module } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { APP_CONFIG, AppConfig } from '@app/core';
import { FhirIngestService } from '@app/pipeline/standards/fhir-ingest.service';
import { FhirController } from './fhir.controller';
import { fhirBodyParser } from './fhir-http';

@Injectable()
export class FhirBodyParserInstaller {
  readonly installed: boolean;

  constructor(adapterHost: HttpAdapterHost, @Inject(APP_CONFIG) config: AppConfig) {
    const adapter = adapterHost.httpAdapter;
    this.installed = Boolean(adapter);
    adapter?.use('/fhir', fhirBodyParser(config));
  }
}

@Module({
  controllers: [FhirController],
  providers: [FhirIngestService, FhirBodyParserInstaller],
})
export class FhirModule {}
