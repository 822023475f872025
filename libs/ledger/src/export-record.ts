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
import { FrontierJSON } from './merkle';
import { HASH_BYTES } from './record-hash';

export const EXPORT_FORMAT = 'hipaa-audit-export';
export const EXPORT_VERSION = 1;

export const EXPORT_FILES = Object.freeze({
  manifest: 'manifest.json',
  records: 'records.ndjson',
  checkpoints: 'checkpoints.json',
  frontiers: 'frontiers.json',
  publicKeys: 'public-keys.json',
  followingHashes: 'following-hashes.json',
});

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: number;
  exportedAt: string;
  chain: string;
  /** Records in records.ndjson: seq fromSeq..toSeq (toSeq = fromSeq - 1 when there are none). */
  records: { file: string; fromSeq: number; toSeq: number; count: number };
  /** Where verification starts: the hash record fromSeq links to, and the Merkle frontier of the records before it. */
  start: { seq: number; prevHash: string; frontier: FrontierJSON };
  /** The chain head recorded by the store when the export runs to it (checks for records deleted from the end). */
  head: { seq: number; hash: string } | null;
  /** Bare hashes of the records after toSeq up to the checkpoint that seals them (no event content). */
  followingHashes: { file: string; fromSeq: number; count: number } | null;
  /** Signed checkpoints (CONTRACT form) in issue order; `complete` when the list starts at the chain's first checkpoint. */
  checkpoints: { file: string; count: number; complete: boolean };
  /** Unsigned Merkle frontier stored with each checkpoint, by tree size (lets a checker split the work). */
  frontiers: { file: string };
  /** Public keys ({ keyId, publicKeyPem }) of the service at export time. Pin your own copy when you can. */
  publicKeys: { file: string };
}

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

function fail(why: string): never {
  throw new Error(`not a valid export manifest: ${why}`);
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** Checks the shape of a parsed manifest.json and returns it typed; throws naming the first problem. */
export function parseExportManifest(json: unknown): ExportManifest {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('not an object');
  const m = json as Record<string, unknown>;
  if (m.format !== EXPORT_FORMAT) fail(`format must be "${EXPORT_FORMAT}"`);
  if (m.version !== EXPORT_VERSION) fail(`version ${String(m.version)} is not supported (this checker reads version ${EXPORT_VERSION})`);
  if (typeof m.chain !== 'string' || m.chain.length === 0) fail('chain must be a non-empty string');
  const r = m.records as Record<string, unknown> | undefined;
  if (!r || typeof r.file !== 'string' || !isCount(r.fromSeq) || typeof r.toSeq !== 'number' || r.toSeq < r.fromSeq - 1 || !isCount(r.count)) fail('records must be { file, fromSeq, toSeq, count }');
  const s = m.start as Record<string, unknown> | undefined;
  const f = s?.frontier as Record<string, unknown> | undefined;
  if (!s || !isCount(s.seq) || typeof s.prevHash !== 'string' || !HEX64.test(s.prevHash) || !f || !isCount(f.size) || !Array.isArray(f.hashes)) {
    fail('start must be { seq, prevHash, frontier: { size, hashes } }');
  }
  if (s.seq !== r.fromSeq || f.size !== s.seq) fail('start.seq, start.frontier.size and records.fromSeq must agree');
  const h = m.head as Record<string, unknown> | null | undefined;
  if (h !== null && (h === undefined || typeof h !== 'object' || typeof h.seq !== 'number' || typeof h.hash !== 'string' || !HEX64.test(h.hash))) fail('head must be null or { seq, hash }');
  const fh = m.followingHashes as Record<string, unknown> | null | undefined;
  if (fh !== null && (fh === undefined || typeof fh !== 'object' || typeof fh.file !== 'string' || !isCount(fh.fromSeq) || !isCount(fh.count))) fail('followingHashes must be null or { file, fromSeq, count }');
  const c = m.checkpoints as Record<string, unknown> | undefined;
  if (!c || typeof c.file !== 'string' || !isCount(c.count) || typeof c.complete !== 'boolean') fail('checkpoints must be { file, count, complete }');
  const fr = m.frontiers as Record<string, unknown> | undefined;
  if (!fr || typeof fr.file !== 'string') fail('frontiers must be { file }');
  const pk = m.publicKeys as Record<string, unknown> | undefined;
  if (!pk || typeof pk.file !== 'string') fail('publicKeys must be { file }');
  for (const file of [r.file, c.file, fr.file, pk.file, fh?.file].filter((x): x is string => typeof x === 'string')) {
    if (!/^[A-Za-z0-9._-]+$/.test(file) || file.startsWith('.')) fail(`file names must be plain names inside the export directory (${JSON.stringify(file)})`);
  }
  return json as ExportManifest;
}
