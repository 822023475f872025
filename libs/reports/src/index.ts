/**
 * Compliance reports (patient access, user activity, break-glass, failed access) in JSON, CSV and
 * HTML, streamed from the event store, with an integrity statement and a signature block that lets
 * a saved report be checked later (`auditctl report verify`).
 */
export * from './report-request';
export * from './report-row';
export * from './report-signature';
export * from './report-integrity';
export * from './report-integrity-source.port';
export * from './report-format';
export * from './html-report-templates';
export * from './report.service';
export * from './report-file-verifier';
