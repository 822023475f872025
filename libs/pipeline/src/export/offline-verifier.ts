/**
 * `auditctl verify --offline DIR`: verifies an export directory with no database and no service,
 * through the same planner and range verifier as the online check, so it names the same first
 * break (chain, seq, kind). The public keys are the export's own unless the auditor pins theirs.
 *
 * For speed the records file is indexed first (line offsets and the seq each line starts with,
 * read without parsing) and cut at checkpoints into byte ranges verified on all cores. A file
 * whose lines are not in canonical form and strictly increasing seq order is verified in one
 * ordered pass instead (rows sorted by seq, as a database would return them).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  ChainBreak,
  Checkpoint,
  ExportManifest,
  FrontierJSON,
  PlannedCheckpoint,
  RangeVerdict,
  frontierFromJSON,
  mergeChainVerdicts,
  parseExportManifest,
  planChainVerification,
  recordLineSeqHint,
  EXPORT_FILES,
} from '@app/ledger';
import type { VerifyResult } from '../integrity.service';
import { ExportIndexMismatchError, VerifyTask, serializeRangeSpec } from '../verification/verify-task';
import { defaultWorkerCount, runVerifyTasks } from '../verification/verification-runner';

export interface OfflineVerifyOptions {
  /** Worker threads, always used when set; default: every core, in-process below 100,000 records. */
  workers?: number;
  /** Pinned public keys; default: the export's public-keys.json. */
  publicKeys?: readonly { keyId: string; publicKeyPem: string }[];
  onProgress?: (chain: string, done: number, total: number) => void;
}

export interface OfflineVerifyResult extends VerifyResult {
  manifest: ExportManifest;
}

/** The directory is not an export this checker can read (as opposed to a tampered one). */
export class ExportFormatError extends Error {}

interface RecordIndex {
  offsets: number[];
  seqs: number[];
  size: number;
  /** Every line in canonical form, seqs strictly increasing. */
  ordered: boolean;
}

const PREFIX_BYTES = 256;
const SCAN_CHUNK = 8 * 1024 * 1024;

/** Line start offsets and seq hints of records.ndjson, in one streaming pass. */
export function indexRecordFile(file: string): RecordIndex {
  const offsets: number[] = [];
  const seqs: number[] = [];
  let ordered = true;
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(SCAN_CHUNK);
    let lineStart = 0;
    let prefix: Buffer | null = null; // first bytes of a line that began in an earlier chunk
    const take = (start: number, head: string) => {
      if (head.length === 0) return;
      const hint = recordLineSeqHint(head);
      if (hint === null || (seqs.length > 0 && hint <= seqs[seqs.length - 1])) ordered = false;
      offsets.push(start);
      seqs.push(hint ?? -1);
    };
    for (let pos = 0; pos < size; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(SCAN_CHUNK, size - pos), pos);
      if (n <= 0) break;
      let from = 0;
      for (let nl = buf.indexOf(10, 0); nl >= 0 && nl < n; nl = buf.indexOf(10, nl + 1)) {
        const head: string = prefix
          ? Buffer.concat([prefix, buf.subarray(0, Math.min(nl, PREFIX_BYTES))]).toString('latin1', 0, PREFIX_BYTES)
          : buf.toString('latin1', from, Math.min(nl, from + PREFIX_BYTES));
        take(lineStart, head.replace(/\r$/, ''));
        prefix = null;
        from = nl + 1;
        lineStart = pos + nl + 1;
      }
      if (from < n) {
        const tail = buf.subarray(from, Math.min(n, from + PREFIX_BYTES));
        prefix = prefix ? Buffer.concat([prefix, tail]).subarray(0, PREFIX_BYTES) : Buffer.from(tail);
      }
      pos += n;
    }
    if (prefix && prefix.length > 0) take(lineStart, prefix.toString('latin1'));
  } finally {
    fs.closeSync(fd);
  }
  return { offsets, seqs, size, ordered };
}

function lowerBound(seqs: number[], value: number): number {
  let a = 0;
  let b = seqs.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (seqs[m] < value) a = m + 1;
    else b = m;
  }
  return a;
}

function readJson(dir: string, file: string, what: string): unknown {
  const full = path.join(dir, file);
  if (!fs.existsSync(full)) throw new ExportFormatError(`${what} (${file}) is missing from the export`);
  try {
    return JSON.parse(fs.readFileSync(full, 'utf8')) as unknown;
  } catch {
    throw new ExportFormatError(`${what} (${file}) is not valid JSON`);
  }
}

