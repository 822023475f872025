/**
 * `auditctl export`: writes one chain (or a range of it) to a directory an auditor can verify
 * offline with nothing but that directory (README "Export format"): the stored records as NDJSON,
 * verbatim (tampering shows offline exactly as it shows online), the signed checkpoints, the
 * frontier stored with each, the public keys, and a manifest saying where verification starts
 * (the hash the first record links to and the Merkle frontier before it) and ends (the chain head,
 * or the bare hashes of the records up to the checkpoint that seals the last exported one).
 * Reads through the EventStore and CheckpointStore ports; before exporting it can seal the records
 * no checkpoint covers yet, so that every exported record is under a signature.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  EXPORT_FILES,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  ExportManifest,
  FrontierJSON,
  GENESIS_HASH,
  MerkleAccumulator,
  encodeRecordLine,
  frontierFromJSON,
  frontierRoot,
} from '@app/ledger';
import { CheckpointStore, EventStore, StoredCheckpoint } from '@app/storage';
import type { CheckpointService } from '../checkpoints/checkpoint.service';

/** A bound given as a sequence number or as a server receive time (RFC 3339). */
export type ExportBound = { seq: number } | { time: string };

export interface ExportPublicKey {
  keyId: string;
  publicKeyPem: string;
  createdAt?: string;
  retiredAt?: string;
}

export interface ExportOptions {
  chain: string;
  /** First record: a seq, or the first record received at or after this time. Default: the first. */
  from?: ExportBound;
  /** Last record: a seq (inclusive), or the last record received before this time. Default: the head. */
  to?: ExportBound;
  outDir: string;
  /** The signing keys' public halves; a function is called after sealing (which may create the first key). */
  publicKeys: readonly ExportPublicKey[] | (() => readonly ExportPublicKey[]);
  /** Seal the chain first so that every exported record is covered by a signed checkpoint. */
  sealer?: CheckpointService;
  now?: Date;
  /** Called after each page of records written: records written so far and the total expected. */
  onProgress?: (done: number, total: number) => void;
}

export class ExportError extends Error {}

/** Parses a `--from` / `--to` value: digits are a seq, anything else must be an RFC 3339 time. */
export function parseExportBound(text: string): ExportBound {
  if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) return { seq: Number(text) };
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text))) return { time: text };
  throw new ExportError(`"${text}" is neither a sequence number nor an RFC 3339 time`);
}

async function receivedAtMs(events: EventStore, chain: string, seq: number): Promise<number | null> {
  for await (const page of events.readChain(chain, seq, seq, 1)) if (page[0]) return Date.parse(page[0].receivedAt);
  return null;
}

/** First seq in [lo, hi] whose receive time is >= t (hi + 1 when none); receive times grow with seq. */
async function firstAtOrAfter(events: EventStore, chain: string, lo: number, hi: number, t: number): Promise<number> {
  let a = lo;
  let b = hi + 1;
  while (a < b) {
    const mid = Math.floor((a + b) / 2);
    const ms = await receivedAtMs(events, chain, mid);
    if (ms !== null && ms >= t) b = mid;
    else a = mid + 1;
  }
  return a;
}

