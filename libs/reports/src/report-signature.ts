/**
 * Signed reports. A report's body is every byte streamed before its signature block; the block
 * carries the body's SHA-256 and an Ed25519 signature, made like a checkpoint's: over the RFC 8785
 * canonical JSON of `{ reportSha256, generatedAt, query, keyId }`. The block ends the file in a
 * form each format keeps intact:
 *
 *   JSON  the last member of the document:   ...,"signature":{block}}\n
 *   CSV   the last line, a comment:          # report-signature: {block}\n
 *   HTML  the page footer (visible when printed, plus the block as JSON data):
 *         <footer id="report-signature">...<script type="application/json" ...>{block}</script></footer></body></html>
 *
 * Verification finds the block at the end, rebuilds the exact trailer from it (so any change to
 * the trailer fails too), hashes the body before it and checks the signature with the public key
 * named by `keyId`. Changing any single byte of a saved report therefore fails. Pure.
 */
import { KeyObject, createHash, createPublicKey, sign, verify } from 'node:crypto';
import { PublicKeysById, canonicalize } from '@app/ledger';
import { REPORT_FORMATS, REPORT_KINDS, ReportFormat, ReportQuery } from './report-request';

export interface ReportSignatureBlock {
  alg: 'Ed25519';
  /** SHA-256 (hex) of the body: every byte of the file before the trailer. */
  reportSha256: string;
  /** Length of that body in bytes (not signed: `head -c bodyBytes` gives the body back). */
  bodyBytes: number;
  generatedAt: string;
  query: ReportQuery;
  keyId: string;
  /** Ed25519 over reportSigningPayload, standard base64. */
  signature: string;
}

export type ReportSignedFields = Pick<ReportSignatureBlock, 'reportSha256' | 'generatedAt' | 'query' | 'keyId'>;

/** The signed bytes: RFC 8785 canonical JSON of { reportSha256, generatedAt, query, keyId }. */
export function reportSigningPayload(f: ReportSignedFields): string {
  return canonicalize({ reportSha256: f.reportSha256, generatedAt: f.generatedAt, query: f.query, keyId: f.keyId });
}