/** Reads `[{ keyId, publicKeyPem }]` or `{ publicKeys: [...] }` (the checkpoints endpoint's answer). */
export function parsePublicKeys(json: unknown): { keyId: string; publicKeyPem: string }[] {
  const list = Array.isArray(json) ? json : json && typeof json === 'object' && Array.isArray((json as { publicKeys?: unknown }).publicKeys) ? (json as { publicKeys: unknown[] }).publicKeys : null;
  if (!list) throw new ExportFormatError('public keys must be a list of { keyId, publicKeyPem } (or { publicKeys: [...] })');
  return list
    .filter((k): k is { keyId: string; publicKeyPem: string } => Boolean(k) && typeof (k as { keyId?: unknown }).keyId === 'string' && typeof (k as { publicKeyPem?: unknown }).publicKeyPem === 'string')
    .map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem }));
}

export async function verifyExport(dir: string, options: OfflineVerifyOptions = {}): Promise<OfflineVerifyResult> {
  let manifest: ExportManifest;
  try {
    manifest = parseExportManifest(readJson(dir, EXPORT_FILES.manifest, 'the manifest'));
  } catch (err) {
    throw err instanceof ExportFormatError ? err : new ExportFormatError((err as Error).message);
  }
  const chain = manifest.chain;
  const rawCheckpoints = readJson(dir, manifest.checkpoints.file, 'the checkpoints');
  if (!Array.isArray(rawCheckpoints)) throw new ExportFormatError('checkpoints must be a list');
  const rawFrontiers = readJson(dir, manifest.frontiers.file, 'the frontiers');
  const frontiers = new Map<number, FrontierJSON>();
  if (Array.isArray(rawFrontiers)) {
    for (const f of rawFrontiers as { treeSize?: unknown; hashes?: unknown }[]) {
      if (f && typeof f.treeSize === 'number' && Array.isArray(f.hashes)) frontiers.set(f.treeSize, { size: f.treeSize, hashes: f.hashes as string[] });
    }
  }
  const keys = new Map<string, string>();
  for (const k of options.publicKeys ?? parsePublicKeys(readJson(dir, manifest.publicKeys.file, 'the public keys'))) keys.set(k.keyId, k.publicKeyPem);
  let followingHashes: Buffer[] | undefined;
  if (manifest.followingHashes) {
    const fh = readJson(dir, manifest.followingHashes.file, 'the following hashes') as { fromSeq?: unknown; hashes?: unknown };
    if (!fh || fh.fromSeq !== manifest.records.toSeq + 1 || !Array.isArray(fh.hashes) || !fh.hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
      throw new ExportFormatError('following-hashes must be { fromSeq: toSeq + 1, hashes: [hex] }');
    }
    followingHashes = (fh.hashes as string[]).map((h) => Buffer.from(h, 'hex'));
  }
  let start;
  try {
    start = { seq: manifest.start.seq, prevHash: Buffer.from(manifest.start.prevHash, 'hex'), frontier: frontierFromJSON(manifest.start.frontier) };
  } catch (err) {
    throw new ExportFormatError(`the manifest's start frontier is malformed: ${(err as Error).message}`);
  }
  let recordsFile = path.join(dir, manifest.records.file);
  if (!fs.existsSync(recordsFile)) throw new ExportFormatError(`the records (${manifest.records.file}) are missing from the export`);
  // Cold archives keep their records gzip-compressed (records.ndjson.gz): verify an unpacked copy.
  let unpackedDir: string | null = null;
  if (recordsFile.endsWith('.gz')) {
    unpackedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'auditctl-verify-'));
    const unpacked = path.join(unpackedDir, EXPORT_FILES.records);
    try {
      await pipeline(fs.createReadStream(recordsFile), createGunzip(), fs.createWriteStream(unpacked, { mode: 0o600 }));
    } catch (err) {
      fs.rmSync(unpackedDir, { recursive: true, force: true });
      throw new ExportFormatError(`the records (${manifest.records.file}) are not readable gzip: ${(err as Error).message}`);
    }
    recordsFile = unpacked;
  }

  const planned: PlannedCheckpoint[] = (rawCheckpoints as Checkpoint[]).map((c) => ({
    checkpoint: c,
    frontier: c && typeof c === 'object' && typeof c.treeSize === 'number' ? frontiers.get(c.treeSize) ?? null : null,
  }));
  const head = manifest.head ? { seq: manifest.head.seq, hash: Buffer.from(manifest.head.hash, 'hex') } : null;
  const workers = options.workers ?? defaultWorkerCount();
  const explicitWorkers = options.workers !== undefined;
  const index = indexRecordFile(recordsFile);
  const total = index.offsets.length;

  const run = async (ordered: boolean) => {
    const plan = planChainVerification({
      chain,
      checkpoints: planned,
      publicKeys: keys,
      firstPrevious: manifest.checkpoints.complete ? null : undefined,
      start,
      endSeq: head ? null : manifest.records.toSeq,
      head,
      followingHashes,
      recordsPerRange: ordered ? Math.max(1000, Math.ceil(total / (workers * 4))) : Number.MAX_SAFE_INTEGER,
    });
    const tasks: VerifyTask[] = plan.ranges.map((range) => {
      let byteStart = 0;
      let byteEnd = index.size;
      if (ordered) {
        const i0 = lowerBound(index.seqs, range.start.seq);
        byteStart = i0 < total ? index.offsets[i0] : index.size;
        if (range.endSeq !== null) {
          const i1 = lowerBound(index.seqs, range.endSeq + 2 + 1);
          byteEnd = i1 < total ? index.offsets[i1] : index.size;
        }
      }
      return { spec: serializeRangeSpec(range), source: { kind: 'ndjson', file: recordsFile, byteStart, byteEnd, ordered }, readHead: false };
    });
    const done = new Map<number, number>();
    const results = await runVerifyTasks(tasks, {
      workers: explicitWorkers || total >= 100_000 ? workers : 1,
      onProgress: options.onProgress
        ? (i, n) => {
            done.set(i, n);
            let sum = 0;
            for (const v of done.values()) sum += v;
            options.onProgress!(chain, Math.min(sum, total), total);
          }
        : undefined,
    });
    const verdicts: RangeVerdict[] = [];
    for (const r of results) {
      if (r) verdicts.push({ verified: r.verified, break: r.break, lastSeq: r.lastSeq, lastHash: Buffer.from(r.lastHash, 'hex'), boundariesChecked: r.boundariesChecked });
    }
    return { plan, outcome: mergeChainVerdicts(plan, verdicts) };
  };

  let result;
  try {
    result = await run(index.ordered);
  } catch (err) {
    if (!(err instanceof ExportIndexMismatchError)) throw err;
    result = await run(false);
  } finally {
    if (unpackedDir) fs.rmSync(unpackedDir, { recursive: true, force: true });
  }
  const { plan, outcome } = result;
  const brk: ChainBreak | null = outcome.break;
  return {
    ok: brk === null,
    verified: outcome.verified,
    break: brk,
    breaks: brk ? [brk] : [],
    chains: [
      {
        chain,
        verified: outcome.verified,
        lastSeq: outcome.lastSeq,
        lastHash: outcome.lastSeq >= plan.startSeq ? outcome.lastHash.toString('hex') : null,
        checkpoints: planned.length,
        checkpointsVerified: outcome.checkpointsVerified,
      },
    ],
    checkpointsVerified: outcome.checkpointsVerified,
    manifest,
  };
}