async function writeLines(file: string, lines: AsyncIterable<string[]>): Promise<number> {
  const fd = fs.openSync(file, 'wx', 0o600);
  let count = 0;
  try {
    for await (const batch of lines) {
      if (batch.length === 0) continue;
      fs.writeSync(fd, batch.join('\n') + '\n');
      count += batch.length;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return count;
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
}

export async function exportChain(events: EventStore, checkpoints: CheckpointStore, opts: ExportOptions): Promise<ExportManifest> {
  const { chain } = opts;
  if (fs.existsSync(opts.outDir) && fs.readdirSync(opts.outDir).length > 0) throw new ExportError(`${opts.outDir} is not empty`);
  let head = (await events.chainHeads()).get(chain) ?? null;
  if (!head) throw new ExportError(`no chain "${chain}" in this store`);
  if (opts.sealer) {
    await opts.sealer.seal(chain, head.seq + 1);
    head = (await events.chainHeads()).get(chain) ?? head;
  }
  const purged = await checkpoints.purgedPrefix(chain);
  const first = purged?.size ?? 0;

  const resolve = async (bound: ExportBound | undefined, fallback: number, isTo: boolean): Promise<number> => {
    if (!bound) return fallback;
    if ('seq' in bound) return bound.seq;
    const at = await firstAtOrAfter(events, chain, first, head!.seq, Date.parse(bound.time));
    return isTo ? at - 1 : at; // `to` is exclusive in time, inclusive in seq
  };
  const fromSeq = Math.max(first, await resolve(opts.from, first, false));
  const toSeq = Math.min(head.seq, await resolve(opts.to, head.seq, true));
  if (toSeq < fromSeq - 1) throw new ExportError(`the range is empty (from seq ${fromSeq}, to seq ${toSeq})`);

  // Start state: the hash record fromSeq links to and the frontier of the records before it,
  // from the nearest checkpoint (or purged prefix) at or below fromSeq plus the stored hashes after it.
  let acc = new MerkleAccumulator();
  let prevHash: Buffer = GENESIS_HASH;
  const anchor = fromSeq > 0 ? await checkpoints.latestAtOrBelow(chain, fromSeq) : null;
  const anchorFrontier = anchor ? checkedFrontier(anchor) : null;
  if (purged && (!anchorFrontier || anchorFrontier.size < purged.size)) {
    acc = new MerkleAccumulator(frontierFromJSON(purged.frontier));
    prevHash = Buffer.from(purged.lastHash, 'hex');
  } else if (anchor && anchorFrontier) {
    acc = new MerkleAccumulator(anchorFrontier);
    prevHash = Buffer.from(anchor.checkpoint.lastHash, 'hex');
  }
  if (acc.size < fromSeq) {
    for await (const page of events.readChain(chain, acc.size, fromSeq - 1)) {
      for (const row of page) {
        if (row.seq !== acc.size) throw new ExportError(`record ${acc.size} is missing before the export range; run auditctl verify`);
        acc.appendRecordHash(row.hash);
        prevHash = row.hash;
      }
    }
    if (acc.size !== fromSeq) throw new ExportError(`records before seq ${fromSeq} are missing; run auditctl verify`);
  }

  // An export to the head takes every stored row from fromSeq on, as the online check reads them
  // (rows past the recorded head are evidence too).
  const isTail = toSeq === head.seq;
  let lastWritten = fromSeq - 1;
  fs.mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  const count = await writeLines(
    path.join(opts.outDir, EXPORT_FILES.records),
    (async function* () {
      if (toSeq < fromSeq && !isTail) return;
      const total = Math.max(0, toSeq - fromSeq + 1);
      let done = 0;
      opts.onProgress?.(0, total);
      for await (const page of events.readChain(chain, fromSeq, isTail ? undefined : toSeq)) {
        if (page.length > 0) lastWritten = Math.max(lastWritten, page[page.length - 1].seq);
        yield page.map((row) => encodeRecordLine(chain, row));
        opts.onProgress?.((done += page.length), total);
      }
    })(),
  );

  const all = await checkpoints.list(chain);
  const sealing = all.find((c) => c.checkpoint.treeSize >= toSeq + 1) ?? null;
  const firstIncluded = Math.max(0, all.findIndex((c) => c.checkpoint.treeSize > fromSeq) - 1);
  const included = all.filter((c, i) => i >= (fromSeq === 0 ? 0 : firstIncluded) && (!sealing || c.checkpoint.treeSize <= sealing.checkpoint.treeSize));
  let followingHashes: string[] = [];
  if (sealing && sealing.checkpoint.treeSize > toSeq + 1 && !isTail) {
    for await (const page of events.readChain(chain, toSeq + 1, sealing.checkpoint.treeSize - 1)) followingHashes.push(...page.map((r) => r.hash.toString('hex')));
  } else followingHashes = [];

  writeJson(path.join(opts.outDir, EXPORT_FILES.checkpoints), included.map((c) => c.checkpoint));
  writeJson(path.join(opts.outDir, EXPORT_FILES.frontiers), included.map((c) => ({ treeSize: c.checkpoint.treeSize, hashes: c.frontier.hashes })));
  writeJson(
    path.join(opts.outDir, EXPORT_FILES.publicKeys),
    (typeof opts.publicKeys === 'function' ? opts.publicKeys() : opts.publicKeys).map((k) => ({ keyId: k.keyId, publicKeyPem: k.publicKeyPem, createdAt: k.createdAt, retiredAt: k.retiredAt })),
  );
  if (followingHashes.length > 0) writeJson(path.join(opts.outDir, EXPORT_FILES.followingHashes), { fromSeq: toSeq + 1, hashes: followingHashes });

  const start: FrontierJSON = { size: acc.size, hashes: acc.toJSON().hashes };
  const manifest: ExportManifest = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: (opts.now ?? new Date()).toISOString(),
    chain,
    records: { file: EXPORT_FILES.records, fromSeq, toSeq: isTail ? Math.max(toSeq, lastWritten) : toSeq, count },
    start: { seq: fromSeq, prevHash: prevHash.toString('hex'), frontier: start },
    head: isTail ? { seq: head.seq, hash: head.hash.toString('hex') } : null,
    followingHashes: followingHashes.length > 0 ? { file: EXPORT_FILES.followingHashes, fromSeq: toSeq + 1, count: followingHashes.length } : null,
    checkpoints: { file: EXPORT_FILES.checkpoints, count: included.length, complete: included.length === 0 || included[0].index === 0 },
    frontiers: { file: EXPORT_FILES.frontiers },
    publicKeys: { file: EXPORT_FILES.publicKeys },
  };
  writeJson(path.join(opts.outDir, EXPORT_FILES.manifest), manifest);
  return manifest;
}

/** A checkpoint's stored frontier, if it folds to the signed root. */
function checkedFrontier(cp: StoredCheckpoint) {
  try {
    const f = frontierFromJSON(cp.frontier);
    return f.size === cp.checkpoint.treeSize && frontierRoot(f).toString('hex') === cp.checkpoint.rootHash ? f : null;
  } catch {
    return null;
  }
}