export function signReport(
  fields: Omit<ReportSignatureBlock, 'alg' | 'keyId' | 'signature'>,
  key: { keyId: string; privateKey: KeyObject },
): ReportSignatureBlock {
  if (key.privateKey.type !== 'private' || key.privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('reports are signed with an Ed25519 private key');
  const unsigned = { ...fields, keyId: key.keyId };
  const signature = sign(null, Buffer.from(reportSigningPayload(unsigned), 'utf8'), key.privateKey).toString('base64');
  return { alg: 'Ed25519', reportSha256: fields.reportSha256, bodyBytes: fields.bodyBytes, generatedAt: fields.generatedAt, query: fields.query, keyId: key.keyId, signature };
}

/** The block as JSON with a fixed key order (what every trailer embeds). */
export function signatureBlockJson(b: ReportSignatureBlock): string {
  const q = b.query;
  const query: Record<string, string> = { kind: q.kind, format: q.format };
  for (const k of ['patient', 'actor', 'from', 'to'] as const) if (q[k] !== undefined) query[k] = q[k]!;
  return JSON.stringify({ alg: b.alg, reportSha256: b.reportSha256, bodyBytes: b.bodyBytes, generatedAt: b.generatedAt, query, keyId: b.keyId, signature: b.signature });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const HTML_TRAILER_MARKER = '<footer id="report-signature">';
export const CSV_TRAILER_MARKER = '\n# report-signature: ';
export const JSON_TRAILER_MARKER = ',"signature":';
/** What locates the JSON trailer: the member name with the start of the block (unique to it). */
const JSON_TRAILER_LOCATOR = ',"signature":{"alg":"Ed25519"';
const HTML_DATA_OPEN = '<script type="application/json" id="report-signature-data">';
const HTML_DATA_CLOSE = '</script>';

/** The exact bytes that end a report of this format. */
/**
 * JSON for a CSV comment line (`# report: {...}`): inside its strings `,` and `;` are written as
 * \u002c and \u003b, so no spreadsheet splits a client's value (an actor filter such as
 * `dr-evil,=HYPERLINK(…)`) into a cell of its own; JSON parsers read the same values back.
 */
export function csvCommentJson(value: unknown): string {
  return JSON.stringify(value).replace(/"(?:[^"\\]|\\.)*"/g, (str) => str.replace(/,/g, '\\u002c').replace(/;/g, '\\u003b'));
}

export function reportTrailer(format: ReportFormat, b: ReportSignatureBlock): string {
  const json = signatureBlockJson(b);
  if (format === 'json') return `${JSON_TRAILER_MARKER}${json}}\n`;
  if (format === 'csv') return `${CSV_TRAILER_MARKER.slice(1)}${csvCommentJson(JSON.parse(json))}\n`;
  const e = escapeHtml;
  return (
    `${HTML_TRAILER_MARKER}\n<h2>Signature</h2>\n` +
    `<p>This report is signed so that a saved or printed copy can be checked later.</p>\n<dl class="signature">\n` +
    `<dt>SHA-256 of the report above this section (${b.bodyBytes} bytes)</dt><dd><code>${e(b.reportSha256)}</code></dd>\n` +
    `<dt>Generated</dt><dd>${e(b.generatedAt)}</dd>\n` +
    `<dt>Signing key (Ed25519)</dt><dd><code>${e(b.keyId)}</code></dd>\n` +
    `<dt>Signature</dt><dd><code>${e(b.signature)}</code></dd>\n</dl>\n` +
    `<p>To check a saved copy: <code>npx auditctl report verify &lt;file&gt;</code> (or OpenSSL, as the service README describes).</p>\n` +
    // `<` escaped so no value can close the script element; JSON parsers read \u003c back as `<`.
    `${HTML_DATA_OPEN}${json.replace(/</g, '\\u003c')}${HTML_DATA_CLOSE}\n</footer>\n</body>\n</html>\n`
  );
}

/** The format of a saved report, from its first bytes. */
export function detectReportFormat(head: Buffer): ReportFormat | null {
  const start = head.subarray(0, 64).toString('utf8');
  if (start.startsWith('{"report":')) return 'json';
  if (/^<!DOCTYPE html>/i.test(start)) return 'html';
  if (start.startsWith('occurredAt,')) return 'csv';
  return null;
}

/** Offset in `tail` where the trailer of a report of this format starts, or -1. */
export function locateTrailer(format: ReportFormat, tail: Buffer): number {
  if (format === 'json') return tail.lastIndexOf(JSON_TRAILER_LOCATOR);
  if (format === 'html') return tail.lastIndexOf(HTML_TRAILER_MARKER);
  const i = tail.lastIndexOf(CSV_TRAILER_MARKER);
  return i < 0 ? -1 : i + 1;
}

/** The signature block inside a trailer, or null when it cannot be read. */
export function parseTrailerBlock(format: ReportFormat, trailer: string): ReportSignatureBlock | null {
  let json: string | null = null;
  if (format === 'json' && trailer.startsWith(JSON_TRAILER_MARKER) && trailer.endsWith('}\n')) json = trailer.slice(JSON_TRAILER_MARKER.length, -2);
  if (format === 'csv' && trailer.startsWith(CSV_TRAILER_MARKER.slice(1)) && trailer.endsWith('\n')) json = trailer.slice(CSV_TRAILER_MARKER.length - 1, -1);
  if (format === 'html') {
    const open = trailer.lastIndexOf(HTML_DATA_OPEN);
    const close = trailer.indexOf(HTML_DATA_CLOSE, open + 1);
    if (open >= 0 && close > open) json = trailer.slice(open + HTML_DATA_OPEN.length, close);
  }
  if (json === null) return null;
  try {
    const b = JSON.parse(json) as ReportSignatureBlock;
    return blockShapeError(b) === null ? b : null;
  } catch {
    return null;
  }
}

function blockShapeError(b: unknown): string | null {
  if (b === null || typeof b !== 'object' || Array.isArray(b)) return 'not an object';
  const o = b as Record<string, unknown>;
  if (o.alg !== 'Ed25519') return 'alg';
  if (typeof o.reportSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.reportSha256)) return 'reportSha256';
  if (typeof o.bodyBytes !== 'number' || !Number.isSafeInteger(o.bodyBytes) || o.bodyBytes < 0) return 'bodyBytes';
  if (typeof o.generatedAt !== 'string' || typeof o.keyId !== 'string' || typeof o.signature !== 'string') return 'fields';
  const q = o.query as Record<string, unknown> | null;
  if (q === null || typeof q !== 'object') return 'query';
  if (!(REPORT_KINDS as readonly unknown[]).includes(q.kind) || !(REPORT_FORMATS as readonly unknown[]).includes(q.format)) return 'query';
  for (const [k, v] of Object.entries(q)) if (!['kind', 'format', 'patient', 'actor', 'from', 'to'].includes(k) || typeof v !== 'string') return 'query';
  return null;
}

