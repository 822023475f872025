/**
 * The auditor's verifier that runs in a browser (the console's in-browser verifier) as well as in
 * Node (jest): it checks an export directory's files or an inclusion-proof document with nothing
 * but their text and the public keys, with no trust in the service that produced them. SHA-256 and
 * Ed25519 come from @noble/hashes and @noble/curves (no Node APIs, no Buffer), so the console
 * serves this module bundled as a static ES module.
 *
 * It names the same first break (chain, seq, kind) as `auditctl verify --offline` for the same
 * export: it walks the records in sequence order exactly as the range verifier does (recompute each
 * record hash, check each link, classify a break as modified / deleted / inserted / reordered, check
 * the Merkle tree head and last hash at every trusted checkpoint, then the recorded head), in one
 * pass instead of parallel ranges. It also reports each step (record hashes, chain links, Merkle
 * roots, checkpoint signatures, inclusion path) so the page can show what was checked.
 *
 * Pure: no I/O; callers hand it file texts.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { canonicalize } from './canonical-json';
import { Checkpoint, HEX32, checkpointShapeError, checkpointSigningPayload } from './checkpoint-form';
import { EXPORT_FILES, ExportManifest, parseExportManifest, parseRecordLine } from './export-manifest';

export type PortableBreakKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'bad_signature' | 'bad_checkpoint';

export interface PortableBreak {
  chain: string;
  seq: number;
  kind: PortableBreakKind;
  detail?: string;
}

export interface PublicKeyEntry {
  keyId: string;
  publicKeyPem: string;
}

export type StepId = 'manifest' | 'keys' | 'signatures' | 'records' | 'merkle' | 'head' | 'leaf' | 'path' | 'root';

/** One thing the verifier checked, for the page to show: passed, failed, or not reached (null). */
export interface VerificationStep {
  id: StepId;
  title: string;
  ok: boolean | null;
  detail: string;
  /** A few lines of evidence (hashes computed, checkpoints checked). */
  items: string[];
}

export interface ExportVerdict {
  ok: boolean;
  chain: string;
  break: PortableBreak | null;
  /** Records verified from the start up to the first break (all when there is none). */
  verified: number;
  /** Checkpoints whose signature, link and tree head all verified. */
  checkpointsVerified: number;
  steps: VerificationStep[];
}

export interface ProofVerdict {
  ok: boolean;
  reason: string | null;
  steps: VerificationStep[];
}

/** The files are not an export (or keys) this verifier can read, as opposed to a tampered export. */
export class PortableFormatError extends Error {}

// ---------------------------------------------------------------------------------------------
// Bytes

type Bytes = Uint8Array;
const utf8 = new TextEncoder();
const ZERO32: Bytes = new Uint8Array(32);
const HEX_DIGITS = '0123456789abcdef';

export function toHex(b: Bytes): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX_DIGITS[b[i] >> 4] + HEX_DIGITS[b[i] & 15];
  return s;
}

