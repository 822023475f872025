/**
 * FHIR R4 context resources posted in a Bundle at `POST /fhir` (Practitioner, PractitionerRole,
 * Patient, RelatedPerson, Encounter, CareTeam): mapped by @app/standards to context records, merged
 * over what is known (a PractitionerRole adds department and title to its Practitioner's user, a
 * RelatedPerson adds a related person to its patient), checked like any other feed record, and
 * stored together. A batch answers per entry (201 or 400 with its OperationOutcome; the valid ones
 * are kept); a transaction is all or nothing (400 and nothing stored when any entry is refused).
 */
import { FhirIssue, OperationOutcome, mapFhirContextBundle, operationOutcome } from '@app/standards';
import { ContextService } from './context.service';

export interface FhirContextAnswer {
  status: 200 | 400;
  body: OperationOutcome | { resourceType: 'Bundle'; type: string; entry: unknown[] };
}

export class FhirContextService {
  constructor(private readonly context: ContextService) {}

  async submit(body: unknown, maxEntries: number): Promise<FhirContextAnswer> {
    const mapped = mapFhirContextBundle(body, maxEntries);
    if (!mapped.ok) return { status: 400, body: operationOutcome(mapped.issues) };
    const entries = (body as { entry: unknown[] }).entry;
    const issuesByEntry = new Map<number, FhirIssue[]>();
    const note = (entry: number, issue: FhirIssue) => issuesByEntry.set(entry, [...(issuesByEntry.get(entry) ?? []), issue]);
    for (const issue of mapped.issues) note(issue.entry, { code: issue.code, expression: issue.expression, message: issue.message });

    const batch = this.context.batch();
    const kept: number[] = [];
    mapped.records.forEach((r) => {
      const rejected = batch.add(r.kind, [{ index: r.entry, value: r.record }], { merge: true });
      for (const x of rejected) {
        note(r.entry, { code: 'value', expression: `Bundle.entry[${r.entry}].resource`, message: `${r.resourceType} maps to a ${r.kind.slice(0, -1)} record whose ${x.pointer || 'record'} ${x.message}` });
      }
      if (rejected.length === 0) kept.push(r.entry);
    });
    if (mapped.bundleType === 'transaction' && issuesByEntry.size > 0) {
      return { status: 400, body: operationOutcome([...issuesByEntry.values()].flat()) };
    }
    await batch.commit();
    const type = `${mapped.bundleType}-response`;
    return {
      status: 200,
      body: {
        resourceType: 'Bundle',
        type,
        entry: entries.map((_, i) => {
          const issues = issuesByEntry.get(i);
          return issues ? { response: { status: '400 Bad Request', outcome: operationOutcome(issues) } } : { response: { status: '200 OK' } };
        }),
      },
    };
  }
}