function lookupKey(keys: PublicKeysById, keyId: string): string | KeyObject | undefined {
  if (keys instanceof Map) return keys.get(keyId);
  const record = keys as Readonly<Record<string, string | KeyObject>>;
  return Object.prototype.hasOwnProperty.call(record, keyId) ? record[keyId] : undefined;
}

/** True when the block's signature verifies under this Ed25519 public key. */
export function verifyReportBlockSignature(b: ReportSignatureBlock, publicKey: string | KeyObject): boolean {
  try {
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
    if (key.asymmetricKeyType !== 'ed25519') return false;
    const sig = Buffer.from(b.signature, 'base64');
    if (sig.length !== 64 || sig.toString('base64') !== b.signature) return false;
    return verify(null, Buffer.from(reportSigningPayload(b), 'utf8'), key, sig);
  } catch {
    return false;
  }
}

export interface ReportVerdict {
  ok: boolean;
  /** Why it failed (null when ok). */
  reason: string | null;
  format?: ReportFormat;
  block?: ReportSignatureBlock;
  /** SHA-256 of the body as found in the file. */
  computedSha256?: string;
}

/**
 * Checks the trailer found at `trailerStart` of a file whose body hash is `bodySha256`: the
 * trailer is exactly what the block produces, the hash and length match, and the signature
 * verifies under the key named by keyId.
 */
export function checkReportTrailer(
  format: ReportFormat,
  trailer: Buffer,
  bodyBytes: number,
  bodySha256: string,
  keys: PublicKeysById,
): ReportVerdict {
  const fail = (reason: string, extra: Partial<ReportVerdict> = {}): ReportVerdict => ({ ok: false, reason, format, ...extra });
  const block = parseTrailerBlock(format, trailer.toString('utf8'));
  if (!block) return fail('the signature block cannot be read');
  if (!trailer.equals(Buffer.from(reportTrailer(format, block), 'utf8'))) return fail('the signature block was altered', { block });
  if (block.query.format !== format) return fail(`the signature block is for a ${block.query.format} report`, { block });
  if (block.bodyBytes !== bodyBytes) return fail(`the report body is ${bodyBytes} bytes, the signature block says ${block.bodyBytes}`, { block, computedSha256: bodySha256 });
  if (block.reportSha256 !== bodySha256) return fail('the report body does not match its SHA-256 (the report was changed)', { block, computedSha256: bodySha256 });
  const key = lookupKey(keys, block.keyId);
  if (key === undefined) return fail(`no public key with id ${block.keyId}`, { block, computedSha256: bodySha256 });
  if (!verifyReportBlockSignature(block, key)) return fail(`the signature does not verify under key ${block.keyId}`, { block, computedSha256: bodySha256 });
  return { ok: true, reason: null, format, block, computedSha256: bodySha256 };
}

/** Verifies a whole saved report held in memory. */
export function verifySignedReport(bytes: Buffer, keys: PublicKeysById): ReportVerdict {
  const format = detectReportFormat(bytes);
  if (!format) return { ok: false, reason: 'not a report this service produces (unknown format)' };
  const start = locateTrailer(format, bytes);
  if (start < 0) return { ok: false, reason: 'no signature block at the end of the report', format };
  const body = bytes.subarray(0, start);
  return checkReportTrailer(format, bytes.subarray(start), body.length, createHash('sha256').update(body).digest('hex'), keys);
}
