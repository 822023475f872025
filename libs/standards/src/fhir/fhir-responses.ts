/**
 * FHIR R4 answers to a durable submission: the batch-response / transaction-response Bundle with one
 * entry per submitted AuditEvent (in order), each carrying its ingestion receipt {id, chain, seq,
 * hash} in an extension, and the single-resource create answer.
 */
import { Receipt } from '@app/core';
import { FhirBundleType } from './fhir-submission';
import { OperationOutcome } from './operation-outcome';

/** Extension holding a receipt; sub-extensions `id` (valueUuid), `chain`, `seq`, `hash`. */
export const RECEIPT_EXTENSION_URL = 'https://audit-siem.dev/fhir/StructureDefinition/ingest-receipt';

export interface FhirReceipt extends Receipt {
  /** True when the id had been ingested before and this is the original receipt (a retry). */
  replayed?: boolean;
}

export interface FhirExtension {
  url: string;
  valueString?: string;
  valueUuid?: string;
  valueInteger?: number;
  valueDecimal?: number;
  extension?: FhirExtension[];
}

export interface FhirBundleResponseEntry {
  fullUrl?: string;
  response: { status: string; location: string; etag: string; extension: FhirExtension[] };
}

export interface FhirBundleResponse {
  resourceType: 'Bundle';
  type: 'batch-response' | 'transaction-response';
  entry: FhirBundleResponseEntry[];
}

export function receiptExtension(receipt: Receipt): FhirExtension {
  const seq: FhirExtension = Number.isSafeInteger(receipt.seq) && receipt.seq >= -2147483648 && receipt.seq <= 2147483647
    ? { url: 'seq', valueInteger: receipt.seq }
    : { url: 'seq', valueDecimal: receipt.seq };
  return {
    url: RECEIPT_EXTENSION_URL,
    extension: [{ url: 'id', valueUuid: `urn:uuid:${receipt.id}` }, { url: 'chain', valueString: receipt.chain }, seq, { url: 'hash', valueString: receipt.hash }],
  };
}

/**
 * The response Bundle. `receipts[i]` answers entry i of the request. `baseUrl` (the FHIR base, e.g.
 * `https://host:8443/fhir`), when given, adds each entry's fullUrl.
 */
export function buildFhirBundleResponse(bundleType: FhirBundleType, receipts: readonly FhirReceipt[], baseUrl?: string): FhirBundleResponse {
  return {
    resourceType: 'Bundle',
    type: bundleType === 'batch' ? 'batch-response' : 'transaction-response',
    entry: receipts.map((r) => ({
      ...(baseUrl ? { fullUrl: `${baseUrl.replace(/\/+$/, '')}/AuditEvent/${r.id}` } : {}),
      response: {
        status: r.replayed ? '200 OK' : '201 Created',
        location: `AuditEvent/${r.id}/_history/1`,
        etag: 'W/"1"',
        extension: [receiptExtension(r)],
      },
    })),
  };
}

/**
 * The answer to one AuditEvent: HTTP status (201, or 200 for a retry), the Location and ETag
 * headers, and an informational OperationOutcome carrying the receipt.
 */
export function buildFhirCreateResponse(receipt: FhirReceipt): {
  status: 200 | 201;
  headers: { Location: string; ETag: string };
  body: OperationOutcome & { extension: FhirExtension[] };
} {
  return {
    status: receipt.replayed ? 200 : 201,
    headers: { Location: `AuditEvent/${receipt.id}/_history/1`, ETag: 'W/"1"' },
    body: {
      resourceType: 'OperationOutcome',
      extension: [receiptExtension(receipt)],
      issue: [{ severity: 'information', code: 'informational', details: { text: receipt.replayed ? 'already stored; original receipt' : 'stored durably' } }],
    },
  };
}
