/**
 * `npm run bench:partition-reads` (after `npm run build`): reads with a time range over a hot store
 * of many partitions (issue 19 item 2, docs/hot-store-partitioning.md). Builds (once, cached under
 * .bench-data/) a synthetic store of BENCH_EVENTS events (default 500,000) spread over a year of
 * receive time, one partition a week (53), then times the reads the service makes through the
 * store's port, each BENCH_RUNS times (default 300): a patient's last 13 weeks (the patient-access
 * report's query), a day of events (GET /v1/events from/to) and its second page, an actor's four
 * weeks streamed (user-activity report), a patient's whole history (no range: every partition, as
 * a control), the access-log page, the detection tail, and the chain reads (lastPosition, countChain
 * of the largest chain, readChain of 20,000 records in pages of 5,000 and of one record). Prints CPU
 * µs and wall µs (median) per read, with the load average.
 *
 * The same file runs against an earlier build for a before/after pair (it uses only the EventStore
 * port): build the other commit, copy this compiled file next to its dist/bench, run both on the
 * same BENCH_DATA_DIR in turn.
 *
 * Options (env): BENCH_EVENTS (500000), BENCH_RUNS (300), BENCH_DATA_DIR
 * (.bench-data/partition-reads-<N>), BENCH_REBUILD=1.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { embeddedFieldProtection } from '@app/security';
import { EventStore, SqliteEventStore, openDatabase } from '@app/storage';
import { REPO_ROOT, fmt, machine, percentile } from './bench-support';
import { buildSyntheticStore } from './report-store';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 300);
const DIR = path.resolve(process.env.BENCH_DATA_DIR ?? path.join(REPO_ROOT, '.bench-data', `partition-reads-${EVENTS}`));
const TARGET = 'MRN-BENCH-TARGET';
const START = Date.parse('2025-01-01T00:00:00Z');
const DAY = 86_400_000;

const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function ensureStore(): Promise<void> {
  const marker = path.join(DIR, 'bench-store.json');
  if (fs.existsSync(marker) && process.env.BENCH_REBUILD !== '1') return;
  fs.rmSync(DIR, { recursive: true, force: true });
  process.stdout.write(`building a store of ${fmt(EVENTS)} events over 365 days in ${DIR} ... `);
  // Groups of 1,000: a group goes to one partition whole, so each week gets its own partition.
  await buildSyntheticStore(DIR, { events: EVENTS, targetAccesses: 1000, targetPatient: TARGET, startMs: START, spanDays: 365, batch: 1000, seal: false });
  fs.writeFileSync(marker, JSON.stringify({ events: EVENTS }));
  console.log('done');
}

async function main(): Promise<void> {
  await ensureStore();
  const db = openDatabase(DIR);
  const partitions = (db.prepare("SELECT COUNT(*) FROM event_partitions WHERE state <> 'dropped'").pluck().get() as number) ?? 0;
  const store: EventStore = new SqliteEventStore(db, embeddedFieldProtection({ dataDir: DIR }));
  const end = START + 365 * DAY;
  const last = await store.lastPosition();
  const day = { fromMs: end - 40 * DAY, toMs: end - 39 * DAY };
  const firstDayPage = await store.query({ limit: 50, excludeChain: 'access_log', ...day });
  const chainLength = await store.countChain('data_access');
  const reads: [string, () => Promise<number>, number?][] = [
    ['patient, last 13 weeks (limit 1,000)', async () => (await store.query({ limit: 1000, patient: TARGET, fromMs: end - 91 * DAY, toMs: end })).records.length],
    ['events of one day, page 1 (limit 50)', async () => (await store.query({ limit: 50, excludeChain: 'access_log', ...day })).records.length],
    ['events of one day, page 2', async () => (await store.query({ limit: 50, excludeChain: 'access_log', ...day, after: firstDayPage.next ?? undefined })).records.length],
    [
      'actor u-42, 4 weeks, streamed (report)',
      async () => {
        let n = 0;
        for await (const page of store.stream({ actor: 'u-42', fromMs: end - 28 * DAY, toMs: end })) n += page.length;
        return n;
      },
    ],
    ['patient, whole history (no range: every partition)', async () => (await store.query({ limit: 1000, patient: TARGET })).records.length],
    ['access log page (limit 50)', async () => (await store.query({ limit: 50, chain: 'access_log' })).records.length],
    ['detection tail (readSince, 100)', async () => (await store.readSince(last - 100, 100)).length],
    ['lastPosition', async () => (await store.lastPosition()) * 0 + 1],
    ['countChain data_access (10 runs)', async () => store.countChain('data_access'), 10],
    [
      'readChain data_access, 20,000 records in the middle, pages of 5,000 (10 runs)',
      async () => {
        let n = 0;
        const mid = Math.floor(chainLength / 2);
        for await (const page of store.readChain('data_access', mid, mid + 19_999, 5000)) n += page.length;
        return n;
      },
      10,
    ],
    [
      'readChain data_access, one record (compliance, exports)',
      async () => {
        let n = 0;
        for await (const page of store.readChain('data_access', 1234, 1234, 1)) n += page.length;
        return n;
      },
    ],
  ];
  const rows: string[] = [];
  for (const [name, read, runs = RUNS] of reads) {
    const count = await read(); // warm: statements, page cache
    const walls: number[] = [];
    const c0 = cpuUs();
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await read();
      walls.push((performance.now() - t) * 1000);
    }
    const cpu = (cpuUs() - c0) / runs;
    walls.sort((a, b) => a - b);
    rows.push(`| ${name} | ${fmt(count)} | ${fmt(cpu)} | ${fmt(percentile(walls, 50))} |`);
  }
  await store.close();
  console.log(`${machine()}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`store: ${fmt(EVENTS)} events, ${partitions} live partitions; ${RUNS} runs a read`);
  console.log('| read | records | CPU µs / read | wall µs / read (median) |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(r);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
