/**
 * The three report formats as streaming writers: each turns the header, pages of rows, the closing
 * summary with the integrity statement, and the signature block into text, one piece at a time, so
 * a report is written while it is read from the store. JSON and CSV are built here; HTML comes from
 * the Handlebars templates (html-report-templates.ts). One formatter instance per report.
 */
import type { CheckpointStatement, ChainSpan } from './report-integrity-source.port';
import { ReportFormat, ReportKind, ReportQuery } from './report-request';
import { REPORT_COLUMNS, ReportRow } from './report-row';
import { csvCommentJson, ReportSignatureBlock, reportTrailer } from './report-signature';
import type { HtmlReportTemplates } from './html-report-templates';

export interface ReportHeader {
  kind: ReportKind;
  title: string;
  intro: string;
  query: ReportQuery;
  generatedAt: string;
  /** Who asked for the report (principal subject and role). */
  preparedBy: { sub: string; role: string };
  generator: string;
  showPatient: boolean;
  columns: readonly string[];
}

export interface ReportSummary {
  rows: number;
  firstOccurredAt: string | null;
  lastOccurredAt: string | null;
  /** Where the rows sit in the log, per chain. */
  chains: ChainSpan[];
}

export interface ReportIntegrityStatement {
  checkpoints: CheckpointStatement;
  /** How the body is protected: the signature block at the end covers every byte before it. */
  body: { hash: 'SHA-256'; signatureAlgorithm: 'Ed25519'; keyId: string; covers: string };
}

export interface ReportFormatter {
  readonly format: ReportFormat;
  readonly contentType: string;
  readonly extension: string;
  begin(header: ReportHeader): string;
  rows(rows: readonly ReportRow[]): string;
  end(header: ReportHeader, summary: ReportSummary, integrity: ReportIntegrityStatement): string;
  trailer(block: ReportSignatureBlock): string;
}

function orderedRow(r: ReportRow): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const c of REPORT_COLUMNS) o[c] = r[c];
  return o;
}

export class JsonReportFormatter implements ReportFormatter {
  readonly format = 'json' as const;
  readonly contentType = 'application/json; charset=utf-8';
  readonly extension = 'json';
  private first = true;

  begin(header: ReportHeader): string {
    return `{"report":${JSON.stringify(header)},"rows":[`;
  }

  rows(rows: readonly ReportRow[]): string {
    let out = '';
    for (const r of rows) {
      out += (this.first ? '\n' : ',\n') + JSON.stringify(orderedRow(r));
      this.first = false;
    }
    return out;
  }

  end(_h: ReportHeader, summary: ReportSummary, integrity: ReportIntegrityStatement): string {
    return `\n],"summary":${JSON.stringify(summary)},"integrity":${JSON.stringify(integrity)}`;
  }

  trailer(block: ReportSignatureBlock): string {
    return reportTrailer('json', block);
  }
}

/**
 * A CSV cell (RFC 4180 quoting, also around `;` for spreadsheets in locales that split on it). Text
 * whose first visible character is = + - @ (after any spaces or control characters), or that starts
 * with a tab or carriage return, gets a leading apostrophe so a spreadsheet never evaluates it as a
 * formula (OWASP CSV injection); NUL and other control characters (but tab and line breaks) become U+FFFD.
 */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return csvCell(v.join(' '));
  let s = typeof v === 'string' ? v : String(v);
  if (typeof v === 'string') {
    s = s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd');
    if (/^[\s\ufffd]*[=+\-@\uff1d\uff0b\uff0d\uff20]/.test(s) || /^[\t\r]/.test(s)) s = `'${s}`;
    // A spreadsheet splitting on `;` (or `,`) ignores quotes that do not open a cell: after such a
    // separator inside a value, a formula character gets the same apostrophe.
    s = s.replace(/([,;])([\s\ufffd]*)(?=[=+\-@\uff1d\uff0b\uff0d\uff20])/g, "$1$2'");
  }
  return /[",;\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class CsvReportFormatter implements ReportFormatter {
  readonly format = 'csv' as const;
  readonly contentType = 'text/csv; charset=utf-8; header=present';
  readonly extension = 'csv';

  begin(): string {
    return REPORT_COLUMNS.join(',') + '\n';
  }

  rows(rows: readonly ReportRow[]): string {
    let out = '';
    for (const r of rows) out += REPORT_COLUMNS.map((c) => csvCell(r[c])).join(',') + '\n';
    return out;
  }

  /** What a CSV cannot hold in columns closes it as comment lines (JSON after the colon). */
  end(header: ReportHeader, summary: ReportSummary, integrity: ReportIntegrityStatement): string {
    return `# report: ${csvCommentJson(header)}\n# summary: ${csvCommentJson(summary)}\n# integrity: ${csvCommentJson(integrity)}\n`;
  }

  trailer(block: ReportSignatureBlock): string {
    return reportTrailer('csv', block);
  }
}

export class HtmlReportFormatter implements ReportFormatter {
  readonly format = 'html' as const;
  readonly contentType = 'text/html; charset=utf-8';
  readonly extension = 'html';

  private showPatient = true;

  constructor(private readonly templates: HtmlReportTemplates) {}

  begin(header: ReportHeader): string {
    this.showPatient = header.showPatient;
    return this.templates.begin(header);
  }

  rows(rows: readonly ReportRow[]): string {
    return this.templates.rows(rows, this.showPatient);
  }

  end(header: ReportHeader, summary: ReportSummary, integrity: ReportIntegrityStatement): string {
    return this.templates.end(header, summary, integrity);
  }

  trailer(block: ReportSignatureBlock): string {
    return reportTrailer('html', block);
  }
}

export function createReportFormatter(format: ReportFormat, templates: HtmlReportTemplates): ReportFormatter {
  if (format === 'json') return new JsonReportFormatter();
  if (format === 'csv') return new CsvReportFormatter();
  return new HtmlReportFormatter(templates);
}
