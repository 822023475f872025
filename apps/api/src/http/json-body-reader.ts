/**
 * The JSON request-body reader (replaces express.json): reads `application/json` and
 * `application/*+json` bodies up to a byte limit (413), refuses other charsets and any
 * Content-Encoding (415), invalid UTF-8 (400), and hostile JSON found by the json-guard scan
 * (depth, string and key length, duplicate and prototype keys, overflowing numbers: 400) before
 * JSON.parse runs. Bodies of other media types are left unread for the route to refuse (415).
 * Every refusal is a ProblemError handed to the error middleware; none quotes the body, nor a key
 * the API does not define (a client's own key may be PHI): a pointer stops at the last known name.
 */
import { isUtf8 } from 'node:buffer';
import type { NextFunction, Request, Response } from 'express';
import { ACCESS_EVENT_SCHEMA, FieldError, ProblemError, Problems } from '@app/core';
import { FORBIDDEN_JSON_KEYS, inspectJson, JsonLimits, JsonViolation } from './json-guard';

export interface JsonBodyLimits extends JsonLimits {
  /** Largest body in bytes (413 beyond). */
  maxBytes: number;
}

export interface JsonBodyReaderOptions {
  /** Limits for this request (e.g. deeper nesting for FHIR resources). */
  limitsFor(req: Request): JsonBodyLimits;
  /** Whether a key is a name the API defines (may appear in a pointer); default: isKnownBodyName. */
  isKnownName?: (key: string) => boolean;
}

function schemaNames(node: unknown, into: Set<string>): Set<string> {
  if (node === null || typeof node !== 'object') return into;
  const { properties, items } = node as { properties?: Record<string, unknown>; items?: unknown };
  for (const [name, child] of Object.entries(properties ?? {})) {
    into.add(name);
    schemaNames(child, into);
  }
  schemaNames(items, into);
  return into;
}

/** Field names of the canonical event, batches and the other JSON bodies of /v1 (ours to repeat). */
const KNOWN_BODY_NAMES: ReadonlySet<string> = schemaNames(
  ACCESS_EVENT_SCHEMA,
  new Set(['events', 'note', 'token', 'reason', 'dryRun', 'now', 'caseId', 'patient', 'actor', 'from', 'to', ...FORBIDDEN_JSON_KEYS]),
);

export function isKnownBodyName(key: string): boolean {
  return KNOWN_BODY_NAMES.has(key);
}

/** `application/json`, or a structured-syntax `+json` type such as `application/fhir+json`. */
export function isJsonMediaType(mediaType: string): boolean {
  return mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'));
}

/** Media type (lower case, no parameters) and charset of a Content-Type header; null when absent. */
export function parseContentType(header: string | undefined): { mediaType: string; charset?: string } | null {
  if (!header) return null;
  const parts = header.split(';');
  const mediaType = parts[0]!.trim().toLowerCase();
  let charset: string | undefined;
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i]!.indexOf('=');
    if (eq < 0) continue;
    if (parts[i]!.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    charset = parts[i]!
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return { mediaType, charset };
}

function hasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

const VIOLATION_TEXT: Record<JsonViolation['kind'], { slug: string; title: string; message: string }> = {
  syntax: { slug: 'malformed-json', title: 'Malformed JSON', message: 'not valid JSON here' },
  unicode: { slug: 'malformed-json', title: 'Malformed JSON', message: 'string holds an unpaired UTF-16 surrogate escape (not Unicode text)' },
  'number-range': { slug: 'malformed-json', title: 'Malformed JSON', message: 'number is out of range' },
  depth: { slug: 'json-too-deep', title: 'JSON nested too deeply', message: 'nesting exceeds the allowed depth' },
  'string-length': { slug: 'json-string-too-long', title: 'JSON string too long', message: 'string exceeds the allowed length' },
  'key-length': { slug: 'json-string-too-long', title: 'JSON string too long', message: 'object key exceeds the allowed length' },
  'duplicate-key': { slug: 'json-duplicate-key', title: 'Duplicate JSON key', message: 'key appears more than once in this object' },
  'forbidden-key': { slug: 'json-forbidden-key', title: 'Forbidden JSON key', message: 'key is not allowed (__proto__, constructor and prototype are refused)' },
};

