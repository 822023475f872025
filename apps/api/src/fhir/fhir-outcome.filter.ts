/**
 * Exception filter of the FHIR controller: every error on POST /fhir and /fhir/AuditEvent is
 * answered as a FHIR R4 OperationOutcome (application/fhir+json), also authentication and
 * authorization failures (401/403 keep their WWW-Authenticate header and their stable problem type
 * as an issue coding), so FHIR clients can always parse the answer. Nothing submitted is echoed.
 */
import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { PROBLEM_BASE } from '@app/core';
import { FhirOutcomeError } from '@app/pipeline/standards/fhir-ingest.service';
import { routeOf, toProblem } from '../http/problem.filter';
import { outcomeFromProblem, sendOutcome } from './fhir-http';

@Catch()
export class FhirOutcomeFilter implements ExceptionFilter {
  private readonly logger = new Logger('FhirController');

  catch(err: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    if (err instanceof FhirOutcomeError) {
      sendOutcome(res, err.status, err.outcome, err.headers);
      return;
    }
    const problem = toProblem(err);
    if (problem.status >= 500 && problem.body.type === PROBLEM_BASE + 'internal') {
      // The error's own message may quote data; log only its class and the route.
      const errorClass = (err as Error)?.constructor?.name ?? typeof err;
      this.logger.error(`unhandled error on a FHIR route (errorClass=${errorClass}, route=${routeOf(ctx.getRequest<Request>())})`);
    }
    sendOutcome(res, problem.status, outcomeFromProblem(problem), problem.headers);
  }
}
