/**
 * `npm run bench:append` (after `npm run build`): the writer thread's share of the CPU per event, on
 * its own. Runs the embedded store's append transaction (prepareAppend, as the writer thread runs it:
 * sealing, patient token and derived columns, the partition's inserts, BEGIN IMMEDIATE / fsync'd
 * COMMIT, the WAL checkpoints the connection runs) in this process, with no HTTP, no event loop work
 * and no other thread, on BENCH_APPEND_EVENTS (default 150,000) synthetic events in groups of
 * BENCH_APPEND_GROUP (default 800: the mean group commit of `BENCH_BATCH=100 npm run bench`).
 * Records are chained (canonical JSON, hashes) before the clock starts.
 *
 * Prints CPU µs per event (user + system of this process, which has one thread doing the work):
 *   - the whole append, split into the transaction body (sealing, tokens, inserts) and the rest
 *     (BEGIN, COMMIT: WAL frames written and fsync'd, the automatic checkpoints, and what the append
 *     does after its commit: the open partition's id filter, a closed partition's filter);
 *   - sealing alone and derived columns with the patient token alone (same groups, outside SQLite);
 *   - the same append on a second store with automatic checkpoints off, and the WAL pages each
 *     commit wrote there (frames of the WAL file / commits): what a commit writes, and by difference
 *     what checkpointing costs.
 * BENCH_APPEND_PREFILL (default 0) rows are appended first (not measured) to see the cost in a fuller
 * open partition. On a shared machine give `uptime` with the figures and alternate builds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SealedFieldCodec, deriveColumns, openDatabase } from '@app/storage';
import { embeddedFieldProtection } from '@app/security';
import { generateTraffic } from '@app/simulation';
import { AppendRow, prepareAppend } from '../libs/storage/src/sqlite/sqlite-append';
import { ChainHeads, benchDataDir, chainRecord, fmt, machine } from './bench-support';

const EVENTS = Number(process.env.BENCH_APPEND_EVENTS ?? 150_000);
const GROUP = Number(process.env.BENCH_APPEND_GROUP ?? 800);
const PREFILL = Number(process.env.BENCH_APPEND_PREFILL ?? 0);

/** Chained groups of rows as the chain writer hands them over (hashes made here, not measured). */
function chainedGroups(count: number, seed: number, heads: ChainHeads): AppendRow[][] {
  const events = generateTraffic({ events: count, seed }).events;
  const groups: AppendRow[][] = [];
  for (let i = 0; i < events.length; i += GROUP) {
    const receivedAt = new Date().toISOString();
    groups.push(events.slice(i, i + GROUP).map((event) => chainRecord(heads, event, receivedAt)));
  }
  return groups;
}

const cpuUs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

interface AppendRun {
  total: number;
  body: number;
  walPagesPerCommit: number | null;
  rowsPerSecond: number;
}

function runAppend(checkpoints: boolean): AppendRun {
  const dir = benchDataDir('append');
  const db = openDatabase(dir);
  if (!checkpoints) db.pragma('wal_autocheckpoint = 0');
  const protection = embeddedFieldProtection({ dataDir: dir });
  // The transaction body's CPU: prepareAppend makes its transaction with db.transaction, wrapped here.
  let bodyUs = 0;
  const transaction = db.transaction.bind(db);
  (db as { transaction: unknown }).transaction = (fn: (...args: unknown[]) => unknown) =>
    transaction(function (this: unknown, ...args: unknown[]) {
      const started = process.cpuUsage();
      try {
        return fn.apply(this, args);
      } finally {
        bodyUs += cpuUs(started);
      }
    });
  const append = prepareAppend(db, protection);
  const heads: ChainHeads = new Map();
  if (PREFILL > 0) for (const g of chainedGroups(PREFILL, 3, heads)) append(g);
  const groups = chainedGroups(EVENTS, 8, heads);
  if (!checkpoints) db.pragma('wal_checkpoint(TRUNCATE)');
  bodyUs = 0;
  const started = process.cpuUsage();
  const t0 = performance.now();
  for (const g of groups) append(g);
  const total = cpuUs(started);
  const seconds = (performance.now() - t0) / 1000;
  const wal = `${db.name}-wal`;
  const walPages = !checkpoints && fs.existsSync(wal) ? Math.max(0, fs.statSync(wal).size - 32) / (4096 + 24) : null;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { total: total / EVENTS, body: bodyUs / EVENTS, walPagesPerCommit: walPages === null ? null : walPages / groups.length, rowsPerSecond: EVENTS / seconds };
}

/** Sealing alone, and derived columns with the patient token alone, on the same kind of groups. */
function runParts(): { seal: number; derive: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-bench-append-keys-'));
  const protection = embeddedFieldProtection({ dataDir: dir });
  const codec = new SealedFieldCodec(protection.dataKeys);
  const groups = chainedGroups(EVENTS, 8, new Map());
  let started = process.cpuUsage();
  for (const g of groups) codec.sealAll(g.map((r) => ({ event: r.event!, json: r.eventJson })));
  const seal = cpuUs(started) / EVENTS;
  started = process.cpuUsage();
  for (const g of groups) for (const r of g) deriveColumns(r.event!, (id) => protection.patientToken(id));
  const derive = cpuUs(started) / EVENTS;
  fs.rmSync(dir, { recursive: true, force: true });
  return { seal, derive };
}

function main(): void {
  console.log(`Append transaction benchmark on ${machine()}`);
  console.log(`${fmt(EVENTS)} events in groups of ${fmt(GROUP)}${PREFILL > 0 ? `, after ${fmt(PREFILL)} rows appended first` : ''}\n`);
  const withCheckpoints = runAppend(true);
  const noCheckpoints = runAppend(false);
  // After the appends, so that the sealing and token code is as warm as inside them.
  const parts = runParts();
  const rows: [string, string][] = [
    ['append, as the writer thread runs it (CPU µs per event)', `${fmt(withCheckpoints.total, 1)} µs (${fmt(withCheckpoints.rowsPerSecond)} rows/s)`],
    ['· transaction body: sealing, tokens, derived columns, inserts', `${fmt(withCheckpoints.body, 1)} µs`],
    ['· the rest: BEGIN / COMMIT (WAL frames, fsync), automatic checkpoints, id-filter upkeep after the commit', `${fmt(withCheckpoints.total - withCheckpoints.body, 1)} µs`],
    ['sealing alone (same groups, outside SQLite)', `${fmt(parts.seal, 1)} µs`],
    ['derived columns with the patient token alone', `${fmt(parts.derive, 1)} µs`],
    ['append with automatic checkpoints off', `${fmt(noCheckpoints.total, 1)} µs (body ${fmt(noCheckpoints.body, 1)}, the rest ${fmt(noCheckpoints.total - noCheckpoints.body, 1)})`],
    ['WAL pages written per commit (checkpoints off)', noCheckpoints.walPagesPerCommit === null ? 'n/a' : `${fmt(noCheckpoints.walPagesPerCommit)} (${fmt(noCheckpoints.walPagesPerCommit / GROUP, 2)} a row)`],
    ['load average at the end (1 min)', `${fmt(os.loadavg()[0], 1)} on ${os.cpus().length} cores`],
  ];
  console.log('| measurement | result |\n|---|---|');
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
}

main();
