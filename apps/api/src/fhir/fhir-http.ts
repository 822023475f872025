/**
 * HTTP helpers of the FHIR endpoint: the content types it takes, its body reader (the app-wide
 * hostile-JSON reader with the FHIR limits: FHIR_MAX_BODY_BYTES, since a Bundle of 1000 AuditEvents
 * is several MiB, and MAX_FHIR_JSON_DEPTH), and rendering any error as a FHIR R4 OperationOutcome
 * (application/fhir+json) that keeps the stable problem type as a coding and never echoes values.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  AppConfig,
  DEFAULT_MAX_FHIR_JSON_DEPTH,
  DEFAULT_MAX_JSON_STRING_LENGTH,
  PROBLEM_BASE,
  ProblemError,
  Problems,
} from '@app/core';
import { R4_AUDIT_EVENT_ELEMENT_NAMES } from '@app/standards';
import { JsonBodyLimits, jsonBodyReader } from '../http/json-body-reader';
import { FORBIDDEN_JSON_KEYS } from '../http/json-guard';

/** Request content types of POST /fhir and /fhir/AuditEvent (the last is the DSTU2-era name some clients still send). */
export const FHIR_JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];
export const FHIR_CONTENT_TYPE = 'application/fhir+json; charset=utf-8';
export const DEFAULT_FHIR_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Set on requests whose body this parser read (so the controller knows the FHIR limit applied). */
export const FHIR_BODY_PARSED = Symbol('fhirBodyParsed');

export interface FhirOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: string;
  details?: { coding?: { system: string; code: string }[]; text: string };
  diagnostics?: string;
  expression?: string[];
}

export interface FhirOperationOutcome {
  resourceType: 'OperationOutcome';
  issue: FhirOutcomeIssue[];
}

/** R4 IssueType for an HTTP status. */
export function issueTypeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 409:
      return 'conflict';
    case 413:
      return 'too-costly';
    case 415:
      return 'not-supported';
    case 429:
      return 'throttled';
    case 503:
      return 'transient';
    default:
      return status >= 500 ? 'exception' : 'processing';
  }
}

/** An OperationOutcome carrying a problem: status-derived issue code, the problem type as coding, its fixed text. */
export function outcomeFromProblem(problem: ProblemError): FhirOperationOutcome {
  const slug = problem.body.type.startsWith(PROBLEM_BASE) ? problem.body.type.slice(PROBLEM_BASE.length) : problem.body.type;
  const text = typeof problem.body.detail === 'string' ? problem.body.detail : problem.body.title;
  const issues: FhirOutcomeIssue[] = [
    {
      severity: problem.status >= 500 ? 'fatal' : 'error',
      // A body the JSON reader refused (malformed, too deep, duplicate keys...) is a structure problem.
      code: problem.status === 400 && /^(malformed-json|json-)/.test(slug) ? 'structure' : issueTypeForStatus(problem.status),
      details: { coding: [{ system: PROBLEM_BASE.replace(/\/$/, ''), code: slug }], text },
    },
  ];
  // Field errors name where by JSON Pointer (not FHIRPath) and are value-free: keep them as diagnostics.
  for (const e of problem.body.errors ?? []) {
    issues.push({ severity: 'error', code: 'invalid', details: { text: e.message }, diagnostics: `at JSON Pointer ${e.pointer || '/'}` });
  }
  return { resourceType: 'OperationOutcome', issue: issues.slice(0, 101) };
}

export function sendOutcome(res: Response, status: number, outcome: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  res.status(status).setHeader('Content-Type', FHIR_CONTENT_TYPE);
  res.end(JSON.stringify(outcome));
}


/** Element names of R4 AuditEvent and of the batch/transaction Bundle wrapping it. */
const FHIR_BODY_NAMES: ReadonlySet<string> = new Set([
  ...R4_AUDIT_EVENT_ELEMENT_NAMES,
  ...FORBIDDEN_JSON_KEYS,
  ...['entry', 'fullUrl', 'resource', 'request', 'method', 'url', 'timestamp', 'total', 'link', 'identifier', 'signature'],
]);

/**
 * Body reader for POST /fhir and /fhir/AuditEvent: the app-wide hostile-JSON reader
 * (http/json-body-reader: size, depth, string length, duplicate and prototype keys, UTF-8) with the
 * FHIR limits (FHIR_MAX_BODY_BYTES, MAX_FHIR_JSON_DEPTH), mounted on /fhir ahead of the app-wide
 * one (which then finds the body read and skips it), so that its refusals reach FHIR clients as
 * OperationOutcomes instead of problem+json. Other methods and non-JSON bodies pass through
 * untouched (the controller answers 415).
 */
export function fhirBodyParser(config: AppConfig): RequestHandler {
  const limits: JsonBodyLimits = {
    maxBytes: config.fhirMaxBodyBytes ?? DEFAULT_FHIR_MAX_BODY_BYTES,
    maxDepth: config.maxFhirJsonDepth ?? DEFAULT_MAX_FHIR_JSON_DEPTH,
    maxStringLength: config.maxJsonStringLength ?? DEFAULT_MAX_JSON_STRING_LENGTH,
  };
  // Pointers in refusals may name FHIR's own elements (and `_element` primitive companions), nothing else.
  const isKnownName = (key: string) => FHIR_BODY_NAMES.has(key.startsWith('_') ? key.slice(1) : key);
  const read = jsonBodyReader({ limitsFor: () => limits, isKnownName });
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST') return next();
    read(req, res, (err?: unknown) => {
      if (err === undefined || err === null) {
        if (req.body !== undefined) (req as unknown as Record<symbol, boolean>)[FHIR_BODY_PARSED] = true;
        return next();
      }
      const problem = err instanceof ProblemError ? err : Problems.badRequest('The request body could not be read.');
      const headers = { ...problem.headers, ...(res.getHeader('Connection') === 'close' ? { Connection: 'close' } : {}) };
      sendOutcome(res, problem.status, outcomeFromProblem(problem), headers);
    });
  };
}
