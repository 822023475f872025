/**
 * Verifies a saved report file without loading it: reads its first bytes (format) and its tail
 * (the signature block), then hashes the body before the block as a stream. Also reads the public
 * keys a verifier trusts: a data dir's signing keyring, or a PEM / JSON key file (e.g. the answer of
 * `GET /v1/integrity/checkpoints` or `GET /v1/reports/keys`). Used by `auditctl report verify`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { keyIdFor } from '@app/ledger';
import { ReportVerdict, checkReportTrailer, detectReportFormat, locateTrailer } from './report-signature';

/** The trailer is small (a few hundred bytes plus the query); this much tail always holds it. */
const TAIL_BYTES = 256 * 1024;

export async function verifyReportFile(file: string, keys: ReadonlyMap<string, string>): Promise<ReportVerdict> {
  const fd = await fs.promises.open(file, 'r');
  let size: number;
  let head: Buffer;
  let tail: Buffer;
  try {
    size = (await fd.stat()).size;
    head = Buffer.alloc(Math.min(size, 64));
    await fd.read(head, 0, head.length, 0);
    const tailLength = Math.min(size, TAIL_BYTES);
    tail = Buffer.alloc(tailLength);
    await fd.read(tail, 0, tailLength, size - tailLength);
  } finally {
    await fd.close();
  }
  const format = detectReportFormat(head);
  if (!format) return { ok: false, reason: 'not a report this service produces (unknown format)' };
  const at = locateTrailer(format, tail);
  if (at < 0) return { ok: false, reason: 'no signature block at the end of the report', format };
  const bodyBytes = size - tail.length + at;
  const hash = createHash('sha256');
  if (bodyBytes > 0) {
    for await (const chunk of fs.createReadStream(file, { start: 0, end: bodyBytes - 1, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  }
  return checkReportTrailer(format, tail.subarray(at), bodyBytes, hash.digest('hex'), keys);
}

/** Public keys by key id from a data dir's signing keyring (`DATA_DIR/keys/signing/keyring.json`). */
export function keysFromDataDir(dataDir: string): Map<string, string> {
  const ring = path.join(dataDir, 'keys', 'signing', 'keyring.json');
  if (!fs.existsSync(ring)) return new Map();
  const parsed = JSON.parse(fs.readFileSync(ring, 'utf8')) as { keys?: { keyId: string; publicKeyPem: string }[] };
  return new Map((parsed.keys ?? []).map((k) => [k.keyId, k.publicKeyPem]));
}

/**
 * Public keys from a file: a PEM public key (its key id is computed), or JSON holding
 * `{ keyId, publicKeyPem }` entries (a list, or under `keys` / `publicKeys`).
 */
export function keysFromFile(file: string): Map<string, string> {
  const text = fs.readFileSync(file, 'utf8');
  if (!/^\s*[[{]/.test(text)) return new Map([[keyIdFor(text), text]]);
  const json = JSON.parse(text) as unknown;
  const obj = json as { keys?: unknown; publicKeys?: unknown };
  const list = Array.isArray(json) ? json : Array.isArray(obj.keys) ? obj.keys : Array.isArray(obj.publicKeys) ? obj.publicKeys : [];
  const out = new Map<string, string>();
  for (const k of list as { keyId?: unknown; publicKeyPem?: unknown }[]) {
    if (typeof k?.keyId === 'string' && typeof k.publicKeyPem === 'string') out.set(k.keyId, k.publicKeyPem);
  }
  return out;
}
