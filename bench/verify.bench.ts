/**
 * `npm run bench:verify` (after `npm run build`): builds a store of BENCH_VERIFY_RECORDS (default
 * 1,000,000) realistic records straight through the embedded store (field sealing included) with
 * signed checkpoints every CHECKPOINT_EVERY_RECORDS (default 10,000) records, then prints
 * records/s and CPU-µs per record of:
 *   - what bounds verification on this machine: SHA-256 of each record's bytes (one hash call per
 *     record, records in memory), the fast path's SQLite page query alone, and the bare chain-hash
 *     ceiling of one core (records in memory as strings, canonical text built per record);
 *   - `auditctl verify` (chain mode: every record re-hashed, linked and its derived columns checked,
 *     every checkpoint's signature, link and lastHash) on one thread (in-process) and on all cores
 *     (worker threads), then the same with `--full` (every checkpoint's Merkle root recomputed too);
 *   - the offline verifier on an export of the biggest chain (BENCH_VERIFY_OFFLINE=0 skips it).
 * BENCH_VERIFY_FULL=0 skips the --full runs.
 * The store is built once and cached in $TMPDIR/audit-bench-verify-<records>-<every> (about 800 MiB for
 * a million records; BENCH_VERIFY_REBUILD=1 builds it again); BENCH_VERIFY_STORE=<dir> verifies
 * another kept store instead.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent, chainForEvent, loadConfig } from '@app/core';
import * as crypto from 'node:crypto';
import { ChainRow, GENESIS_HASH, canonicalRecord, canonicalize, recordHash } from '@app/ledger';
import { CheckpointService, IntegrityService, defaultWorkerCount, exportChain, verifyExport } from '@app/pipeline';
import { embeddedChainReaders } from '@app/infrastructure';
import { FileKeyProvider, embeddedFieldProtection } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { ChainedRecord, SqliteCheckpointStore, SqliteEventStore, openDatabase } from '@app/storage';
import { SqliteChainReader } from '@app/storage/sqlite/sqlite-chain-reader';
import { benchDataDir, fmt, machine } from './bench-support';

const TOTAL = Number(process.env.BENCH_VERIFY_RECORDS ?? 1_000_000);
const EVERY = Number(process.env.CHECKPOINT_EVERY_RECORDS ?? 10_000);
const OFFLINE = process.env.BENCH_VERIFY_OFFLINE !== '0';
const FULL = process.env.BENCH_VERIFY_FULL !== '0';
const BATCH = 20_000;

function rate(n: number, ms: number): string {
  return `${fmt((n / ms) * 1000)} records/s (${fmt(n)} in ${fmt(ms / 1000, 2)} s)`;
}

/**
 * Wall time and CPU time (all threads of the process) of a run. On a shared machine wall-clock
 * rates understate what the code does; CPU microseconds per record do not depend on other load.
 */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { value, ms, cpuUs: cpu.user + cpu.system };
}

function cpuNote(n: number, cpuUs: number, threads: number): string {
  const perRecord = cpuUs / n;
  return `${fmt(perRecord, 2)} CPU-µs/record (${fmt((1e6 / perRecord) * threads)} records/s if ${threads} core(s) were free)`;
}

async function buildStore(dir: string) {
  const config = loadConfig({}, { dataDir: dir });
  const db = openDatabase(dir);
  const events = new SqliteEventStore(db, embeddedFieldProtection(config));
  const checkpoints = new SqliteCheckpointStore(db);
  const keys = new FileKeyProvider(dir);
  const sealer = new CheckpointService(events, checkpoints, keys, { everyRecords: EVERY, intervalMs: 3_600_000 });
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  const started = performance.now();
  let written = 0;
  for (let chunk = 0; written < TOTAL; chunk++) {
    const traffic = generateTraffic({ events: Math.min(100_000, TOTAL - written), suspicious: false, seed: 1000 + chunk }).events;
    for (let i = 0; i < traffic.length; i += BATCH) {
      const receivedAt = new Date().toISOString();
      const records: ChainedRecord[] = traffic.slice(i, i + BATCH).map((event: AccessEvent) => {
        const json = canonicalize(event);
        const chain = chainForEvent(event);
        const head = heads.get(chain) ?? { seq: -1, hash: GENESIS_HASH };
        const seq = head.seq + 1;
        const hash = recordHash(head.hash, chain, seq, receivedAt, json);
        heads.set(chain, { seq, hash });
        return { chain, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash };
      });
      await events.append(records);
      sealer.recordsCommitted(records); // what the chain writer's commit hook does
      written += records.length;
    }
    process.stderr.write(`\r  building: ${fmt(written)} / ${fmt(TOTAL)} records`);
  }
  await sealer.sealAll('shutdown');
  process.stderr.write('\n');
  const ms = performance.now() - started;
  return { config, db, events, checkpoints, keys, heads, ms };
}

