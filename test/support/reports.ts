/**
 * Test helpers for compliance reports: a raw HTTP GET that keeps the exact bytes, the trailers and
 * the time of the first and last byte; an RFC 4180 CSV reader that stops at the trailing comment
 * lines; and a reader of the HTML report table (the data-field elements of each row).
 */
import * as http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  trailers: NodeJS.Dict<string>;
  body: Buffer;
  /** ms from the request to the first body byte, and to the end. */
  firstByteMs: number;
  endMs: number;
  /** Body bytes received when the first chunk arrived. */
  firstChunkBytes: number;
}

/** GET over plain HTTP (test apps run with INSECURE_HTTP). `onChunk` sees every chunk; `keepBody: false` discards them. */
export function rawGet(baseUrl: string, path: string, token: string, options: { keepBody?: boolean; onChunk?: (c: Buffer) => void } = {}): Promise<RawResponse> {
  const keep = options.keepBody ?? true;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, baseUrl), { headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      let firstByteMs = -1;
      let firstChunkBytes = 0;
      res.on('data', (c: Buffer) => {
        if (firstByteMs < 0) {
          firstByteMs = performance.now() - started;
          firstChunkBytes = c.length;
        }
        options.onChunk?.(c);
        if (keep) chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          trailers: res.trailers,
          body: Buffer.concat(chunks),
          firstByteMs,
          endMs: performance.now() - started,
          firstChunkBytes,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** Rows of an RFC 4180 CSV, up to the first line that starts with `#` (the report's closing comments). */
export function parseCsv(text: string): { rows: string[][]; comments: string[] } {
  const rows: string[][] = [];
  let i = 0;
  while (i < text.length && text[i] !== '#') {
    const row: string[] = [];
    for (;;) {
      let cell = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (text[i] === '"' && text[i + 1] === '"') (cell += '"'), (i += 2);
          else if (text[i] === '"') {
            i++;
            break;
          } else cell += text[i++];
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n') cell += text[i++];
      }
      row.push(cell);
      if (text[i] === ',') {
        i++;
        continue;
      }
      i++; // newline
      break;
    }
    rows.push(row);
  }
  const comments = text.slice(i).split('\n').filter((l) => l.startsWith('#'));
  return { rows, comments };
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#x27;': "'", '&#39;': "'", '&#x3D;': '=', '&#x60;': '`' };

export function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#x27|#39|#x3D|#x60);/g, (m) => ENTITIES[m] ?? m);
}

export interface HtmlReportRow {
  eventId: string;
  chain: string;
  seq: number;
  fields: Record<string, string>;
  cells: number;
}

/** The rows of the report table: each <tr data-event-id> with its data-field values (unescaped). */
export function parseHtmlRows(html: string): HtmlReportRow[] {
  const out: HtmlReportRow[] = [];
  const rowRe = /<tr data-event-id="([^"]*)" data-chain="([^"]*)" data-seq="(\d+)"[^>]*>([\s\S]*?)<\/tr>/g;
  for (const m of html.matchAll(rowRe)) {
    const fields: Record<string, string> = {};
    for (const f of m[4].matchAll(/<(?:span|time) data-field="([^"]+)"(?: datetime="[^"]*")?>([^<]*)<\/(?:span|time)>/g)) fields[f[1]] = unescapeHtml(f[2]);
    const time = /<time data-field="occurredAt" datetime="([^"]*)"/.exec(m[4]);
    if (time) fields.occurredAt = unescapeHtml(time[1]);
    out.push({ eventId: unescapeHtml(m[1]), chain: m[2], seq: Number(m[3]), fields, cells: (m[4].match(/<td/g) ?? []).length });
  }
  return out;
}
