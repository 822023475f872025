/**
 * Loads and renders the Handlebars templates of HTML reports (`templates/reports/` by default,
 * REPORT_TEMPLATES_DIR to replace them): report-begin.hbs (head, title, table header),
 * report-rows.hbs (one page of rows), report-end.hbs (summary and integrity), and report.css,
 * inlined in a <style> element whose hash is given for the Content-Security-Policy. Compiled once,
 * at start; a missing or broken template stops start-up naming the file. Values are escaped.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import type { ReportHeader, ReportIntegrityStatement, ReportSummary } from './report-format';
import type { ReportRow } from './report-row';

export const REPORT_TEMPLATE_FILES = ['report-begin.hbs', 'report-rows.hbs', 'report-end.hbs', 'report.css'] as const;

/** "2026-03-02 10:15:00 UTC" from an RFC 3339 timestamp (unparseable text is shown as is). */
export function formatReportTime(value: unknown): string {
  if (typeof value !== 'string') return '';
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return value;
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/** The templates folder shipped with the service: the nearest `templates/reports` above this file. */
export function defaultReportTemplatesDir(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'templates', 'reports');
    if (fs.existsSync(path.join(candidate, REPORT_TEMPLATE_FILES[0]))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`report templates not found above ${from}; set REPORT_TEMPLATES_DIR`);
    dir = parent;
  }
}

export class HtmlReportTemplates {
  private readonly beginTpl: Handlebars.TemplateDelegate;
  private readonly rowsTpl: Handlebars.TemplateDelegate;
  private readonly endTpl: Handlebars.TemplateDelegate;
  private readonly css: string;
  /** CSP source for the inline style: `'sha256-...'`. */
  readonly styleHash: string;

  constructor(readonly dir: string) {
    const hbs = Handlebars.create();
    hbs.registerHelper('when', (v: unknown) => formatReportTime(v));
    hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
    hbs.registerHelper('join', (v: unknown) => (Array.isArray(v) ? v.map(String).join(', ') : ''));
    const read = (file: string): string => {
      const p = path.join(dir, file);
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        throw new Error(`report template ${p} cannot be read (REPORT_TEMPLATES_DIR)`);
      }
    };
    const compile = (file: string): Handlebars.TemplateDelegate => {
      try {
        const tpl = hbs.compile(read(file), { strict: false, noEscape: false });
        tpl({}); // surface syntax errors now, naming the file
        return tpl;
      } catch (err) {
        throw new Error(`report template ${path.join(dir, file)} is invalid: ${(err as Error).message.split('\n')[0]}`);
      }
    };
    this.beginTpl = compile('report-begin.hbs');
    this.rowsTpl = compile('report-rows.hbs');
    this.endTpl = compile('report-end.hbs');
    this.css = read('report.css').trim();
    this.styleHash = `'sha256-${createHash('sha256').update(this.css, 'utf8').digest('base64')}'`;
  }

  begin(header: ReportHeader): string {
    return this.beginTpl({ header, css: this.css });
  }

  rows(rows: readonly ReportRow[], showPatient: boolean): string {
    return this.rowsTpl({ rows, showPatient });
  }

  end(header: ReportHeader, summary: ReportSummary, integrity: ReportIntegrityStatement): string {
    return this.endTpl({ header, summary, integrity });
  }
}