/** One core's bare ceiling: re-hash records already in memory (no store, no decryption, no Merkle). */
async function hashCeiling(events: SqliteEventStore, chain: string, limit: number): Promise<{ wall: number; cpuUs: number; n: number }> {
  const rows: ChainRow[] = [];
  for await (const page of events.readChain(chain, 0, limit - 1)) rows.push(...page);
  const r = await timed(async () => {
    for (const row of rows) if (!recordHash(row.prevHash, chain, row.seq, row.receivedAt, row.eventJson).equals(row.hash)) throw new Error('bench store is broken');
  });
  return { wall: (rows.length / r.ms) * 1000, cpuUs: r.cpuUs, n: rows.length };
}

/** SHA-256 of each record's exact bytes, one `crypto.hash` call per record (the floor of any JS verifier here). */
async function shaFloor(events: SqliteEventStore, chain: string, limit: number): Promise<{ n: number; cpuUs: number; bytes: number }> {
  const inputs: Buffer[] = [];
  for await (const page of events.readChain(chain, 0, limit - 1)) {
    for (const row of page) inputs.push(Buffer.concat([row.prevHash, Buffer.from(canonicalRecord(chain, row.seq, row.receivedAt, row.eventJson), 'utf8')]));
  }
  const hash = (crypto as unknown as { hash?: (a: string, d: Uint8Array, e: 'buffer') => Buffer }).hash ?? ((a: string, d: Uint8Array) => crypto.createHash(a).update(d).digest());
  const r = await timed(async () => {
    for (const input of inputs) hash('sha256', input, 'buffer');
  });
  return { n: inputs.length, cpuUs: r.cpuUs, bytes: inputs.reduce((n, b) => n + b.length, 0) };
}

/** The fast path's SQLite page query alone over the first `limit` records of a chain (nothing decoded). */
async function queryFloor(dir: string, chain: string, limit: number): Promise<{ n: number; cpuUs: number }> {
  const reader = SqliteChainReader.open(dir, embeddedFieldProtection(loadConfig({}, { dataDir: dir })));
  try {
    reader.readPageQueryOnly(chain, 0, Math.min(limit, 20_000) - 1); // warm the page cache
    const r = await timed(async () => reader.readPageQueryOnly(chain, 0, limit - 1));
    return { n: r.value, cpuUs: r.cpuUs };
  } finally {
    reader.close();
  }
}

/** A store kept by an earlier run (BENCH_VERIFY_STORE). */
async function openStore(dir: string) {
  const config = loadConfig({}, { dataDir: dir });
  const db = openDatabase(dir);
  const events = new SqliteEventStore(db, embeddedFieldProtection(config));
  const heads = await events.chainHeads();
  return { config, db, events, checkpoints: new SqliteCheckpointStore(db), keys: new FileKeyProvider(dir), heads, ms: 0 };
}

