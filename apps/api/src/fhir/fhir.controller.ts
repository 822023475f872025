/**
 * HL7 FHIR R4 ingestion (CONTRACT `POST /fhir/AuditEvent`): one AuditEvent, or a batch/transaction
 * Bundle of them (also accepted at the FHIR base, `POST /fhir`, where FHIR clients send Bundles).
 * Thin: FhirIngestService maps, admits (IngestAdmission: rate limit, source ownership), stores
 * durably and builds the FHIR answer; every error is an OperationOutcome (FhirOutcomeFilter).
 */
import { Controller, Inject, Post, Req, Res, UseFilters } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '@app/core';
import { ApiBody, ApiConsumes, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { OperationOutcome, isFhirContextBundle } from '@app/standards';
import { FhirContextService } from '@app/context';
import { FhirIngestService, FhirOutcomeError } from '@app/pipeline/standards/fhir-ingest.service';
import { CurrentPrincipal, IngestAdmission, Principal, RequireScope } from '@app/security';
import { FHIR_BODY_PARSED, FHIR_CONTENT_TYPE, FHIR_JSON_TYPES } from './fhir-http';
import { FhirOutcomeFilter } from './fhir-outcome.filter';

const FHIR_RESOURCE_SCHEMA = {
  type: 'object',
  required: ['resourceType'],
  description:
    'An HL7 FHIR R4 (4.0.1) AuditEvent (IHE BALP profiles welcome), or a Bundle of type batch or transaction whose entries each hold one AuditEvent (entry.request, when present, must be POST AuditEvent). At most MAX_BATCH_EVENTS entries and FHIR_MAX_BODY_BYTES.',
  properties: { resourceType: { type: 'string', enum: ['AuditEvent', 'Bundle'] } },
  additionalProperties: true,
};
const OUTCOME_SCHEMA = {
  type: 'object',
  description: 'FHIR OperationOutcome; each issue names the element by a FHIRPath expression and never echoes the value.',
  properties: { resourceType: { type: 'string', enum: ['OperationOutcome'] }, issue: { type: 'array', items: { type: 'object' } } },
};
const BUNDLE_RESPONSE_SCHEMA = {
  type: 'object',
  description:
    'Bundle batch-response / transaction-response: one entry per submitted AuditEvent, in order, response.status 201 Created (200 OK for an id stored before), location AuditEvent/<id>/_history/1, and the receipt {id, chain, seq, hash} in the extension https://audit-siem.dev/fhir/StructureDefinition/ingest-receipt.',
  properties: { resourceType: { type: 'string', enum: ['Bundle'] }, type: { type: 'string', enum: ['batch-response', 'transaction-response'] }, entry: { type: 'array', items: { type: 'object' } } },
};
const fhirJson = (schema: object) => ({ 'application/fhir+json': { schema } });

@ApiTags('fhir')
@Controller('fhir')
@UseFilters(FhirOutcomeFilter)
export class FhirController {
  constructor(
    private readonly fhir: FhirIngestService,
    private readonly admission: IngestAdmission,
    private readonly contextResources: FhirContextService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('AuditEvent')
  @RequireScope('events:write')
  @ApiOperation({
    summary: 'Post an HL7 FHIR R4 AuditEvent or a Bundle of them; answers once durable.',
    description:
      'Mapped to the canonical access event (IHE BALP: patient from entity[patient], user from agent[requestor=true]); the SHA-256 of the resource is kept in details.fhirResourceSha256. One AuditEvent: 201 (200 when already stored) with Location and an OperationOutcome carrying the receipt. A Bundle: 200 with a batch-response / transaction-response Bundle. All-or-nothing; every error is an OperationOutcome (application/fhir+json), including 401/403.',
  })
  @ApiConsumes(...FHIR_JSON_TYPES)
  @ApiProduces('application/fhir+json')
  @ApiBody({ schema: FHIR_RESOURCE_SCHEMA })
  @ApiResponse({ status: 201, description: 'One AuditEvent stored durably.', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 200, description: 'A Bundle stored durably (or one AuditEvent already stored).', content: fhirJson(BUNDLE_RESPONSE_SCHEMA) })
  @ApiResponse({ status: 400, description: 'Invalid resource; nothing stored.', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 403, description: 'Role lacks events:write, or source.observer names a system this integration may not post for.', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 409, description: 'An AuditEvent id was stored before with other content.', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 413, description: 'Body larger than FHIR_MAX_BODY_BYTES.', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 415, description: 'Not application/fhir+json or application/json.', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 429, description: 'Over the integration\'s event rate (Retry-After).', content: fhirJson(OUTCOME_SCHEMA) })
  @ApiResponse({ status: 503, description: 'Cannot be made durable right now (Retry-After).', content: fhirJson(OUTCOME_SCHEMA) })
  async postAuditEvent(@Req() req: Request, @Res() res: Response, @CurrentPrincipal() principal?: Principal): Promise<void> {
    await this.handle(req, res, principal);
  }

  @Post()
  @RequireScope('events:write')
  @ApiOperation({
    summary: 'FHIR batch/transaction endpoint: a Bundle of AuditEvents, or of context resources, posted to the FHIR base.',
    description:
      'AuditEvents: same as POST /fhir/AuditEvent. Context resources (Practitioner, PractitionerRole, Patient, RelatedPerson, Encounter, CareTeam; needs context:write) feed the context (docs/context-feeds.md): a batch answers per entry (200 OK, or 400 with its OperationOutcome), a transaction is all or nothing.',
  })
  @ApiConsumes(...FHIR_JSON_TYPES)
  @ApiProduces('application/fhir+json')
  @ApiBody({ schema: FHIR_RESOURCE_SCHEMA })
  @ApiResponse({ status: 200, description: 'Stored durably.', content: fhirJson(BUNDLE_RESPONSE_SCHEMA) })
  @ApiResponse({ status: 400, description: 'Invalid Bundle; nothing stored.', content: fhirJson(OUTCOME_SCHEMA) })
  async postBundle(@Req() req: Request, @Res() res: Response, @CurrentPrincipal() principal?: Principal): Promise<void> {
    await this.handle(req, res, principal);
  }

  private async handle(req: Request, res: Response, principal: Principal | undefined): Promise<void> {
    const parsedHere = (req as unknown as Record<symbol, boolean>)[FHIR_BODY_PARSED] === true;
    if (!parsedHere && (req.body === undefined || !req.is(FHIR_JSON_TYPES))) {
      throw new FhirOutcomeError(415, notSupported('send the resource as application/fhir+json (or application/json)'));
    }
    if (isFhirContextBundle(req.body)) return this.handleContext(req.body, res, principal);
    const answer = await this.fhir.submit(req.body, {
      integration: principal?.integration,
      // The same admission as POST /v1/events: rate limit (429) and source ownership (403).
      admit: principal ? (events) => this.admission.admitEvents(principal, events) : undefined,
    });
    for (const [k, v] of Object.entries(answer.headers)) res.setHeader(k, v);
    res.status(answer.status).setHeader('Content-Type', FHIR_CONTENT_TYPE);
    res.end(JSON.stringify(answer.body));
  }

  /** A Bundle of context resources (Practitioner, Patient, Encounter, ...): the context feeds, with context:write. */
  private async handleContext(body: unknown, res: Response, principal: Principal | undefined): Promise<void> {
    if (principal && !principal.scopes.includes('context:write')) {
      throw new FhirOutcomeError(403, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', details: { text: 'context resources need the context:write scope' } }] });
    }
    const answer = await this.contextResources.submit(body, this.config.maxBatchEvents);
    res.status(answer.status).setHeader('Content-Type', FHIR_CONTENT_TYPE);
    res.end(JSON.stringify(answer.body));
  }
}

function notSupported(text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', details: { text } }] };
}
