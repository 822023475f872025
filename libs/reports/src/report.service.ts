/**
 * Compliance report use case: validates the request, records it in the access-audit trail (before
 * anything is read: a report that cannot be recorded is not produced), then streams the report:
 * header, rows page by page as the store yields them, summary and integrity statement, and last
 * the signature block over the SHA-256 of every byte written before it. Memory stays bounded by
 * one page whatever the number of rows; writing waits for the sink (backpressure).
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AccessAuditSink, AccessContext, explainAccess } from '@app/core';
import type { EventStore } from '@app/storage';
import { HtmlReportTemplates } from './html-report-templates';
import { ReportFormatter, ReportHeader, ReportIntegrityStatement, ReportSummary, createReportFormatter } from './report-format';
import { ChainSpan, ReportIntegritySource } from './report-integrity-source.port';
import { REPORT_KIND_INFO, ReportFormat, ReportKind, ReportQuery, parseReportQuery, reportStreamQuery } from './report-request';
import { REPORT_COLUMNS, toReportRow } from './report-row';
import { ReportSignatureBlock, signReport } from './report-signature';

export const REPORT_GENERATOR = 'hipaa-audit-siem report v1';

/** Who asks for the report. */
export interface ReportRequester {
  sub: string;
  role: string;
  via?: string;
}

/** What the HTTP layer needs before the first byte. */
export interface ReportResponseMeta {
  query: ReportQuery;
  contentType: string;
  /** Suggested file name (no identifiers in it). */
  fileName: string;
  keyId: string;
  generatedAt: string;
  /** CSP source for the inline style of HTML reports. */
  styleHash?: string;
}

/** Where a report is written (an HTTP response, a file). */
export interface ReportSink {
  start(meta: ReportResponseMeta): void;
  /** Writes bytes; resolves when more may be written. Rejects when the reader went away. */
  write(chunk: Buffer): Promise<void>;
  /** After the last byte: the signature block (e.g. for HTTP trailers). */
  finish(block: ReportSignatureBlock): Promise<void> | void;
}

export interface ReportResult {
  query: ReportQuery;
  rows: number;
  bytes: number;
  reportSha256: string;
  keyId: string;
}

/**
 * The explanation stage of reports: the context each access is judged with (as of its time) and the
 * alerts that cite events of the report. Absent: rows say "not evaluated (no context)".
 */
export interface ReportJustifications {
  context: AccessContext;
  /** Event id -> ids of the alerts whose evidence cites it, for the events this query can return. */
  alertLinks(query: ReportQuery): Promise<ReadonlyMap<string, readonly string[]>>;
}

export interface ReportServiceOptions {
  pageSize: number;
  now?: () => Date;
  justifications?: ReportJustifications;
  /**
   * Called before anything is written: throws while the store's integrity is known to be broken
   * (a tampered index column hides records from a report; the service passes refuseWhileBroken).
   */
  integrityGate?: () => void;
}

export class ReportService {
  private readonly now: () => Date;

  constructor(
    private readonly store: EventStore,
    private readonly integrity: ReportIntegritySource,
    private readonly signingKey: () => { keyId: string; privateKey: KeyObject },
    private readonly templates: HtmlReportTemplates,
    private readonly audit: AccessAuditSink,
    private readonly options: ReportServiceOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /** Validates the parameters (throws a 400 problem before anything is written). */
  parse(kind: ReportKind, params: Record<string, unknown>): ReportQuery {
    return parseReportQuery(kind, params);
  }

  async generate(query: ReportQuery, by: ReportRequester, sink: ReportSink): Promise<ReportResult> {
    this.options.integrityGate?.();
    const generatedAt = this.now().toISOString();
    const key = this.signingKey();
    await this.audit.record({
      action: 'report.generate',
      actor: { sub: by.sub, role: by.role, via: by.via },
      at: generatedAt,
      outcome: 'success',
      target: { kind: query.kind, format: query.format, patient: query.patient ?? null, actorId: query.actor ?? null, from: query.from ?? null, to: query.to ?? null },
    });

    const formatter: ReportFormatter = createReportFormatter(query.format, this.templates);
    const info = REPORT_KIND_INFO[query.kind];
    const header: ReportHeader = {
      kind: query.kind,
      title: info.title,
      intro: info.intro,
      query,
      generatedAt,
      preparedBy: { sub: by.sub, role: by.role },
      generator: REPORT_GENERATOR,
      showPatient: info.showPatient,
      columns: REPORT_COLUMNS,
    };
    sink.start({
      query,
      contentType: formatter.contentType,
      fileName: reportFileName(query.kind, query.format, generatedAt),
      keyId: key.keyId,
      generatedAt,
      styleHash: query.format === 'html' ? this.templates.styleHash : undefined,
    });

    const hash = createHash('sha256');
    let bytes = 0;
    const emit = async (text: string) => {
      if (text.length === 0) return;
      const chunk = Buffer.from(text, 'utf8');
      hash.update(chunk);
      bytes += chunk.length;
      await sink.write(chunk);
    };

    await emit(formatter.begin(header));
    const spans = new Map<string, ChainSpan>();
    const summary: ReportSummary = { rows: 0, firstOccurredAt: null, lastOccurredAt: null, chains: [] };
    const justify = this.options.justifications;
    const links = justify ? await justify.alertLinks(query) : new Map<string, readonly string[]>();
    for await (const page of this.store.stream(reportStreamQuery(query, this.options.pageSize))) {
      const rows = page.map((r) =>
        toReportRow(r, justify ? { explanation: explainAccess(r.event, justify.context), alertIds: links.get(r.event.id) ?? [] } : {}),
      );
      for (const r of rows) {
        const span = spans.get(r.chain);
        if (!span) spans.set(r.chain, { chain: r.chain, fromSeq: r.seq, toSeq: r.seq, records: 1 });
        else {
          span.fromSeq = Math.min(span.fromSeq, r.seq);
          span.toSeq = Math.max(span.toSeq, r.seq);
          span.records++;
        }
      }
      if (rows.length > 0) {
        summary.rows += rows.length;
        summary.firstOccurredAt ??= rows[0].occurredAt;
        summary.lastOccurredAt = rows[rows.length - 1].occurredAt;
      }
      await emit(formatter.rows(rows));
      // The store reads synchronously: give the event loop a turn between pages so one long
      // report does not hold up ingestion acks and other requests (and the socket gets flushed).
      await yieldToEventLoop();
    }
    summary.chains = [...spans.values()].sort((a, b) => (a.chain < b.chain ? -1 : a.chain > b.chain ? 1 : 0));
    const integrity: ReportIntegrityStatement = {
      checkpoints: await this.integrity.checkpointsFor(summary.chains),
      body: { hash: 'SHA-256', signatureAlgorithm: 'Ed25519', keyId: key.keyId, covers: 'every byte of the report before the signature block' },
    };
    await emit(formatter.end(header, summary, integrity));

    const reportSha256 = hash.digest('hex');
    const block = signReport({ reportSha256, bodyBytes: bytes, generatedAt, query }, key);
    await sink.write(Buffer.from(formatter.trailer(block), 'utf8'));
    await sink.finish(block);
    return { query, rows: summary.rows, bytes, reportSha256, keyId: key.keyId };
  }
}

/** `patient-access-20260302T101500Z.csv`: kind and time only (no identifiers in file names). */
export function reportFileName(kind: ReportKind, format: ReportFormat, generatedAt: string): string {
  return `${kind}-${generatedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.${format}`;
}
