/**
 * One unit of verification work: a range of one chain (ChainRangeSpec) and where to read its rows.
 * Tasks are plain data (hex strings, no Buffers or handles) so they can be posted to worker
 * threads; `runVerifyTask` runs one, in a worker or in-process, against:
 *   - the store, through the ChainReader port (chain-reader.port.ts: the embedded store's reader of
 *     the data dir, opened again in each worker, or the Elasticsearch store in-process); a tail
 *     range reads the chain head and the rows in one snapshot, so ingestion going on meanwhile
 *     cannot look like tampering;
 *   - a byte range of an export's records.ndjson (offline verification).
 *
 * Imports are by file, not by library index, to keep worker start-up light.
 */
import * as fs from 'node:fs';
import { isCheckedRun, type ChainHead, type ChainRow, type CheckedRun } from '@app/ledger/chain-verifier';
import { ChainRangeSpec, ChainRangeVerifier, RangeVerdict } from '@app/ledger/range-verifier';
import { FrontierJSON, frontierFromJSON } from '@app/ledger/merkle';
import { decodeRecordLine, recordLineSeqHint } from '@app/ledger/export-record';
import type { ChainBreak } from '@app/ledger/chain-verifier';
import { loadChainReader, type ChainReader, type ChainReaderSource, type ChainReaderWorkerSource } from '@app/storage/chain-reader.port';

/** The store's chains, through the ChainReader port. */
export interface ChainsRowSource {
  kind: 'chains';
  /** How a worker thread opens its reader (ChainReaderSource.worker); null: in-process only. */
  worker: ChainReaderWorkerSource | null;
}

export interface NdjsonRowSource {
  kind: 'ndjson';
  file: string;
  byteStart: number;
  byteEnd: number;
  /**
   * True when the planner found every line in canonical form with strictly increasing seq: rows
   * stream in file order. False: the whole range is read, and rows are ordered by seq first.
   */
  ordered: boolean;
}

export type RowSourceSpec = ChainsRowSource | NdjsonRowSource;

export interface SerializedRangeSpec {
  chain: string;
  start: { seq: number; prevHash: string; frontier?: FrontierJSON };
  endSeq: number | null;
  /** ChainRangeSpec.roots: false checks checkpoints by their lastHash only. */
  roots?: boolean;
  boundaries: { treeSize: number; rootHash: string; lastHash: string }[];
  head?: { seq: number; hash: string } | null;
  followingHashes?: string[];
}

export interface VerifyTask {
  spec: SerializedRangeSpec;
  source: RowSourceSpec;
  /** Read the chain head inside the reader's snapshot (tail of a live store) instead of spec.head. */
  readHead: boolean;
}

export interface VerifyTaskResult {
  verified: number;
  break: ChainBreak | null;
  lastSeq: number;
  lastHash: string;
  boundariesChecked: number;
  rowsRead: number;
}

/** The rows of an export line range did not match the planner's index: verify in one ordered pass instead. */
export class ExportIndexMismatchError extends Error {
  constructor() {
    super('records.ndjson changed while it was being verified, or its index was wrong');
    this.name = 'ExportIndexMismatchError';
  }
}

export function serializeRangeSpec(spec: ChainRangeSpec): SerializedRangeSpec {
  return {
    chain: spec.chain,
    start: {
      seq: spec.start.seq,
      prevHash: spec.start.prevHash.toString('hex'),
      frontier: spec.start.frontier ? { size: spec.start.frontier.size, hashes: spec.start.frontier.hashes.map((h) => Buffer.from(h).toString('hex')) } : undefined,
    },
    endSeq: spec.endSeq,
    roots: spec.roots,
    boundaries: spec.boundaries.map((b) => ({ treeSize: b.treeSize, rootHash: b.rootHash.toString('hex'), lastHash: b.lastHash.toString('hex') })),
    head: spec.head ? { seq: spec.head.seq, hash: spec.head.hash.toString('hex') } : spec.head === null ? null : undefined,
    followingHashes: spec.followingHashes?.map((h) => h.toString('hex')),
  };
}

export function deserializeRangeSpec(s: SerializedRangeSpec, head?: ChainHead | null): ChainRangeSpec {
  return {
    chain: s.chain,
    start: { seq: s.start.seq, prevHash: Buffer.from(s.start.prevHash, 'hex'), frontier: s.start.frontier ? frontierFromJSON(s.start.frontier) : undefined },
    endSeq: s.endSeq,
    roots: s.roots,
    boundaries: s.boundaries.map((b) => ({ treeSize: b.treeSize, rootHash: Buffer.from(b.rootHash, 'hex'), lastHash: Buffer.from(b.lastHash, 'hex') })),
    head: head !== undefined ? head : s.head ? { seq: s.head.seq, hash: Buffer.from(s.head.hash, 'hex') } : (s.head ?? null),
    followingHashes: s.followingHashes?.map((h) => Buffer.from(h, 'hex')),
  };
}

/** The chain readers a runner keeps across tasks (one per store), closed when the runner ends. */
export class RowSourceCache {
  private readonly readers = new Map<string, ChainReader>();

  /** `inProcess`: the readers of the in-process runner (a worker opens its own from the task's source). */
  constructor(private readonly inProcess?: ChainReaderSource) {}

