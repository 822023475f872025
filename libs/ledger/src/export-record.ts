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
import { parseRecordLine } from './export-manifest';
import { HASH_BYTES } from './record-hash';

export * from './export-manifest';

export interface ExportRecordRow extends ChainRow {
  chain: string;
}

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

/**
 * Decodes a record line (parseRecordLine, hashes as bytes; a damaged line's missing hash reads as
 * zeros). A line without any seq is null and its absence shows as a deleted record.
 */
export function decodeRecordLine(line: string): ExportRecordRow | null {
  const f = parseRecordLine(line);
  if (!f) return null;
  return {
    chain: f.chain,
    seq: f.seq,
    receivedAt: f.receivedAt,
    eventJson: f.eventJson,
    prevHash: f.prevHashHex ? Buffer.from(f.prevHashHex, 'hex') : ZERO,
    hash: f.hashHex ? Buffer.from(f.hashHex, 'hex') : ZERO,
  };
}
