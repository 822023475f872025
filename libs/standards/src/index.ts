/**
 * Healthcare-standard ingestion, pure code (no HTTP, no sockets, no storage): HL7 FHIR R4
 * AuditEvent (IHE BALP) and IHE ATNA (RFC 5425 framing, RFC 5424 syslog, DICOM PS3.15 audit
 * messages) mapped to the canonical access event.
 */
export * from './shared/content-identity';
export * from './shared/audit-vocabulary';
export * from './shared/data-quality';
export * from './fhir/operation-outcome';
export * from './fhir/fhir-r4-reader';
export * from './fhir/fhir-audit-event.mapper';
export * from './fhir/fhir-submission';
export * from './fhir/fhir-responses';
export * from './atna/atna-error';
export * from './atna/octet-counting-frame-decoder';
export * from './atna/rfc5424-parser';
export { DEFAULT_MAX_XML_BYTES, MAX_XML_DEPTH, decodeXmlReferences, parseUntrustedXml } from './atna/safe-xml';
export type { SafeXmlOptions } from './atna/safe-xml';
export * from './atna/dicom-audit-message';
export * from './atna/dicom-audit.mapper';
export * from './atna/atna-frame';
export * from './fhir/fhir-context.mapper';