function fromHex(h: string): Bytes {
  const out = new Uint8Array(h.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

function fromBase64(text: string): Bytes {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function equal(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(...parts: Bytes[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const short = (h: string): string => `${h.slice(0, 12)}…`;

// ---------------------------------------------------------------------------------------------
// Hashes: the record chain (record-hash.ts) and the RFC 9162 tree (merkle.ts)

/** hash_n = SHA-256(hash_{n-1} || canonical({chain, event, receivedAt, seq})), the event spliced in verbatim. */
export function portableRecordHash(prevHash: Bytes, chain: string, seq: number, receivedAt: string, eventJson: string): Bytes {
  const record = `{"chain":${JSON.stringify(chain)},"event":${eventJson},"receivedAt":${JSON.stringify(receivedAt)},"seq":${seq}}`;
  return sha256(concat(prevHash, utf8.encode(record)));
}

const leafHash = (recordHash: Bytes): Bytes => sha256(concat(new Uint8Array([0]), recordHash));
const nodeHash = (left: Bytes, right: Bytes): Bytes => sha256(concat(new Uint8Array([1]), left, right));
const EMPTY_ROOT: Bytes = sha256(new Uint8Array(0));

function popCount(n: number): number {
  let c = 0;
  for (let m = n; m > 0; m = Math.floor(m / 2)) c += m % 2;
  return c;
}

/** Incremental RFC 9162 tree head from a frontier (perfect subtree roots, largest first). */
class Accumulator {
  private readonly stack: Bytes[];
  size: number;

  constructor(size: number, hashes: Bytes[]) {
    this.stack = hashes.slice();
    this.size = size;
  }

  appendRecordHash(recordHash: Bytes): void {
    let h = leafHash(recordHash);
    for (let c = this.size; c % 2 === 1; c = (c - 1) / 2) h = nodeHash(this.stack.pop() as Bytes, h);
    this.stack.push(h);
    this.size++;
  }

  root(): Bytes {
    if (this.size === 0) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1];
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i], r);
    return r;
  }
}

function frontierFrom(json: { size: number; hashes: unknown[] }): Accumulator {
  if (!json.hashes.every((h) => typeof h === 'string' && HEX32.test(h))) throw new PortableFormatError("the manifest's start frontier is malformed: frontier hashes must be 64 lower-case hex digits");
  if (json.hashes.length !== popCount(json.size)) throw new PortableFormatError(`the manifest's start frontier is malformed: a frontier of size ${json.size} has ${popCount(json.size)} subtree hashes`);
  return new Accumulator(json.size, (json.hashes as string[]).map(fromHex));
}

/** RFC 9162 section 2.1.3.2: the root an audit path leads to, with each node computed on the way (null if it cannot be a path). */
export function rootFromAuditPath(leafIndex: number, treeSize: number, leaf: Bytes, path: readonly Bytes[], trace?: string[]): Bytes | null {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) return null;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (let i = 0; i < path.length; i++) {
    const p = path[i];
    if (sn === 0 || p.length !== 32) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      trace?.push(`level ${i + 1}: SHA-256(0x01 ‖ ${short(toHex(p))} ‖ node) = ${short(toHex(r))}`);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
      trace?.push(`level ${i + 1}: SHA-256(0x01 ‖ node ‖ ${short(toHex(p))}) = ${short(toHex(r))}`);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

// ---------------------------------------------------------------------------------------------
// Keys and checkpoint signatures (checkpoint.ts)

const ED25519_SPKI_PREFIX = fromHex('302a300506032b6570032100');

interface ParsedKey {
  /** The raw 32-byte Ed25519 key, or null when the PEM holds another kind of key. */
  raw: Bytes | null;
  /** keyId as the service derives it: the first 16 hex digits of SHA-256 over the SPKI DER. */
  derivedId: string;
}

/** Parses an SPKI PEM public key; null when it is not PEM at all. */
export function parsePublicKeyPem(pem: string): ParsedKey | null {
  const m = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem);
  if (!m) return null;
  let der: Bytes;
  try {
    der = fromBase64(m[1].replace(/\s+/g, ''));
  } catch {
    return null;
  }
  const derivedId = toHex(sha256(der)).slice(0, 16);
  const isEd = der.length === 44 && equal(der.subarray(0, 12), ED25519_SPKI_PREFIX);
  return { raw: isEd ? der.subarray(12) : null, derivedId };
}

/**
 * Reads a public-keys file: `[{ keyId, publicKeyPem }]`, the checkpoints endpoint's answer
 * (`{ publicKeys: [...] }`), or one bare PEM key (its keyId derived as the service does).
 */
export function parsePublicKeysText(text: string): PublicKeyEntry[] {
  if (text.includes('-----BEGIN PUBLIC KEY-----') && !text.trim().startsWith('[') && !text.trim().startsWith('{')) {
    const k = parsePublicKeyPem(text);
    if (!k) throw new PortableFormatError('the public key is not a PEM SPKI key');
    return [{ keyId: k.derivedId, publicKeyPem: text }];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PortableFormatError('the public keys are not valid JSON (nor a PEM key)');
  }
  const list = Array.isArray(json) ? json : json && typeof json === 'object' && Array.isArray((json as { publicKeys?: unknown }).publicKeys) ? (json as { publicKeys: unknown[] }).publicKeys : null;
  if (!list) throw new PortableFormatError('public keys must be a list of { keyId, publicKeyPem } (or { publicKeys: [...] })');
  return list
    .filter((k): k is PublicKeyEntry => Boolean(k) && typeof (k as PublicKeyEntry).keyId === 'string' && typeof (k as PublicKeyEntry).publicKeyPem === 'string')
    .map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem }));
}

