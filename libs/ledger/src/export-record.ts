/**
 * The export format an auditor checks offline (README "Export format"): one NDJSON line per
 * stored record, and the manifest that says where verification starts and ends. Encoding and
 * decoding only; reading and writing files is the pipeline's job.
 *
 * A record line has the keys in this order, `event` being the stored canonical JSON text of the
 * event as a JSON string (exactly the bytes the hash covers):
 *   {"chain":"…","seq":N,"receivedAt":"…","event":"{…}","prevHash":"hex","hash":"hex"}
 * so that hash = SHA-256(prevHash || canonical({chain, event, receivedAt, seq})) with the event
 * spliced in verbatim (see canonicalRecord).
 *
 * Pure: no I/O.
 */
import { ChainRow } from './chain-verifier';
import { HASH_BYTES } from './record-hash';

export * from './export-manifest';

export interface ExportRecordRow extends ChainRow {
  chain: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const SEQ_HINT = /^\{"chain":"(?:[^"\\]|\\.)*","seq":(\d{1,16}),/;
const ZERO = Buffer.alloc(HASH_BYTES);

/** One record line (no trailing newline). */
export function encodeRecordLine(chain: string, row: ChainRow): string {
  return JSON.stringify({
    chain,
    seq: row.seq,
    receivedAt: row.receivedAt,
    event: row.eventJson,
    prevHash: Buffer.from(row.prevHash).toString('hex'),
    hash: Buffer.from(row.hash).toString('hex'),
  });
}

/** The seq of a line written by encodeRecordLine, read without parsing the line (null if it is not of that form). */
export function recordLineSeqHint(line: string): number | null {
  const m = SEQ_HINT.exec(line);
  return m ? Number(m[1]) : null;
}

function hashField(line: string, key: string): Buffer {
  const m = new RegExp(`"${key}":"([0-9a-f]{64})"`).exec(line);
  return m ? Buffer.from(m[1], 'hex') : ZERO;
}

/**
 * Decodes a record line. A line that is not a well-formed record but still names a seq becomes
 * a row that cannot verify (so the verifier names it, as it names a damaged database row); a
 * line without any seq is returned as null and its absence shows as a deleted record.
 */
export function decodeRecordLine(line: string): ExportRecordRow | null {
  let v: Record<string, unknown> | null = null;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) v = parsed as Record<string, unknown>;
  } catch {
    v = null;
  }
  if (
    v &&
    typeof v.chain === 'string' &&
    typeof v.seq === 'number' &&
    Number.isSafeInteger(v.seq) &&
    v.seq >= 0 &&
    typeof v.receivedAt === 'string' &&
    typeof v.event === 'string' &&
    typeof v.prevHash === 'string' &&
    HEX64.test(v.prevHash) &&
    typeof v.hash === 'string' &&
    HEX64.test(v.hash)
  ) {
    return { chain: v.chain, seq: v.seq, receivedAt: v.receivedAt, eventJson: v.event, prevHash: Buffer.from(v.prevHash, 'hex'), hash: Buffer.from(v.hash, 'hex') };
  }
  const seqMatch = /"seq":(\d{1,16})/.exec(line);
  if (!seqMatch) return null;
  const chainMatch = /"chain":"((?:[^"\\]|\\.)*)"/.exec(line);
  let chain = '';
  try {
    chain = chainMatch ? (JSON.parse(`"${chainMatch[1]}"`) as string) : '';
  } catch {
    chain = '';
  }
  return { chain, seq: Number(seqMatch[1]), receivedAt: '', eventJson: line, prevHash: hashField(line, 'prevHash'), hash: hashField(line, 'hash') };
}
