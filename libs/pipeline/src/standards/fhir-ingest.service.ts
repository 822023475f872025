/**
 * FHIR ingestion use case behind `POST /fhir/AuditEvent` (and `POST /fhir` for a Bundle): maps one
 * R4 AuditEvent or a batch/transaction Bundle with @app/standards (all-or-nothing), stores the
 * events in one durable ingest call (one group commit, never split), and shapes the FHIR answer:
 * 201/200 + OperationOutcome for one resource, a batch-response / transaction-response Bundle with
 * the receipts for a Bundle. Errors are FhirOutcomeErrors (status + OperationOutcome) that never
 * echo submitted values.
 */
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AccessEvent, AppConfig, ProblemError } from '@app/core';
import { PatientIdentifiers } from '@app/security';
import { EVENT_STORE, EventStore } from '@app/storage';
import {
  dataQualityDeviations,
  FhirBundleResponse,
  FhirReceipt,
  OperationOutcome,
  buildFhirBundleResponse,
  buildFhirCreateResponse,
  mapFhirSubmission,
} from '@app/standards';
import { IngestService } from '../ingest.service';
import { MetricsService } from '../metrics.service';

/** An OperationOutcome with any R4 issue type (the library's type lists only the ones mapping uses). */
export interface AnyOperationOutcome {
  resourceType: 'OperationOutcome';
  issue: Array<{ severity: 'fatal' | 'error' | 'warning' | 'information'; code: string; details?: { text: string }; diagnostics?: string; expression?: string[] }>;
}

/** A FHIR error answer: HTTP status and the OperationOutcome to send (application/fhir+json). */
export class FhirOutcomeError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome | AnyOperationOutcome,
    readonly headers: Record<string, string> = {},
  ) {
    super('FHIR submission refused');
  }
}

export interface FhirAnswer {
  status: 200 | 201;
  headers: Record<string, string>;
  body: FhirBundleResponse | OperationOutcome;
}

export interface FhirSubmitContext {
  /** The authenticated integration (becomes `source.integration` of every event). */
  integration?: string;
  /**
   * Admission of the mapped events before they are stored (rate limit and source ownership: the
   * caller passes IngestAdmission.admitEvents for its principal). Throws ProblemErrors; a 403 naming
   * events by JSON Pointer is answered with the FHIR elements they came from.
   */
  admit?: (events: AccessEvent[]) => void;
}

@Injectable()
export class FhirIngestService {
  constructor(
    private readonly ingest: IngestService,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly identifiers: PatientIdentifiers,
  ) {}

  /** Maps, stores durably (one batch) and answers; throws FhirOutcomeError (400) for a bad submission. */
  async submit(body: unknown, context: FhirSubmitContext): Promise<FhirAnswer> {
    const submission = mapFhirSubmission(body, {
      integration: context.integration,
      maxEntries: this.config.maxBatchEvents,
      // A user named by display only, no agent identified: a keyed pseudonym acts (the display is never stored).
      pseudonymizeDisplay: (display) => this.identifiers.displays.pseudonym(display),
    });
    if (!submission.ok) {
      this.metrics.fhirSubmissions.inc({ result: 'rejected' });
      this.metrics.ingestedEvents.inc({ result: 'rejected' });
      throw new FhirOutcomeError(400, submission.outcome);
    }
    try {
      context.admit?.(submission.events);
    } catch (err) {
      this.metrics.fhirSubmissions.inc({ result: 'rejected' });
      throw err instanceof ProblemError && err.status === 403 && err.body.errors?.length ? sourceRefusal(err, submission.kind) : err;
    }
    let receipts: FhirReceipt[];
    try {
      // Which ids were stored before: their answer is 200 (original receipt) instead of 201.
      const before = await this.store.findReceipts(submission.events.map((e) => e.id));
      const stored = await this.ingest.ingestValidated(submission.events);
      receipts = stored.map((r) => (before.has(r.id) ? { ...r, replayed: true } : r));
    } catch (err) {
      this.metrics.fhirSubmissions.inc({ result: 'failed' });
      throw err;
    }
    this.metrics.fhirSubmissions.inc({ result: 'stored' });
    for (const event of submission.events) {
      for (const deviation of dataQualityDeviations(event.details?.dataQuality)) {
        this.metrics.fhirDataQuality.inc({ integration: event.source.integration ?? 'anonymous', deviation });
      }
    }
    if (submission.kind === 'AuditEvent') {
      const one = buildFhirCreateResponse(receipts[0]!);
      return { status: one.status, headers: { ...one.headers }, body: one.body };
    }
    return { status: 200, headers: {}, body: buildFhirBundleResponse(submission.bundleType ?? 'batch', receipts) };
  }
}

/**
 * A 403 from source ownership names canonical fields (`/source/system`, `/events/3/source/integration`);
 * FHIR clients get the element they came from: source.observer (system) or the caller (integration).
 */
function sourceRefusal(err: ProblemError, kind: 'AuditEvent' | 'Bundle'): FhirOutcomeError {
  const issues = (err.body.errors ?? []).slice(0, 100).map((e) => {
    const prefix = kind === 'Bundle' ? `Bundle.entry[${e.index ?? 0}].resource` : 'AuditEvent';
    const element = e.pointer.endsWith('/system') ? `${prefix}.source.observer` : `${prefix}.source`;
    return { severity: 'error' as const, code: 'forbidden', details: { text: `source ${e.message}` }, expression: [element] };
  });
  return new FhirOutcomeError(403, { resourceType: 'OperationOutcome', issue: issues }, err.headers);
}