async function main(): Promise<void> {
  const cache = path.join(os.tmpdir(), `audit-bench-verify-${TOTAL}-${EVERY}`);
  const complete = path.join(cache, 'bench-store-complete');
  if (process.env.BENCH_VERIFY_REBUILD === '1' || (!process.env.BENCH_VERIFY_STORE && !fs.existsSync(complete))) fs.rmSync(cache, { recursive: true, force: true });
  const kept = process.env.BENCH_VERIFY_STORE ?? (fs.existsSync(complete) ? cache : undefined);
  const dir = kept ?? cache;
  console.log(`verify benchmark: ${machine()}; data dir ${dir}`);
  const s = kept ? await openStore(kept) : await buildStore(dir);
  if (!kept) fs.writeFileSync(complete, new Date().toISOString() + '\n');
  const total = [...s.heads.values()].reduce((n, h) => n + h.seq + 1, 0);
  const chains = [...s.heads.entries()].sort((a, b) => b[1].seq - a[1].seq);
  const cps = (await Promise.all(chains.map(([c]) => s.checkpoints.list(c)))).reduce((n, l) => n + l.length, 0);
  console.log(`store: ${fmt(total)} records in ${chains.length} chains (${chains.map(([c, h]) => `${c} ${fmt(h.seq + 1)}`).join(', ')}), ${fmt(cps)} signed checkpoints; ${fmt(fs.statSync(path.join(dir, 'audit.db')).size / 1048576, 0)} MiB database; ${kept ? 'reused' : `built in ${fmt(s.ms / 1000, 1)} s`}`);

  const biggest = chains[0][0];
  const load = () => `(load average now: ${os.loadavg().map((l) => fmt(l, 1)).join(', ')} on ${os.cpus().length} cores)`;
  const sha = await shaFloor(s.events, biggest, 200_000);
  console.log(`floor: SHA-256 of each record's bytes (${fmt(sha.bytes / sha.n, 0)} bytes on average), one hash call per record: ${cpuNote(sha.n, sha.cpuUs, 1)}`);
  const query = await queryFloor(dir, biggest, 200_000);
  console.log(`floor: the fast path's SQLite page query alone: ${cpuNote(query.n, query.cpuUs, 1)}`);
  const ceiling = await hashCeiling(s.events, biggest, 200_000);
  console.log(`chain-hash ceiling, 1 core, records in memory: ${fmt(ceiling.wall)} records/s; ${cpuNote(ceiling.n, ceiling.cpuUs, 1)}`);
  console.log(load());

  const probe = SqliteChainReader.open(dir, embeddedFieldProtection(loadConfig({}, { dataDir: dir })));
  console.log(`verification path: ${probe.path.describe}`);
  probe.close();
  const readers = embeddedChainReaders({ dataDir: dir });
  const run = async (workers: number, full: boolean) => {
    const r = await timed(() => new IntegrityService(s.events, { checkpoints: s.checkpoints, publicKeys: () => s.keys.publicKeys(), chains: readers, workers }).verify({ full }));
    if (!r.value.ok || r.value.verified !== total) throw new Error(`verification failed: ${JSON.stringify(r.value.break)}`);
    return { ms: r.ms, cpuUs: r.cpuUs, checkpoints: r.value.checkpointsVerified };
  };
  const cores = defaultWorkerCount();
  for (const full of FULL ? [false, true] : [false]) {
    const label = full ? 'verify --full' : 'verify';
    const one = await run(1, full);
    console.log(`${label}, 1 thread (in-process):${' '.repeat(full ? 3 : 10)}${rate(total, one.ms)}; ${fmt(one.checkpoints)} checkpoints matched; ${cpuNote(total, one.cpuUs, 1)}`);
    const all = await run(cores, full);
    console.log(`${label}, ${cores} worker threads:${' '.repeat(full ? 8 : 15)}${rate(total, all.ms)}; speed-up x${fmt(one.ms / all.ms, 2)}; ${cpuNote(total, all.cpuUs, cores)}`);
    console.log(load());
  }

  if (OFFLINE) {
    const out = path.join(benchDataDir('verify-export'), 'export');
    const started = performance.now();
    const manifest = await exportChain(s.events, s.checkpoints, { chain: biggest, outDir: out, publicKeys: s.keys.publicKeys() });
    const exportMs = performance.now() - started;
    const n = manifest.records.count;
    const size = fs.statSync(path.join(out, manifest.records.file)).size;
    console.log(`export of ${biggest}: ${rate(n, exportMs)}, ${fmt(size / 1048576, 0)} MiB of NDJSON`);
    for (const workers of [1, cores]) {
      const r = await timed(() => verifyExport(out, { workers }));
      if (!r.value.ok) throw new Error(`offline verification failed: ${JSON.stringify(r.value.break)}`);
      console.log(`verify --offline, ${workers} ${workers === 1 ? 'thread: ' : 'threads:'}       ${rate(n, r.ms)}; ${cpuNote(n, r.cpuUs, workers)}`);
    }
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  }
  await s.events.close();
  console.log(`store kept in ${dir} for the next run`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