/** Ed25519 (RFC 8032, strict as OpenSSL) over the canonical JSON of the checkpoint without `signature`. */
function signatureVerifies(cp: Checkpoint, key: Bytes | null): boolean {
  if (!key || checkpointShapeError(cp) !== null) return false;
  const sig = fromBase64(cp.signature);
  if (sig.length !== 64) return false;
  try {
    return ed25519.verify(sig, utf8.encode(checkpointSigningPayload(cp)), key, { zip215: false });
  } catch {
    return false;
  }
}

const checkpointHash = (cp: Checkpoint): string => toHex(sha256(utf8.encode(canonicalize(cp))));

interface CheckpointRunVerdict {
  verified: number;
  fault: { index: number; treeSize: number; kind: string; breakKind: PortableBreakKind; detail: string } | null;
  items: string[];
}

/** verifyCheckpointChain: well formed, signed by a known key, linked, never shrinking or forking. */
function checkRun(checkpoints: readonly Checkpoint[], keys: ReadonlyMap<string, ParsedKey | null>, previous: string | null | undefined): CheckpointRunVerdict {
  const items: string[] = [];
  let prev: Checkpoint | null = null;
  let prevHash = previous;
  for (let index = 0; index < checkpoints.length; index++) {
    const cp = checkpoints[index];
    const treeSize = cp !== null && typeof cp === 'object' && typeof cp.treeSize === 'number' ? cp.treeSize : -1;
    const fail = (kind: string, detail: string): CheckpointRunVerdict => {
      items.push(`#${index} (tree size ${treeSize}): ${kind.replace(/_/g, ' ')}: ${detail}`);
      return { verified: index, fault: { index, treeSize, kind, breakKind: kind === 'bad_signature' || kind === 'unknown_key' ? 'bad_signature' : 'bad_checkpoint', detail }, items };
    };
    const shape = checkpointShapeError(cp);
    if (shape) return fail('malformed', shape);
    if (index > 0 && cp.chain !== checkpoints[0].chain) return fail('wrong_chain', `checkpoint of chain ${JSON.stringify(cp.chain)} in chain ${JSON.stringify(checkpoints[0].chain)}`);
    const key = keys.get(cp.keyId);
    if (!key) return fail('unknown_key', `no public key with id ${cp.keyId}`);
    if (!signatureVerifies(cp, key.raw)) return fail('bad_signature', `signature does not verify under key ${cp.keyId}`);
    if (prevHash !== undefined && cp.previous !== prevHash) {
      return fail('broken_link', prevHash === null ? 'the first checkpoint must not link to a predecessor' : 'previous is not the hash of the checkpoint before');
    }
    if (prev) {
      if (cp.treeSize < prev.treeSize) return fail('size_regression', `tree size ${cp.treeSize} after ${prev.treeSize}`);
      if (cp.treeSize === prev.treeSize && (cp.rootHash !== prev.rootHash || cp.lastHash !== prev.lastHash)) return fail('fork', `a second tree head for size ${cp.treeSize}`);
    }
    const hash = checkpointHash(cp);
    items.push(`#${index} tree size ${cp.treeSize}: Ed25519 signature by ${cp.keyId} verifies${prevHash !== undefined ? `, links to ${prevHash === null ? 'nothing (first)' : short(prevHash)}` : ''}`);
    prev = cp;
    prevHash = hash;
  }
  return { verified: checkpoints.length, fault: null, items };
}