  chainReader(src: ChainsRowSource): ChainReader {
    const key = this.inProcess ? '' : JSON.stringify(src.worker);
    let reader = this.readers.get(key);
    if (!reader) {
      if (this.inProcess) reader = this.inProcess.open();
      else if (src.worker) reader = loadChainReader(src.worker);
      else throw new Error('no chain reader for a verification task');
      this.readers.set(key, reader);
    }
    return reader;
  }

  async close(): Promise<void> {
    const readers = [...this.readers.values()];
    this.readers.clear();
    for (const r of readers) await r.close();
  }
}

function toResult(v: RangeVerdict, rowsRead: number): VerifyTaskResult {
  return { verified: v.verified, break: v.break, lastSeq: v.lastSeq, lastHash: v.lastHash.toString('hex'), boundariesChecked: v.boundariesChecked, rowsRead };
}

/** How often (in rows) a task reports progress. */
const PROGRESS_EVERY = 20_000;

/** Runs one task to its verdict. `onProgress` gets the rows read so far. */
export async function runVerifyTask(
  task: VerifyTask,
  cache: RowSourceCache,
  onProgress?: (rowsRead: number) => void,
  options: { yieldBetweenPages?: boolean } = {},
): Promise<VerifyTaskResult> {
  const src = task.source;
  const s = task.spec;
  let rowsRead = 0;
  let reported = 0;
  const read = (n: number): void => {
    rowsRead += n;
    if (onProgress && rowsRead - reported >= PROGRESS_EVERY) {
      reported = rowsRead;
      onProgress(rowsRead);
    }
  };
  const feed = (v: ChainRangeVerifier, row: ChainRow): boolean => {
    read(1);
    return v.push(row);
  };
  // A run of rows the reader checked completely (ChainReader.readChainRuns).
  const feedRun = (v: ChainRangeVerifier, run: CheckedRun): boolean => {
    read(run.count);
    return v.pushRun(run);
  };
  const finish = (v: ChainRangeVerifier): VerifyTaskResult => {
    const r = toResult(v.finish(), rowsRead);
    onProgress?.(rowsRead);
    return r;
  };

  if (src.kind === 'ndjson') {
    const v = new ChainRangeVerifier(deserializeRangeSpec(s));
    walkNdjson(src, s.chain, s.start.seq, v.readLimit, (row) => feed(v, row));
    return finish(v);
  }

  const reader = cache.chainReader(src);
  // One snapshot: the head and the rows are one state of a store that may be growing.
  return reader.snapshot(async () => {
    const v = new ChainRangeVerifier(deserializeRangeSpec(s, task.readHead ? await reader.head(s.chain) : undefined));
    const limit = v.readLimit;
    outer: for await (const page of reader.readChainRuns(s.chain, s.start.seq, limit ?? undefined)) {
      for (const part of page) {
        if (isCheckedRun(part)) {
          if (!feedRun(v, part)) break outer;
        } else if (!feed(v, part)) break outer;
      }
      // In-process (the API's event loop): let requests through between pages.
      if (options.yieldBetweenPages) await new Promise((resolve) => setImmediate(resolve));
    }
    return finish(v);
  });
}

const CHUNK_BYTES = 4 * 1024 * 1024;

/** Reads the lines of [byteStart, byteEnd) and hands the rows of `chain` with seq in [from, limit] to `take`, in seq order. */
function walkNdjson(src: NdjsonRowSource, chain: string, from: number, limit: number | null, take: (row: ChainRow) => boolean): void {
  const upper = limit ?? Number.MAX_SAFE_INTEGER;
  const collected: ChainRow[] = [];
  let stop = false;
  const onLine = (line: string): void => {
    if (stop || line.length === 0) return;
    const row = decodeRecordLine(line);
    if (src.ordered && (row === null || recordLineSeqHint(line) !== row.seq)) throw new ExportIndexMismatchError();
    if (row === null || row.chain !== chain || row.seq < from || row.seq > upper) return;
    const plain: ChainRow = { seq: row.seq, receivedAt: row.receivedAt, eventJson: row.eventJson, prevHash: row.prevHash, hash: row.hash };
    if (src.ordered) stop = !take(plain);
    else collected.push(plain);
  };
  const fd = fs.openSync(src.file, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let pos = src.byteStart;
    let carry: Buffer = Buffer.alloc(0);
    while (pos < src.byteEnd && !stop) {
      const n = fs.readSync(fd, buf, 0, Math.min(CHUNK_BYTES, src.byteEnd - pos), pos);
      if (n <= 0) break;
      pos += n;
      // Split on the newline byte; a line cut by the chunk end is carried over as bytes.
      let lineStart = 0;
      for (let nl = buf.indexOf(10, 0); nl >= 0 && nl < n; nl = buf.indexOf(10, nl + 1)) {
        onLine(carry.length ? Buffer.concat([carry, buf.subarray(lineStart, nl)]).toString('utf8') : buf.toString('utf8', lineStart, nl));
        carry = Buffer.alloc(0);
        lineStart = nl + 1;
        if (stop) break;
      }
      if (!stop && lineStart < n) carry = Buffer.concat([carry, buf.subarray(lineStart, n)]);
    }
    if (!stop && carry.length) onLine(carry.toString('utf8'));
  } finally {
    fs.closeSync(fd);
  }
  if (!src.ordered) {
    collected.sort((a, b) => a.seq - b.seq); // stable: duplicates keep file order, as rows keep insertion order
    for (const row of collected) if (!take(row)) break;
  }
}
