/**
 * The manifest of an export directory (README "Export format"): the file names, the manifest's
 * fields and the check of its shape, and the reading of one record line. No Node APIs, so the
 * in-browser verifier reads exports exactly as `auditctl verify --offline` does.
 */
import type { FrontierJSON } from './merkle';

const HEX64 = /^[0-9a-f]{64}$/;

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

/** A record line's parts, hashes as hex (null where a damaged line has none). */
export interface RecordLineFields {
  chain: string;
  seq: number;
  receivedAt: string;
  eventJson: string;
  prevHashHex: string | null;
  hashHex: string | null;
}

function hexField(line: string, key: string): string | null {
  const m = new RegExp(`"${key}":"([0-9a-f]{64})"`).exec(line);
  return m ? m[1] : null;
}

/**
 * Reads a record line. A line that is not a well-formed record but still names a seq becomes
 * a row that cannot verify (so the verifier names it, as it names a damaged database row); a
 * line without any seq is null and its absence shows as a deleted record.
 */
export function parseRecordLine(line: string): RecordLineFields | null {
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
    return { chain: v.chain, seq: v.seq, receivedAt: v.receivedAt, eventJson: v.event, prevHashHex: v.prevHash, hashHex: v.hash };
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
  return { chain, seq: Number(seqMatch[1]), receivedAt: '', eventJson: line, prevHashHex: hexField(line, 'prevHash'), hashHex: hexField(line, 'hash') };
}