function keyMap(entries: readonly PublicKeyEntry[]): Map<string, ParsedKey | null> {
  const keys = new Map<string, ParsedKey | null>();
  for (const k of entries) keys.set(k.keyId, parsePublicKeyPem(k.publicKeyPem));
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Records (export-record.ts decodeRecordLine, chain-verifier.ts ChainVerifier)

interface Row {
  seq: number;
  receivedAt: string;
  eventJson: string;
  prevHash: Bytes;
  hash: Bytes;
}

interface DecodedRow extends Row {
  chain: string;
}

/** A record line (parseRecordLine, shared with the service's offline verifier), hashes as bytes. */
export function decodeExportLine(line: string): DecodedRow | null {
  const f = parseRecordLine(line);
  if (!f) return null;
  return { chain: f.chain, seq: f.seq, receivedAt: f.receivedAt, eventJson: f.eventJson, prevHash: f.prevHashHex ? fromHex(f.prevHashHex) : ZERO32, hash: f.hashHex ? fromHex(f.hashHex) : ZERO32 };
}

const LOOKAHEAD = 2;

interface Boundary {
  treeSize: number;
  rootHash: Bytes;
  lastHash: Bytes;
}

interface WalkSpec {
  chain: string;
  start: { seq: number; prevHash: Bytes; frontier: Accumulator };
  endSeq: number | null;
  boundaries: Boundary[];
  head: { seq: number; hash: Bytes } | null;
  followingHashes: Bytes[];
}

interface WalkVerdict {
  verified: number;
  break: PortableBreak | null;
  /** The break came from comparing the tree with a checkpoint (not from a record). */
  treeBreak: boolean;
  headBreak: boolean;
  boundariesChecked: number;
  samples: string[];
}

/** The ChainRangeVerifier over one range covering the whole export, fed rows in seq order. */
class Walk {
  private expectedSeq: number;
  private expectedPrev: Bytes;
  private beforeLast: Bytes | null = null;
  private found: PortableBreak | null = null;
  private readonly window: Row[] = [];
  private readonly merkle: Accumulator;
  private nextBoundary = 0;
  private blockStart: number;
  private mismatch: { at: number; found: PortableBreak } | null = null;
  private rowsAfterMismatch = 0;
  private done = false;
  private verified = 0;
  private lastSeq: number;
  private matched = 0;
  readonly samples: string[] = [];

  constructor(private readonly spec: WalkSpec) {
    this.merkle = spec.start.frontier;
    this.blockStart = spec.start.seq;
    this.lastSeq = spec.start.seq - 1;
    this.expectedSeq = spec.start.seq;
    this.expectedPrev = spec.start.prevHash;
    while (this.nextBoundary < spec.boundaries.length && spec.boundaries[this.nextBoundary].treeSize <= spec.start.seq) this.nextBoundary++;
  }

  get readLimit(): number | null {
    return this.spec.endSeq === null ? null : this.spec.endSeq + LOOKAHEAD;
  }

  push(row: Row): boolean {
    if (this.done) return false;
    const limit = this.readLimit;
    if (limit !== null && row.seq > limit) return !(this.done = true);
    const more = this.pushRecord(row);
    if (this.mismatch && ++this.rowsAfterMismatch > LOOKAHEAD) this.done = true;
    if (!more) this.done = true;
    return !this.done;
  }

  finish(): WalkVerdict {
    const { spec } = this;
    const tail = spec.endSeq === null;
    let headBreak = false;
    // ChainVerifier.finish
    while (!this.found && this.window.length > 0) {
      if (this.window[0].seq === this.expectedSeq && this.fits(this.window[0], this.expectedSeq, this.expectedPrev)) this.accept(this.window[0]);
      else this.setBreak(this.classify());
    }
    const head = tail ? spec.head : null;
    if (!this.found && head) {
      const lastSeq = this.expectedSeq - 1;
      headBreak = true;
      if (head.seq > lastSeq) this.found = { chain: spec.chain, seq: lastSeq + 1, kind: 'deleted', detail: `records ${lastSeq + 1}..${head.seq} are missing from the end` };
      else if (head.seq < lastSeq) this.found = { chain: spec.chain, seq: head.seq + 1, kind: 'inserted', detail: 'records past the recorded head' };
      else if (!equal(head.hash, this.expectedPrev)) this.found = { chain: spec.chain, seq: lastSeq, kind: 'modified', detail: 'last record differs from the recorded head' };
      else headBreak = false;
    }
    // ChainRangeVerifier.finish
    let found = this.found;
    let treeBreak = false;
    if (found && !tail && found.seq > (spec.endSeq as number)) found = null;
    if (this.mismatch && (!found || found.seq > this.mismatch.at)) {
      found = this.mismatch.found;
      treeBreak = true;
      headBreak = false;
    }
    if (!found && !tail && this.lastSeq < (spec.endSeq as number)) {
      found = { chain: spec.chain, seq: this.lastSeq + 1, kind: 'deleted', detail: `records ${this.lastSeq + 1}..${spec.endSeq} are missing` };
    }
    if (!found && this.nextBoundary < spec.boundaries.length) {
      for (const h of spec.followingHashes) {
        if (this.nextBoundary >= spec.boundaries.length) break;
        this.merkle.appendRecordHash(h);
        const b = spec.boundaries[this.nextBoundary];
        if (this.merkle.size === b.treeSize) {
          this.nextBoundary++;
          const bad = this.checkBoundary(b, h);
          if (bad) {
            found = bad.found;
            treeBreak = true;
            break;
          }
        }
      }
    }
    if (!found && this.nextBoundary < spec.boundaries.length) {
      const b = spec.boundaries[this.nextBoundary];
      const next = this.merkle.size;
      found = { chain: spec.chain, seq: next, kind: 'deleted', detail: `the signed checkpoint at tree size ${b.treeSize} covers records up to ${b.treeSize - 1}, but the records end at ${next - 1}` };
      treeBreak = true;
    }
    const verified = found ? Math.max(0, Math.min(this.verified, found.seq - spec.start.seq)) : this.verified;
    return { verified, break: found, treeBreak, headBreak, boundariesChecked: this.matched, samples: this.samples };
  }

  private selfConsistent(row: Row, seq: number): boolean {
    return equal(portableRecordHash(row.prevHash, this.spec.chain, seq, row.receivedAt, row.eventJson), row.hash);
  }

  private fits(row: Row | undefined, seq: number, prev: Bytes): boolean {
    return row !== undefined && equal(row.prevHash, prev) && this.selfConsistent(row, seq);
  }

  private pushRecord(row: Row): boolean {
    if (this.found) return false;
    this.window.push(row);
    while (this.window.length > 0 && !this.found) {
      const head = this.window[0];
      if (head.seq === this.expectedSeq && this.fits(head, this.expectedSeq, this.expectedPrev)) {
        this.accept(head);
        continue;
      }
      if (this.window.length <= LOOKAHEAD) return true;
      this.setBreak(this.classify());
    }
    return !this.found;
  }

  private classify(): PortableBreak {
    const chain = this.spec.chain;
    const [r0, r1] = this.window;
    const seq = this.expectedSeq;
    const prev = this.expectedPrev;
    if (this.beforeLast && equal(r0.prevHash, this.beforeLast) && this.selfConsistent(r0, seq - 1)) {
      return { chain, seq: seq - 1, kind: 'inserted', detail: 'a record not written by the chain writer' };
    }
    if (r0.seq > seq) return { chain, seq, kind: 'deleted', detail: `records ${seq}..${r0.seq - 1} are missing` };
    if (r0.seq < seq) return { chain, seq: r0.seq, kind: 'inserted', detail: 'duplicate sequence number' };
    if (r1 && r1.seq === seq + 1 && this.fits(r1, seq, prev) && this.fits(r0, seq + 1, r1.hash)) {
      return { chain, seq, kind: 'reordered', detail: `records ${seq} and ${seq + 1} are out of order` };
    }
    if (r1 && equal(r1.prevHash, prev) && (this.selfConsistent(r1, seq) || this.selfConsistent(r1, r1.seq))) {
      return { chain, seq, kind: 'inserted', detail: 'a record not written by the chain writer' };
    }
    if (equal(r0.prevHash, prev)) return { chain, seq, kind: 'modified', detail: 'stored content does not match its hash' };
    if (this.selfConsistent(r0, seq)) return { chain, seq, kind: r1 === undefined ? 'inserted' : 'deleted', detail: 'record does not link to its predecessor' };
    return { chain, seq, kind: 'modified', detail: 'stored content or link does not match its hash' };
  }

  private setBreak(b: PortableBreak): void {
    this.found = b;
  }

  private accept(row: Row): void {
    this.window.shift();
    this.beforeLast = this.expectedPrev;
    if (this.samples.length < 3) this.samples.push(`seq ${row.seq}: SHA-256(${short(toHex(row.prevHash))} ‖ record) = ${short(toHex(row.hash))}, ${row.seq === 0 ? 'the first record (links to 32 zero bytes)' : `links to seq ${row.seq - 1}`}`);
    this.expectedSeq++;
    this.expectedPrev = row.hash;
    const { spec } = this;
    if (spec.endSeq !== null && row.seq > spec.endSeq) return; // look-ahead only
    this.verified++;
    this.lastSeq = row.seq;
    this.merkle.appendRecordHash(row.hash);
    const b = spec.boundaries[this.nextBoundary];
    if (b !== undefined && this.merkle.size === b.treeSize) {
      this.nextBoundary++;
      const bad = this.checkBoundary(b, row.hash);
      if (bad && !this.mismatch) this.mismatch = bad;
    }
  }

  private checkBoundary(b: Boundary, last: Bytes): { at: number; found: PortableBreak } | null {
    const chain = this.spec.chain;
    const from = this.blockStart;
    this.blockStart = b.treeSize;
    if (!equal(last, b.lastHash)) {
      return {
        at: b.treeSize - 1,
        found: { chain, seq: from, kind: 'modified', detail: `records ${from}..${b.treeSize - 1} do not lead to the last hash of the signed checkpoint at tree size ${b.treeSize} (history rewritten and re-hashed)` },
      };
    }
    if (!equal(this.merkle.root(), b.rootHash)) {
      return { at: b.treeSize - 1, found: { chain, seq: b.treeSize - 1, kind: 'bad_checkpoint', detail: `the Merkle root of records 0..${b.treeSize - 1} differs from the signed checkpoint at tree size ${b.treeSize}` } };
    }
    this.matched++;
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// An export directory

export interface ExportFilesInput {
  /** Text of each file of the export directory by file name (a gzip-compressed records file given unpacked, under its own name). */
  files: Readonly<Record<string, string>>;
  /** Keys the auditor pinned; default: the export's own public-keys.json. */
  publicKeys?: readonly PublicKeyEntry[];
}

function readJson(files: Readonly<Record<string, string>>, file: string, what: string): unknown {
  const text = files[file];
  if (text === undefined) throw new PortableFormatError(`${what} (${file}) is missing from the export`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new PortableFormatError(`${what} (${file}) is not valid JSON`);
  }
}

function step(id: StepId, title: string, ok: boolean | null, detail: string, items: string[] = []): VerificationStep {
  return { id, title, ok, detail, items };
}

/** Checks an export directory's files as `auditctl verify --offline` does; throws PortableFormatError when they are not an export. */
export function verifyExportFiles(input: ExportFilesInput): ExportVerdict {
  const { files } = input;
  let manifest: ExportManifest;
  try {
    manifest = parseExportManifest(readJson(files, EXPORT_FILES.manifest, 'the manifest'));
  } catch (err) {
    throw err instanceof PortableFormatError ? err : new PortableFormatError((err as Error).message);
  }
  const chain = manifest.chain;
  const rawCheckpoints = readJson(files, manifest.checkpoints.file, 'the checkpoints');
  if (!Array.isArray(rawCheckpoints)) throw new PortableFormatError('checkpoints must be a list');
  const checkpoints = rawCheckpoints as Checkpoint[];
  readJson(files, manifest.frontiers.file, 'the frontiers'); // not needed for one pass, but part of the export
  const pinned = input.publicKeys !== undefined;
  if (!input.publicKeys && files[manifest.publicKeys.file] === undefined) throw new PortableFormatError(`the public keys (${manifest.publicKeys.file}) are missing from the export`);
  const keyEntries = input.publicKeys ?? parsePublicKeysText(files[manifest.publicKeys.file]);
  let followingHashes: Bytes[] = [];
  if (manifest.followingHashes) {
    const fh = readJson(files, manifest.followingHashes.file, 'the following hashes') as { fromSeq?: unknown; hashes?: unknown };
    if (!fh || fh.fromSeq !== manifest.records.toSeq + 1 || !Array.isArray(fh.hashes) || !fh.hashes.every((h) => typeof h === 'string' && HEX32.test(h))) {
      throw new PortableFormatError('following-hashes must be { fromSeq: toSeq + 1, hashes: [hex] }');
    }
    followingHashes = (fh.hashes as string[]).map(fromHex);
  }
  const frontier = frontierFrom(manifest.start.frontier as { size: number; hashes: unknown[] });
  const recordsText = files[manifest.records.file];
  if (recordsText === undefined) throw new PortableFormatError(`the records (${manifest.records.file}) are missing from the export`);

  const steps: VerificationStep[] = [];
  steps.push(
    step('manifest', 'Export manifest', true, `chain ${chain}, records ${manifest.records.fromSeq}..${manifest.records.toSeq} (${manifest.records.count}), ${manifest.checkpoints.count} signed checkpoints, exported ${manifest.exportedAt}`, [
      `starts after ${manifest.start.seq === 0 ? 'genesis (32 zero bytes)' : `record ${manifest.start.seq - 1}, hash ${short(manifest.start.prevHash)}`}`,
      manifest.head ? `chain head recorded at seq ${manifest.head.seq}, hash ${short(manifest.head.hash)}` : `a range: sealed by ${manifest.followingHashes?.count ?? 0} bare hashes after it`,
    ]),
  );

  // Keys and the run of checkpoints (verification-plan.ts planChainVerification).
  const keys = keyMap(keyEntries);
  steps.push(
    step(
      'keys',
      'Public keys',
      keyEntries.length > 0,
      `${keyEntries.length} key(s), ${pinned ? 'pinned by you' : "the export's own (pin your copy when you can)"}`,
      keyEntries.map((k) => {
        const parsed = keys.get(k.keyId);
        return `${k.keyId}: ${!parsed ? 'not a PEM public key' : !parsed.raw ? 'not an Ed25519 key' : parsed.derivedId === k.keyId ? 'Ed25519, id matches SHA-256 of the key' : `Ed25519 (its SHA-256 id would be ${parsed.derivedId})`}`;
      }),
    ),
  );
  const run = checkRun(checkpoints, keys, manifest.checkpoints.complete ? null : undefined);
  let checkpointBreak: PortableBreak | null = null;
  if (run.fault) {
    const f = run.fault;
    checkpointBreak = { chain, seq: Math.max(0, f.treeSize - 1), kind: f.breakKind, detail: `checkpoint #${f.index} (tree size ${f.treeSize}): ${f.kind.replace(/_/g, ' ')}: ${f.detail}` };
  }
  const trusted = checkpoints.slice(0, run.verified);
  const start = { seq: manifest.start.seq, prevHash: fromHex(manifest.start.prevHash), frontier };
  const head = manifest.head ? { seq: manifest.head.seq, hash: fromHex(manifest.head.hash) } : null;
  const endSeq = head ? null : manifest.records.toSeq;
  const reach = endSeq === null ? Number.MAX_SAFE_INTEGER : endSeq + 1 + followingHashes.length;
  const atStart = trusted.find((c) => c.treeSize === start.seq && start.seq > 0);
  if (atStart && !(atStart.lastHash === manifest.start.prevHash && toHex(frontier.root()) === atStart.rootHash)) {
    const b: PortableBreak = { chain, seq: start.seq, kind: 'modified', detail: `the start state does not match the signed checkpoint at tree size ${start.seq}` };
    if (!checkpointBreak || b.seq < checkpointBreak.seq) checkpointBreak = b;
  }
  const boundaries = trusted
    .filter((c) => c.treeSize > start.seq && c.treeSize <= reach)
    .map((c) => ({ treeSize: c.treeSize, rootHash: fromHex(c.rootHash), lastHash: fromHex(c.lastHash) }));

  // The records in seq order (file order kept among equal seqs), from the start on.
  const walk = new Walk({ chain, start, endSeq, boundaries, head, followingHashes });
  const rows: Row[] = [];
  const limit = walk.readLimit ?? Number.MAX_SAFE_INTEGER;
  for (const line of recordsText.split('\n')) {
    if (line.length === 0) continue;
    const row = decodeExportLine(line);
    if (row === null || row.chain !== chain || row.seq < start.seq || row.seq > limit) continue;
    rows.push(row);
  }
  rows.sort((a, b) => a.seq - b.seq);
  for (const row of rows) if (!walk.push(row)) break;
  const w = walk.finish();

  let found = w.break;
  let fromCheckpoints = false;
  if (checkpointBreak && (!found || checkpointBreak.seq < found.seq)) {
    found = checkpointBreak;
    fromCheckpoints = true;
  }
  const verified = found ? Math.max(0, found.seq - start.seq) : w.verified;
  const checkpointsVerified = found ? Math.min(w.boundariesChecked, trusted.length) : w.boundariesChecked;
  const recordBreak = found && !fromCheckpoints && !w.treeBreak && !w.headBreak ? found : null;
  const describe = (b: PortableBreak) => `seq ${b.seq}: ${b.kind}${b.detail ? ` (${b.detail})` : ''}`;

  steps.push(
    step(
      'signatures',
      'Checkpoint signatures (Ed25519 over canonical JSON) and links',
      run.fault ? false : true,
      run.fault ? `checkpoint #${run.fault.index} fails: ${run.fault.kind.replace(/_/g, ' ')}` : `${run.verified} of ${checkpoints.length} checkpoints signed by a known key and linked to the one before`,
      run.items.slice(0, 8).concat(run.items.length > 8 ? [`… ${run.items.length - 8} more`] : []),
    ),
  );
  steps.push(
    step(
      'records',
      'Record hashes and chain links',
      recordBreak ? false : true,
      recordBreak ? `first break at ${describe(recordBreak)}` : `${w.verified} record(s) recomputed: SHA-256(previous hash ‖ canonical record) equals the stored hash, and each links to the one before`,
      w.samples,
    ),
  );
  const treeFailed = Boolean(found && w.treeBreak && found === w.break);
  const merkleState = treeFailed ? false : recordBreak && w.boundariesChecked < boundaries.length ? null : true;
  steps.push(
    step(
      'merkle',
      'Merkle tree heads (RFC 9162) against the signed checkpoints',
      merkleState,
      treeFailed && found
        ? describe(found)
        : merkleState === null
          ? `not checked past the first break (${w.boundariesChecked} of ${boundaries.length} tree heads matched before it)`
          : `${w.boundariesChecked} of ${boundaries.length} checkpoint tree heads reproduced from the records (root hash and last hash)`,
    ),
  );
  const headFailed = Boolean(found && w.headBreak && found === w.break);
  const headState = headFailed ? false : found ? null : true;
  steps.push(
    step(
      'head',
      head ? 'Chain head' : 'End of the range',
      headState,
      headFailed && found
        ? describe(found)
        : headState === null
          ? 'not checked: the records stop verifying before the end'
          : head
            ? `the last record is the recorded head (seq ${head.seq})`
            : `records end at seq ${manifest.records.toSeq}`,
    ),
  );
  return { ok: found === null, chain, break: found, verified, checkpointsVerified, steps };
}

// ---------------------------------------------------------------------------------------------
// An inclusion proof (CONTRACT `GET /v1/events/{id}/proof`)

/** Checks a proof document with the public key its checkpoint names, as verifyInclusionProofDocument does, showing each step. */
export function verifyProofDocument(doc: unknown, publicKeys: readonly PublicKeyEntry[]): ProofVerdict {
  const steps: VerificationStep[] = [];
  const no = (reason: string): ProofVerdict => ({ ok: false, reason, steps });
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return no('not an object');
  const d = doc as Record<string, unknown>;
  const cp = d.checkpoint as Checkpoint;
  const shape = checkpointShapeError(cp);
  if (shape) {
    steps.push(step('signatures', 'Checkpoint signature (Ed25519 over canonical JSON)', false, `checkpoint: ${shape}`));
    return no(`checkpoint: ${shape}`);
  }
  const keys = keyMap(publicKeys);
  const key = keys.get(cp.keyId);
  const signed = signatureVerifies(cp, key?.raw ?? null);
  steps.push(
    step(
      'signatures',
      'Checkpoint signature (Ed25519 over canonical JSON)',
      signed,
      !keys.has(cp.keyId) ? `no public key with id ${cp.keyId}` : signed ? `tree size ${cp.treeSize} of chain ${cp.chain}, root ${short(cp.rootHash)}, signed by ${cp.keyId}` : `signature does not verify under key ${cp.keyId}`,
      [`signed bytes: ${checkpointSigningPayload(cp).slice(0, 160)}…`],
    ),
  );
  if (!keys.has(cp.keyId)) return no(`no public key with id ${cp.keyId}`);
  if (!signed) return no('checkpoint signature does not verify');
  if (d.chain !== cp.chain) return no('the checkpoint belongs to another chain');
  if (typeof d.recordHash !== 'string' || !HEX32.test(d.recordHash)) return no('recordHash must be 64 lower-case hex digits');
  if (!Array.isArray(d.auditPath) || !d.auditPath.every((h) => typeof h === 'string' && HEX32.test(h))) return no('auditPath must be a list of 64-digit hex hashes');
  const leaf = leafHash(fromHex(d.recordHash));
  steps.push(step('leaf', 'Leaf hash', true, `record ${String(d.seq)} of chain ${cp.chain}: SHA-256(0x00 ‖ ${short(d.recordHash)}) = ${short(toHex(leaf))}`));
  const trace: string[] = [];
  const root = rootFromAuditPath(d.leafIndex as number, cp.treeSize, leaf, (d.auditPath as string[]).map(fromHex), trace);
  steps.push(step('path', `Inclusion path (${d.auditPath.length} sibling hashes)`, root !== null, root ? `leaf ${String(d.leafIndex)} of ${cp.treeSize}` : 'the path does not fit the leaf index and tree size', trace));
  const ok = root !== null && toHex(root) === cp.rootHash;
  steps.push(step('root', 'Root matches the signed checkpoint', ok, ok ? `computed root ${short(cp.rootHash)} equals the signed rootHash` : `computed root ${root ? short(toHex(root)) : '(none)'} differs from the signed ${short(cp.rootHash)}`));
  return ok ? { ok: true, reason: null, steps } : no('the audit path does not lead to the checkpoint root');
}
