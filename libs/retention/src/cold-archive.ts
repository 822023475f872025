/**
 * Cold-tier archive files: a checkpoint-aligned range of one chain written under
 * `DATA_DIR/archive/<chain>/<archive id>/` in the `auditctl export` format (README "Export format")
 * with the records gzip-compressed (`records.ndjson.gz`), so `auditctl verify --offline <dir>`
 * checks a copy anywhere. Writing is crash-safe: the export goes to `<id>.partial`, is compressed,
 * fsync'd and verified offline against the store's own public keys, and only then renamed into
 * place (and the parent directory fsync'd). Reading back (restore) re-verifies and re-hashes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { EXPORT_FILES, ExportManifest, ExportRecordRow, decodeRecordLine, recordHash } from '@app/ledger';
import { exportChain, verifyExport } from '@app/pipeline';
import type { CheckpointStore, EventStore } from '@app/storage';

export const ARCHIVE_RECORDS_FILE = 'records.ndjson.gz';

export interface PublicKeyEntry {
  keyId: string;
  publicKeyPem: string;
  createdAt?: string;
  retiredAt?: string;
}

/** Stable archive id of a range (a rerun of an interrupted move writes the same archive). */
export function archiveId(chain: string, fromSeq: number, toSeqExclusive: number): string {
  return `${chain}-${String(fromSeq).padStart(12, '0')}-${String(toSeqExclusive - 1).padStart(12, '0')}`;
}

export function archiveDir(dataDir: string, chain: string, id: string): string {
  return path.join(dataDir, 'archive', chain, id);
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class ArchiveVerificationError extends Error {}

/** Verifies an archive directory offline with the given (pinned) keys; throws unless intact and complete. */
export async function verifyArchive(dir: string, publicKeys: readonly PublicKeyEntry[], expect?: { fromSeq: number; toSeq: number }): Promise<ExportManifest> {
  const result = await verifyExport(dir, { publicKeys: publicKeys.length > 0 ? publicKeys : undefined, workers: 1 });
  const m = result.manifest;
  if (!result.ok) throw new ArchiveVerificationError(`archive ${path.basename(dir)} does not verify: ${result.break?.kind ?? 'break'} at seq ${result.break?.seq ?? '?'}`);
  if (expect && (m.records.fromSeq !== expect.fromSeq || m.records.toSeq !== expect.toSeq)) {
    throw new ArchiveVerificationError(`archive ${path.basename(dir)} holds seq ${m.records.fromSeq}..${m.records.toSeq}, expected ${expect.fromSeq}..${expect.toSeq}`);
  }
  if (result.verified !== m.records.count || m.records.count !== m.records.toSeq - m.records.fromSeq + 1) {
    throw new ArchiveVerificationError(`archive ${path.basename(dir)} verified ${result.verified} of ${m.records.count} records`);
  }
  return m;
}

/**
 * Writes (or, after a crash, finds and re-verifies) the archive of [fromSeq, toSeqExclusive) of a
 * chain. Returns its manifest once the directory is durable and verified.
 */
export async function writeArchive(
  events: EventStore,
  checkpoints: CheckpointStore,
  opts: { dataDir: string; chain: string; fromSeq: number; toSeqExclusive: number; publicKeys: readonly PublicKeyEntry[] },
): Promise<{ id: string; dir: string; manifest: ExportManifest }> {
  const id = archiveId(opts.chain, opts.fromSeq, opts.toSeqExclusive);
  const dir = archiveDir(opts.dataDir, opts.chain, id);
  const expect = { fromSeq: opts.fromSeq, toSeq: opts.toSeqExclusive - 1 };
  if (fs.existsSync(dir)) {
    try {
      return { id, dir, manifest: await verifyArchive(dir, opts.publicKeys, expect) };
    } catch {
      // A damaged leftover of an earlier attempt: keep it aside for inspection, write a new one.
      fs.renameSync(dir, `${dir}.damaged-${Date.now()}`);
    }
  }
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  await exportChain(events, checkpoints, { chain: opts.chain, from: { seq: opts.fromSeq }, to: { seq: opts.toSeqExclusive - 1 }, outDir: partial, publicKeys: opts.publicKeys });
  const plain = path.join(partial, EXPORT_FILES.records);
  const packed = path.join(partial, ARCHIVE_RECORDS_FILE);
  await pipeline(fs.createReadStream(plain), createGzip({ level: 6 }), fs.createWriteStream(packed, { mode: 0o600, flags: 'wx' }));
  fs.rmSync(plain);
  const manifestFile = path.join(partial, EXPORT_FILES.manifest);
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as ExportManifest;
  manifest.records.file = ARCHIVE_RECORDS_FILE;
  fs.writeFileSync(`${manifestFile}.tmp`, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(`${manifestFile}.tmp`, manifestFile);
  for (const f of fs.readdirSync(partial)) fsyncPath(path.join(partial, f));
  fsyncPath(partial);
  await verifyArchive(partial, opts.publicKeys, expect);
  fs.renameSync(partial, dir);
  fsyncPath(path.dirname(dir));
  return { id, dir, manifest };
}

/**
 * The records of a verified archive, each re-hashed against the chain link it claims (so a file
 * swapped after verification is still refused). Yields in seq order.
 */
export async function* readArchiveRecords(dir: string, manifest: ExportManifest): AsyncGenerator<ExportRecordRow> {
  const input = fs.createReadStream(path.join(dir, manifest.records.file)).pipe(createGunzip());
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  let prev: Buffer = Buffer.from(manifest.start.prevHash, 'hex');
  let expected = manifest.records.fromSeq;
  for await (const line of lines) {
    if (line === '') continue;
    const row = decodeRecordLine(line);
    if (!row || row.seq !== expected || !row.prevHash.equals(prev) || !recordHash(prev, row.chain, row.seq, row.receivedAt, row.eventJson).equals(row.hash)) {
      throw new ArchiveVerificationError(`archive ${path.basename(dir)}: record ${expected} does not match its chain`);
    }
    yield row;
    prev = row.hash;
    expected++;
  }
  if (expected !== manifest.records.toSeq + 1) throw new ArchiveVerificationError(`archive ${path.basename(dir)}: records end at ${expected - 1}, manifest says ${manifest.records.toSeq}`);
}