/**
 * The exports a directory holds: itself when it is one (its manifest at the top), else each of its
 * subdirectories that is one (what `auditctl export --chain <category>` writes for a category with
 * shard chains: one export per chain, README "Sharded chains"), in name order.
 */
export function exportDirectories(dir: string): string[] {
  if (fs.existsSync(path.join(dir, EXPORT_FILES.manifest))) return [dir];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, EXPORT_FILES.manifest)))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/**
 * Verifies one export, or every export of a category's chains under `dir` (exportDirectories),
 * as one result: every chain's report and first break, in chain order.
 */
export async function verifyExportSet(dir: string, options: OfflineVerifyOptions = {}): Promise<VerifyResult & { manifests: ExportManifest[] }> {
  const dirs = exportDirectories(dir);
  if (dirs.length === 0) throw new ExportFormatError(`${dir} holds no export (no ${EXPORT_FILES.manifest}, nor a subdirectory with one)`);
  const results: OfflineVerifyResult[] = [];
  for (const d of dirs) results.push(await verifyExport(d, options));
  results.sort((a, b) => (a.manifest.chain < b.manifest.chain ? -1 : a.manifest.chain > b.manifest.chain ? 1 : 0));
  const breaks = results.flatMap((r) => r.breaks);
  return {
    ok: results.every((r) => r.ok),
    verified: results.reduce((n, r) => n + r.verified, 0),
    break: breaks[0] ?? null,
    breaks,
    chains: results.flatMap((r) => r.chains),
    checkpointsVerified: results.reduce((n, r) => n + r.checkpointsVerified, 0),
    manifests: results.map((r) => r.manifest),
  };
}
