/**
 * `npm run bench:growth`: does appending to the embedded store slow down as the store fills?
 *
 * Appends to the store the service runs (TieredSqliteEventStore on openDatabase, with its indexes,
 * immutability triggers, derived columns, sealed fields and the retention schema the service
 * installs) in transactions of BENCH_GROWTH_TX rows (1,000), events with random v4 ids from
 * BENCH_GROWTH_ACTORS actors (3,000) and BENCH_GROWTH_PATIENTS patients (500,000), received over
 * BENCH_GROWTH_DAYS days (180) so that a month is a real fraction of the store. Prints the append
 * rate (events per second of append time; building and hashing the records is not counted) and
 * the append CPU per event for every BENCH_GROWTH_STEP events (1,000,000) up to BENCH_GROWTH_EVENTS
 * (20,000,000), with the share of it the idempotency check across closed partitions takes (measured
 * apart after each step, not timed with the appends: 20,000 new ids looked up as the append
 * transaction looks them up, id filters then index probes; its CPU per id and index probes per id), the ratio rate(last step) / rate(first step), disk bytes per event (database + WAL),
 * then the time of a retention run that deletes the oldest month (a policy keeping 150 days; a
 * checkpoint row per chain at the end of every day so purges have a checkpoint to end at: the rows are not
 * signed, the runner does not check signatures). BENCH_GROWTH_DIR keeps the database there.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent } from '@app/core';
import { DEFAULT_HOT_PARTITION_MAX_ROWS, TieredSqliteEventStore, isPartitioned, openDatabase } from '@app/storage';
import { embeddedFieldProtection } from '@app/security';
import { SqliteLegalHoldStore, SqliteRetentionRunner, applyRetentionSchema, parseRetentionPolicy } from '@app/retention';
import { PartitionIdIndex } from '../libs/storage/src/sqlite/event-partitions';
import { ChainHeads, benchDataDir, chainRecord, fmt, machine } from './bench-support';
import { prng } from '@app/simulation';

const TOTAL = Number(process.env.BENCH_GROWTH_EVENTS ?? 20_000_000);
const STEP = Number(process.env.BENCH_GROWTH_STEP ?? 1_000_000);
const TX = Number(process.env.BENCH_GROWTH_TX ?? 1000);
const ACTORS = Number(process.env.BENCH_GROWTH_ACTORS ?? 3000);
const PATIENTS = Number(process.env.BENCH_GROWTH_PATIENTS ?? 500_000);
const DAYS = Number(process.env.BENCH_GROWTH_DAYS ?? 180);
const RETAIN_DAYS = DAYS - 30;
const DAY_MS = 86_400_000;
const START_MS = Date.parse('2026-01-01T00:00:00Z');


const ROLES = ['physician', 'nurse', 'pharmacist', 'registrar', 'lab_technician'];
const INTEGRATIONS = [
  { system: 'epic', integration: 'ehr-main' },
  { system: 'cerner', integration: 'ehr-east' },
  { system: 'pyxis', integration: 'pharmacy' },
  { system: 'sunquest', integration: 'lab' },
];

/** The n-th event of the run: its receive time spreads the run evenly over DAYS days. */
function makeEvent(rand: () => number, n: number): { event: AccessEvent; receivedAt: string } {
  const receivedMs = START_MS + Math.floor((n / TOTAL) * DAYS * DAY_MS);
  const a = Math.floor(rand() * ACTORS);
  const integration = INTEGRATIONS[a % INTEGRATIONS.length];
  const base = {
    id: randomUUID(),
    occurredAt: new Date(receivedMs - Math.floor(rand() * 2000)).toISOString(),
    actor: { id: `u-${String(a).padStart(5, '0')}`, type: 'user' as const, role: ROLES[a % ROLES.length], ip: `10.${20 + (a >> 16)}.${(a >> 8) & 255}.${a & 255}` },
    source: integration,
  };
  const patient = { id: `MRN-${String(Math.floor(rand() * PATIENTS) + 1).padStart(7, '0')}` };
  const resource = { type: 'Observation', id: `r-${Math.floor(rand() * 1e9).toString(36)}` };
  const roll = rand();
  const event: AccessEvent =
    roll < 0.8
      ? { ...base, category: 'data_access', action: 'read', outcome: 'success', patient, resource, purpose: 'TREAT' }
      : roll < 0.95
        ? { ...base, category: 'data_modification', action: 'update', outcome: 'success', patient, resource, purpose: 'TREAT' }
        : { ...base, category: 'authentication', action: 'login', outcome: 'success', details: { department: 'ward-3' } };
  return { event, receivedAt: new Date(receivedMs).toISOString() };
}

/**
 * The idempotency check of the append transaction on its own: new random ids looked up in every
 * partition but the open one (filters, then the index of each partition whose filter says maybe).
 */
function idLookup(index: PartitionIdIndex, open: number): { cpuPerId: number; probesPerId: number; closed: number } {
  const groups = Array.from({ length: 20 }, () => Array.from({ length: 1000 }, () => randomUUID()));
  index.anyStored(groups[0], open); // loads the filters, as the writer has them loaded
  const cpu0 = process.cpuUsage();
  for (const ids of groups) if (index.anyStored(ids, open)) throw new Error('a new random id was found stored');
  const cpu = process.cpuUsage(cpu0);
  let probes = 0;
  for (const ids of groups) for (const list of index.candidates(ids, open).values()) probes += list.length;
  const count = groups.length * 1000;
  return { cpuPerId: (cpu.user + cpu.system) / count, probesPerId: probes / count, closed: index.partitions().filter((p) => p.state === 'closed').length };
}

