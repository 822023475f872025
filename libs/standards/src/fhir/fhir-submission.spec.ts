/**
 * POST /fhir/AuditEvent bodies: a single AuditEvent, Bundles of them (500 entries map to 500
 * events), all-or-nothing rejection with an OperationOutcome naming each bad element, and the
 * batch-response / transaction-response Bundle carrying the receipts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventValidator } from '@app/core';
import { buildFhirBundleResponse, buildFhirCreateResponse, RECEIPT_EXTENSION_URL } from './fhir-responses';
import { mapFhirSubmission } from './fhir-submission';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/** n distinct BALP PatientRead events from n users on n patients, one second apart. */
function readEvents(n: number): Array<Record<string, unknown>> {
  const base = fixture('balp-patient-read');
  return Array.from({ length: n }, (_, i) => {
    const r = JSON.parse(JSON.stringify(base)) as Record<string, unknown> & { agent: Array<Record<string, unknown>>; entity: Array<Record<string, unknown>> };
    r.id = `read-${i}`;
    r.recorded = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString();
    r.agent[2].who = { identifier: { value: `user-${i % 7}` } };
    r.entity[2].what = { reference: `Patient/p-${i}` };
    return r;
  });
}

function bundle(type: string, resources: unknown[]): Record<string, unknown> {
  return { resourceType: 'Bundle', type, entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'AuditEvent' } })) };
}

describe('mapFhirSubmission', () => {
  it('maps a single AuditEvent', () => {
    const result = mapFhirSubmission(fixture('r4-example-login'));
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.kind).toBe('AuditEvent');
      expect(result.events).toHaveLength(1);
      expect(result.events[0].action).toBe('login');
    }
  });

  it('maps a batch Bundle of 500 AuditEvents to 500 valid events, in order', () => {
    const result = mapFhirSubmission(bundle('batch', readEvents(500)), { integration: 'fhir-server' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.kind).toBe('Bundle');
    expect(result.bundleType).toBe('batch');
    expect(result.events).toHaveLength(500);
    expect(new Set(result.events.map((e) => e.id)).size).toBe(500);
    expect(result.events.map((e) => e.patient?.id)).toEqual(Array.from({ length: 500 }, (_, i) => `p-${i}`));
    const validator = new EventValidator();
    expect(result.events.flatMap((e) => validator.errorsFor(e))).toEqual([]);
    expect(result.events.every((e) => e.source.integration === 'fhir-server' && e.action === 'read' && e.category === 'data_access')).toBe(true);
    expect(result.mapped.map((m) => m.resourceSha256)).toEqual(result.events.map((e) => e.details?.fhirResourceSha256));
  });

  it('accepts a transaction Bundle', () => {
    const result = mapFhirSubmission(bundle('transaction', readEvents(3)));
    expect(result.ok && result.bundleType).toBe('transaction');
  });

  it('rejects the whole Bundle when one entry is bad, naming Bundle.entry[i].resource.<element>', () => {
    const resources = readEvents(10);
    const secret = 'MRN-SECRET-777';
    // A requestor known by display only, and no identified client (110153) agent acting for it: who acted cannot be told.
    resources[3].agent = (resources[3].agent as Array<Record<string, unknown>>).slice(1);
    (resources[3].agent as Array<Record<string, unknown>>)[1] = { requestor: true, who: { display: secret } };
    resources[7].recorded = secret;
    const result = mapFhirSubmission(bundle('batch', resources));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.outcome.resourceType).toBe('OperationOutcome');
    expect(result.outcome.issue.map((i) => [i.severity, i.code, i.expression])).toEqual([
      ['error', 'required', ['Bundle.entry[3].resource.agent[1].who']],
      ['error', 'value', ['Bundle.entry[7].resource.recorded']],
    ]);
    expect(JSON.stringify(result.outcome)).not.toContain(secret);
  });

  it('names the agent at Bundle.entry[3].resource.agent[0].who', () => {
    const resources = readEvents(5);
    resources[3].agent = [{ who: {}, requestor: true }];
    const result = mapFhirSubmission(bundle('batch', resources));
    expect(!result.ok && result.outcome.issue[0].expression).toEqual(['Bundle.entry[3].resource.agent[0].who']);
  });

  it('rejects the same AuditEvent twice in one Bundle', () => {
    const [a] = readEvents(1);
    const result = mapFhirSubmission(bundle('batch', [a, a]));
    expect(!result.ok && result.issues).toEqual([expect.objectContaining({ code: 'duplicate', expression: 'Bundle.entry[1].resource' })]);
  });

  it.each([
    ['a Bundle type other than batch or transaction', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: readEvents(1)[0] }] }, 'not-supported', 'Bundle.type'],
    ['an empty Bundle', { resourceType: 'Bundle', type: 'batch', entry: [] }, 'required', 'Bundle.entry'],
    ['an entry that is not an AuditEvent', bundle('batch', [{ resourceType: 'Patient', id: 'x' }]), 'not-supported', 'Bundle.entry[0].resource.resourceType'],
    ['an entry without resource', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'AuditEvent' } }] }, 'required', 'Bundle.entry[0].resource'],
    ['an entry that is not a create', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: readEvents(1)[0], request: { method: 'DELETE', url: 'AuditEvent' } }] }, 'not-supported', 'Bundle.entry[0].request.method'],
    ['a resource that is neither AuditEvent nor Bundle', { resourceType: 'Observation' }, 'not-supported', 'Resource.resourceType'],
    ['a body that is not a resource', [1, 2], 'structure', 'Resource'],
  ])('rejects %s', (_what, body, code, expression) => {
    const result = mapFhirSubmission(body);
    expect(!result.ok && result.issues[0]).toEqual(expect.objectContaining({ code, expression }));
  });

  it('refuses a Bundle over the entry limit without mapping it', () => {
    const result = mapFhirSubmission(bundle('batch', readEvents(3)), { maxEntries: 2 });
    expect(!result.ok && result.issues).toEqual([expect.objectContaining({ code: 'too-costly', expression: 'Bundle.entry' })]);
  });

  it('lists at most 100 issues and says how many more there were', () => {
    const resources = readEvents(150).map((r) => ({ ...r, recorded: 'not a time' }));
    const result = mapFhirSubmission(bundle('batch', resources));
    expect(!result.ok && result.outcome.issue).toHaveLength(101);
    expect(!result.ok && result.outcome.issue[100]).toEqual(expect.objectContaining({ severity: 'information', code: 'informational' }));
  });
});

