/**
 * Reads an NDJSON (`application/x-ndjson`) request body for the context feeds: up to a byte limit
 * (413 beyond, nothing kept), UTF-8 only, no Content-Encoding; each non-blank line is one record,
 * checked by the same hostile-JSON scan as JSON bodies (depth, string length, duplicate and
 * prototype keys) and parsed on its own, so a bad line is that record's error (by its 0-based line
 * number) and never the whole request's. No error repeats a line's content.
 */
import { isUtf8 } from 'node:buffer';
import type { Request } from 'express';
import { ProblemError, Problems } from '@app/core';
import type { PostedRecord } from '@app/context';
import { inspectJson, JsonLimits } from './json-guard';

export const NDJSON_MEDIA_TYPE = 'application/x-ndjson';

/** The whole raw body, or a 413 problem as soon as it grows past `maxBytes`. */
export function readRawBody(req: Request, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => Problems.tooLarge(`The request body is larger than ${maxBytes} bytes; nothing was stored. Split the file (auditctl context load does).`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      received += chunk.length;
      if (received > maxBytes) {
        done = true;
        chunks.length = 0;
        req.res?.setHeader('Connection', 'close');
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, received));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      reject(Problems.badRequest('The request body could not be read.'));
    });
  });
}

/** Splits and parses NDJSON; unreadable lines become per-record errors. */
export function parseNdjson(body: Buffer, limits: JsonLimits, maxRecords: number): PostedRecord[] {
  if (!isUtf8(body)) throw new ProblemError(400, 'malformed-json', 'Malformed NDJSON', { detail: 'The request body is not valid UTF-8; nothing was stored.' });
  const lines = body.toString('utf8').split('\n');
  const out: PostedRecord[] = [];
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    if (out.length >= maxRecords) {
      throw Problems.tooLarge(`More than ${maxRecords} records in one request (CONTEXT_MAX_RECORDS); nothing was stored. Split the file.`);
    }
    const violation = inspectJson(line, limits);
    if (violation) {
      out.push({ index, unreadable: { pointer: '', message: violation.kind === 'syntax' ? 'line is not valid JSON' : `line is refused by the JSON checks (${violation.kind})` } });
      return;
    }
    try {
      out.push({ index, value: JSON.parse(line) as unknown });
    } catch {
      out.push({ index, unreadable: { pointer: '', message: 'line is not valid JSON' } });
    }
  });
  return out;
}
