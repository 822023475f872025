/**
 * `npm run bench:warm-move`: the retention run that moves hot records past their hot window to the
 * warm tier, whole partitions (INSERT ... SELECT with the record compressed by an SQL function, then
 * DROP TABLE) against record by record (rows read into JavaScript, compressed, inserted, deleted
 * through the purge-aware delete trigger, 2,000 a transaction).
 *
 * Builds one store (TieredSqliteEventStore on openDatabase, the retention schema installed, as the
 * service runs it) of BENCH_WARM_EVENTS events (1,200,000) received over BENCH_WARM_WEEKS weeks (12,
 * one hot partition a week), 80 % data access, 15 % data modification, 5 % authentication, and a
 * BENCH_WARM_ACCESS_LOG share (0.02) of access-log records (the service's own reads log, no category:
 * only a whole-partition move takes them). Then, BENCH_WARM_ROUNDS times (2), alternately, a copy
 * of it gets a retention run at the end of the last week with a 28-day hot window (warm and retention
 * ten years: no cold, no delete), once with whole partitions and once record by record. Prints per
 * run: records moved, partitions dropped, wall seconds, CPU seconds (user + system of this process,
 * which does all the work), CPU µs per moved record, the longest write transaction of the move (how
 * long an append could wait behind it), the database size after a WAL checkpoint, and the load.
 * BENCH_WARM_CHUNK sets the rows a whole-partition move copies per transaction (50,000);
 * BENCH_WARM_MODES=whole (or records) runs one of the two only. BENCH_WARM_DIR keeps the template store there (reused when it exists).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ACCESS_LOG_CHAIN, AccessEvent } from '@app/core';
import { GENESIS_HASH, canonicalize, recordHash } from '@app/ledger';
import { ChainedRecord, TieredSqliteEventStore, openDatabase } from '@app/storage';
import { embeddedFieldProtection } from '@app/security';
import { SqliteLegalHoldStore, SqliteRetentionRunner, applyRetentionSchema, parseRetentionPolicy } from '@app/retention';
import { ChainHeads, benchDataDir, chainRecord, fmt, machine } from './bench-support';
import { prng } from '@app/simulation';

const TOTAL = Number(process.env.BENCH_WARM_EVENTS ?? 1_200_000);
const WEEKS = Number(process.env.BENCH_WARM_WEEKS ?? 12);
const LOG_SHARE = Number(process.env.BENCH_WARM_ACCESS_LOG ?? 0.02);
const ROUNDS = Number(process.env.BENCH_WARM_ROUNDS ?? 2);
const TX = 1000;
const CHUNK = process.env.BENCH_WARM_CHUNK ? Number(process.env.BENCH_WARM_CHUNK) : undefined;
const MODES = (process.env.BENCH_WARM_MODES ?? 'records,whole').split(',');
const DAY_MS = 86_400_000;
const START_MS = Date.parse('2026-01-05T00:00:00Z'); // a Monday: partitions are receive weeks
const END_MS = START_MS + WEEKS * 7 * DAY_MS;


function logRecord(heads: ChainHeads, event: AccessEvent, receivedAt: string): ChainedRecord {
  const json = canonicalize(event);
  const head = heads.get(ACCESS_LOG_CHAIN) ?? { seq: -1, hash: GENESIS_HASH };
  const seq = head.seq + 1;
  const hash = recordHash(head.hash, ACCESS_LOG_CHAIN, seq, receivedAt, json);
  heads.set(ACCESS_LOG_CHAIN, { seq, hash });
  return { chain: ACCESS_LOG_CHAIN, seq, receivedAt, event, eventJson: json, prevHash: head.hash, hash };
}

async function buildTemplate(dir: string): Promise<void> {
  const db = openDatabase(dir);
  applyRetentionSchema(db);
  const store = new TieredSqliteEventStore(db, embeddedFieldProtection({ dataDir: dir }));
  const heads: ChainHeads = new Map();
  const rand = prng(29);
  for (let n = 0; n < TOTAL; n += TX) {
    const records: ChainedRecord[] = [];
    for (let i = n; i < Math.min(TOTAL, n + TX); i++) {
      const receivedMs = START_MS + Math.floor((i / TOTAL) * WEEKS * 7 * DAY_MS);
      const receivedAt = new Date(receivedMs).toISOString();
      const a = Math.floor(rand() * 3000);
      const base = {
        id: randomUUID(),
        occurredAt: new Date(receivedMs - Math.floor(rand() * 2000)).toISOString(),
        actor: { id: `u-${String(a).padStart(5, '0')}`, type: 'user' as const, role: 'nurse', ip: `10.20.${(a >> 8) & 255}.${a & 255}` },
        source: { system: 'epic', integration: 'ehr-main' },
      };
      const patient = { id: `MRN-${String(Math.floor(rand() * 500_000) + 1).padStart(7, '0')}` };
      const resource = { type: 'Observation', id: `r-${Math.floor(rand() * 1e9).toString(36)}` };
      const roll = rand();
      if (roll < LOG_SHARE) {
        records.push(logRecord(heads, { ...base, category: 'data_access', action: 'read', outcome: 'success', details: { route: 'GET /v1/events' } }, receivedAt));
        continue;
      }
      const r = rand();
      const event: AccessEvent =
        r < 0.8
          ? { ...base, category: 'data_access', action: 'read', outcome: 'success', patient, resource, purpose: 'TREAT' }
          : r < 0.95
            ? { ...base, category: 'data_modification', action: 'update', outcome: 'success', patient, resource, purpose: 'TREAT' }
            : { ...base, category: 'authentication', action: 'login', outcome: 'success', details: { department: 'ward-3' } };
      records.push(chainRecord(heads, event, receivedAt));
    }
    await store.append(records);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    const src = path.join(from, f);
    if (fs.statSync(src).isDirectory()) copyDir(src, path.join(to, f));
    else fs.copyFileSync(src, path.join(to, f));
  }
}

async function runOnce(template: string, wholePartitions: boolean): Promise<string> {
  const dir = benchDataDir('warm-move-run');
  copyDir(template, dir);
  const db = openDatabase(dir);
  const protection = embeddedFieldProtection({ dataDir: dir });
  const policy = parseRetentionPolicy({ version: 1, tiers: { hot: 'P28D', warm: 'P3650D', delete: 'P3650D' } });
  const runner = new SqliteRetentionRunner(db, policy, new SqliteLegalHoldStore(db), { dataDir: dir, protection, publicKeys: () => [] });
  const live = () => db.prepare("SELECT COUNT(*) FROM event_partitions WHERE state <> 'dropped'").pluck().get() as number;
  const before = live();
  const load = os.loadavg()[0];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let longest = 0;
  const report = await runner.run({ now: END_MS, dryRun: false, trigger: 'bench', wholePartitions, wholePartitionChunkRows: CHUNK, onStep: (_step, _what, ms) => (longest = Math.max(longest, ms ?? 0)) });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  db.pragma('wal_checkpoint(TRUNCATE)');
  const bytes = fs.statSync(path.join(dir, 'audit.db')).size;
  const dropped = before - live();
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const mode = wholePartitions ? 'whole partitions' : 'record by record';
  return `| ${mode} | ${fmt(report.warmed)} | ${dropped} | ${fmt(seconds, 1)} | ${fmt(cpuSeconds, 1)} | ${fmt((cpuSeconds * 1e6) / Math.max(1, report.warmed), 1)} | ${fmt(longest)} | ${fmt(bytes / 2 ** 20)} | ${load.toFixed(2)} → ${os.loadavg()[0].toFixed(2)} |`;
}

async function main(): Promise<void> {
  const template = process.env.BENCH_WARM_DIR ?? benchDataDir('warm-move');
  console.log(`# bench:warm-move: ${fmt(TOTAL)} events over ${WEEKS} weeks (one partition a week), access-log share ${LOG_SHARE}; hot window 28 days; ${machine()}`);
  if (!fs.existsSync(path.join(template, 'audit.db'))) {
    const t0 = performance.now();
    await buildTemplate(template);
    console.log(`built the store in ${fmt((performance.now() - t0) / 1000, 1)} s (${fmt(fs.statSync(path.join(template, 'audit.db')).size / 2 ** 20)} MiB)`);
  }
  console.log('');
  console.log('| warm move | records moved | partitions dropped | wall s | CPU s | CPU µs/record | longest write transaction ms | database MiB after | load (1 min) before → after |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which goes first, so a load change hits both alike.
    const order = r % 2 === 0 ? [false, true] : [true, false];
    for (const whole of order) if (MODES.includes(whole ? 'whole' : 'records')) console.log(await runOnce(template, whole));
  }
  if (!process.env.BENCH_WARM_DIR) fs.rmSync(template, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