/** The 400 problem for a guard violation: where it is and what kind, never the value. */
export function violationProblem(v: JsonViolation, limits: JsonLimits, isKnownName: (key: string) => boolean = isKnownBodyName): ProblemError {
  const text = VIOLATION_TEXT[v.kind];
  // The pointer keeps indices and names the API defines, and stops at the first other key.
  let pointer = '';
  let hidden = false;
  for (const step of v.path) {
    if (typeof step === 'string' && !isKnownName(step)) {
      hidden = true;
      break;
    }
    pointer += '/' + (typeof step === 'number' ? String(step) : step.replace(/~/g, '~0').replace(/\//g, '~1'));
  }
  const message = hidden ? `${text.message} (within a member whose name is not repeated: not a field this API defines)` : text.message;
  const error: FieldError = { pointer, message };
  // Batches: name the event's index as validation errors do.
  if (v.path[0] === 'events' && typeof v.path[1] === 'number') error.index = v.path[1];
  const detail =
    v.kind === 'depth'
      ? `JSON nesting deeper than ${limits.maxDepth} levels is refused; nothing was stored.`
      : v.kind === 'string-length'
        ? `JSON strings longer than ${limits.maxStringLength} characters are refused; nothing was stored.`
        : v.kind === 'key-length'
          ? `JSON object keys longer than ${limits.maxKeyLength ?? 256} characters are refused; nothing was stored.`
          : 'The request body was refused; nothing was stored.';
  return new ProblemError(400, text.slug, text.title, { detail, errors: [error] });
}

export function jsonBodyReader(options: JsonBodyReaderOptions) {
  return (req: Request, res: Response, next: NextFunction): void => {
    // Already read by a route-specific parser mounted earlier (e.g. the FHIR one): nothing to do.
    if (req.body !== undefined || req.readableEnded || !hasBody(req)) return next();
    const type = parseContentType(req.headers['content-type']);
    if (!type || !isJsonMediaType(type.mediaType)) return next(); // not JSON: the route decides (415)
    if (type.charset !== undefined && type.charset !== 'utf-8' && type.charset !== 'utf8') {
      return next(Problems.unsupportedMediaType('Send JSON bodies as UTF-8 (charset=utf-8 or no charset).'));
    }
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      return next(Problems.unsupportedMediaType('Content-Encoding is not supported; send the body uncompressed.'));
    }
    const limits = options.limitsFor(req);
    const tooLarge = () => Problems.tooLarge(`The request body is larger than ${limits.maxBytes} bytes; split the batch.`);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limits.maxBytes) return next(tooLarge());

    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err?: ProblemError) => {
      if (settled) return;
      settled = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('error', onError);
      req.removeListener('close', onClose);
      if (err) return next(err);
      next();
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBytes) {
        // A streamed (chunked) body that keeps coming: answer now and do not keep the connection.
        res.setHeader('Connection', 'close');
        chunks.length = 0;
        finish(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      chunks.length = 0;
      if (!isUtf8(buf)) {
        return finish(new ProblemError(400, 'malformed-json', 'Malformed JSON', { detail: 'The request body is not valid UTF-8; nothing was stored.' }));
      }
      const text = buf.toString('utf8');
      const violation = inspectJson(text, limits);
      // A syntax finding is refused too (not retried with JSON.parse): whatever the scan could not
      // follow, it has not checked either.
      if (violation) return finish(violationProblem(violation, limits, options.isKnownName));
      try {
        req.body = JSON.parse(text);
      } catch {
        return finish(new ProblemError(400, 'malformed-json', 'Malformed JSON', { detail: 'The request body is not valid JSON; nothing was stored.' }));
      }
      finish();
    };
    const onError = () => finish(Problems.badRequest('The request body could not be read.'));
    const onClose = () => {
      if (!req.complete) finish(Problems.badRequest('The request was aborted.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  };
}