describe('FHIR responses', () => {
  const receipts = [
    { id: '0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10', chain: 'data_access', seq: 41, hash: 'ab'.repeat(32) },
    { id: '9bc49d49-513c-8270-87c0-47161054ba19', chain: 'data_access', seq: 7, hash: 'cd'.repeat(32), replayed: true },
  ];

  it('builds a batch-response Bundle carrying each receipt', () => {
    expect(buildFhirBundleResponse('batch', receipts, 'https://audit.example.org/fhir/')).toEqual({
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [
        {
          fullUrl: 'https://audit.example.org/fhir/AuditEvent/0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10',
          response: {
            status: '201 Created',
            location: 'AuditEvent/0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10/_history/1',
            etag: 'W/"1"',
            extension: [
              {
                url: RECEIPT_EXTENSION_URL,
                extension: [
                  { url: 'id', valueUuid: 'urn:uuid:0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10' },
                  { url: 'chain', valueString: 'data_access' },
                  { url: 'seq', valueInteger: 41 },
                  { url: 'hash', valueString: 'ab'.repeat(32) },
                ],
              },
            ],
          },
        },
        {
          fullUrl: 'https://audit.example.org/fhir/AuditEvent/9bc49d49-513c-8270-87c0-47161054ba19',
          response: {
            status: '200 OK',
            location: 'AuditEvent/9bc49d49-513c-8270-87c0-47161054ba19/_history/1',
            etag: 'W/"1"',
            extension: [
              {
                url: RECEIPT_EXTENSION_URL,
                extension: [
                  { url: 'id', valueUuid: 'urn:uuid:9bc49d49-513c-8270-87c0-47161054ba19' },
                  { url: 'chain', valueString: 'data_access' },
                  { url: 'seq', valueInteger: 7 },
                  { url: 'hash', valueString: 'cd'.repeat(32) },
                ],
              },
            ],
          },
        },
      ],
    });
  });

  it('builds a transaction-response Bundle, and seq beyond 32 bits as a decimal', () => {
    const response = buildFhirBundleResponse('transaction', [{ ...receipts[0], seq: 2 ** 40 }]);
    expect(response.type).toBe('transaction-response');
    expect(response.entry[0].fullUrl).toBeUndefined();
    expect(response.entry[0].response.extension[0].extension?.[2]).toEqual({ url: 'seq', valueDecimal: 2 ** 40 });
  });

  it('builds the single-resource create answer', () => {
    const created = buildFhirCreateResponse(receipts[0]);
    expect(created.status).toBe(201);
    expect(created.headers).toEqual({ Location: 'AuditEvent/0b9a0d5c-8e6e-4f4e-9a51-5d7c0f3c2a10/_history/1', ETag: 'W/"1"' });
    expect(created.body.resourceType).toBe('OperationOutcome');
    expect(created.body.extension[0].url).toBe(RECEIPT_EXTENSION_URL);
    expect(buildFhirCreateResponse(receipts[1]).status).toBe(200);
  });
});