function diskBytes(dir: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += fs.statSync(path.join(dir, 'audit.db' + suffix)).size;
    } catch {
      /* absent */
    }
  }
  return total;
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_GROWTH_DIR ?? benchDataDir('growth');
  fs.mkdirSync(dir, { recursive: true });
  const db = openDatabase(dir);
  // What the service installs at start (the retention runner's tables and purge-aware delete trigger).
  applyRetentionSchema(db);
  const protection = embeddedFieldProtection({ dataDir: dir });
  // The service's default row cap of a hot partition (HOT_PARTITION_MAX_ROWS changes it here too).
  const maxPartitionRows = Number(process.env.HOT_PARTITION_MAX_ROWS ?? DEFAULT_HOT_PARTITION_MAX_ROWS);
  const store = new TieredSqliteEventStore(db, protection, { maxPartitionRows });
  const heads: ChainHeads = new Map();
  const checkpointIdx = new Map<string, number>();
  const insertCheckpoint = db.prepare(
    `INSERT INTO checkpoints (chain, idx, tree_size, root_hash, last_hash, issued_at, previous, key_id, signature, checkpoint_hash, frontier)
     VALUES (?, ?, ?, 'bench', ?, ?, ?, 'bench', 'unsigned', ?, '[]')`,
  );
  const rand = prng(19);
  console.log(`# bench:growth: ${fmt(TOTAL)} events, ${fmt(TX)} rows a transaction, ${fmt(ACTORS)} actors, ${fmt(PATIENTS)} patients, over ${DAYS} days; ${machine()}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| events stored | append rate (events/s) | append CPU µs/event | of which id lookup across closed partitions: µs/event (index probes/event, closed partitions) | disk bytes/event | load (1 min) |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  const lookups = isPartitioned(db) ? new PartitionIdIndex(db) : null;
  const openPartition = () => (db.prepare("SELECT n FROM event_partitions WHERE state = 'open'").pluck().get() as number | undefined) ?? -1;
  const rates: number[] = [];
  const cpuPerEvent: number[] = [];
  let stepSeconds = 0;
  let stepCpu = 0;
  let stepCount = 0;
  let checkpointDay = 0;
  for (let n = 0; n < TOTAL; n += TX) {
    const size = Math.min(TX, TOTAL - n);
    const records = new Array(size);
    for (let i = 0; i < size; i++) {
      const { event, receivedAt } = makeEvent(rand, n + i);
      records[i] = chainRecord(heads, event, receivedAt);
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await store.append(records);
    stepSeconds += (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    stepCpu += cpu.user + cpu.system;
    stepCount += size;
    const stored = n + size;
    if (stored % STEP === 0 || stored === TOTAL) {
      const rate = stepCount / stepSeconds;
      rates.push(rate);
      cpuPerEvent.push(stepCpu / stepCount);
      const lookup = lookups ? idLookup(lookups, openPartition()) : null;
      const lookupCell = lookup ? `${fmt(lookup.cpuPerId, 1)} (${fmt(lookup.probesPerId, 4)}, ${lookup.closed})` : 'n/a';
      console.log(`| ${fmt(stored)} | ${fmt(rate)} | ${fmt(stepCpu / stepCount, 1)} | ${lookupCell} | ${fmt(diskBytes(dir) / stored, 0)} | ${os.loadavg()[0].toFixed(2)} |`);
      stepSeconds = stepCpu = stepCount = 0;
    }
    // A checkpoint per chain at the end of every day of receive time: retention purges end at one.
    const day = Math.floor(((stored / TOTAL) * DAYS * DAY_MS) / DAY_MS);
    if (day !== checkpointDay || stored === TOTAL) {
      checkpointDay = day;
      const issuedAt = new Date().toISOString();
      for (const [chain, head] of heads) {
        const idx = (checkpointIdx.get(chain) ?? -1) + 1;
        checkpointIdx.set(chain, idx);
        insertCheckpoint.run(chain, idx, head.seq + 1, head.hash.toString('hex'), issuedAt, idx === 0 ? null : `bench-${chain}-${idx - 1}`, `bench-${chain}-${idx}`);
      }
    }
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  const bytes = diskBytes(dir);
  console.log('');
  console.log(`rate(last step) / rate(first step): ${fmt(rates[rates.length - 1] / rates[0], 2)}`);
  console.log(`append CPU per event, last step / first step: ${fmt(cpuPerEvent[cpuPerEvent.length - 1] / cpuPerEvent[0], 2)}`);
  const partitions = () =>
    isPartitioned(db) ? (db.prepare("SELECT COUNT(*) AS n FROM event_partitions WHERE state <> 'dropped'").get() as { n: number }).n : 1;
  console.log(`hot partitions: ${fmt(partitions())} (a week of receive time or ${fmt(maxPartitionRows)} rows each)`);
  console.log(`disk: ${fmt(bytes / 2 ** 20)} MiB after a WAL checkpoint, ${fmt(bytes / TOTAL, 0)} bytes per event`);

  // Retention: the oldest 30 of DAYS days are past a RETAIN_DAYS window at the end of the run.
  const policy = parseRetentionPolicy({ version: 1, tiers: { hot: `P${RETAIN_DAYS}D`, warm: `P${RETAIN_DAYS}D`, delete: `P${RETAIN_DAYS}D` } });
  const runner = new SqliteRetentionRunner(db, policy, new SqliteLegalHoldStore(db));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const report = await runner.run({ now: START_MS + DAYS * DAY_MS, dryRun: false, trigger: 'bench' });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `retention run dropping the oldest month: ${fmt(report.deleted)} records deleted (${fmt((100 * report.deleted) / TOTAL, 1)} % of the store) in ${fmt(seconds, 1)} s (${fmt((cpu.user + cpu.system) / 1e6, 1)} s CPU); ${fmt(partitions())} hot partitions left; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  await store.close();
  if (!process.env.BENCH_GROWTH_DIR) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
