/**
 * FHIR R4 OperationOutcome for rejected submissions: one issue per problem, each naming the element
 * by a FHIRPath `expression` (e.g. `Bundle.entry[3].resource.agent[0].who`) and saying what is wrong
 * without ever echoing the submitted value (audit events are PHI).
 */

/** R4 IssueType codes this service uses (http://hl7.org/fhir/issue-type). */
export type FhirIssueType =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'code-invalid'
  | 'not-supported'
  | 'duplicate'
  | 'too-costly'
  | 'processing'
  | 'informational';

/** One problem found while reading or mapping a submission. */
export interface FhirIssue {
  code: FhirIssueType;
  /** FHIRPath of the element, from the root of the submitted resource. */
  expression: string;
  /** What is wrong, in words that never contain the submitted value. */
  message: string;
}

export interface OperationOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: FhirIssueType;
  details?: { text: string };
  diagnostics?: string;
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** The most issues one outcome carries; a note says when more were found. */
export const MAX_OUTCOME_ISSUES = 100;

export function operationOutcome(issues: readonly FhirIssue[]): OperationOutcome {
  const shown = issues.slice(0, MAX_OUTCOME_ISSUES).map(
    (i): OperationOutcomeIssue => ({ severity: 'error', code: i.code, details: { text: i.message }, expression: [i.expression] }),
  );
  if (issues.length > MAX_OUTCOME_ISSUES) {
    shown.push({ severity: 'information', code: 'informational', details: { text: `${issues.length - MAX_OUTCOME_ISSUES} further issues were found and not listed` } });
  }
  if (shown.length === 0) shown.push({ severity: 'error', code: 'invalid', details: { text: 'the submission was rejected' } });
  return { resourceType: 'OperationOutcome', issue: shown };
}
